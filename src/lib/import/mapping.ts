import {UsageError} from '../errors.js'

/** The fields an import reads from a file, and whether a file must have a column for each. */
export const IMPORT_FIELDS = {
  order: {required: true, description: 'order (invoice) number; one purchase event per order'},
  product: {required: true, description: 'product id (SKU, stock code) of the line'},
  quantity: {required: true, description: 'units on the line; negative on a cancellation'},
  price: {required: true, description: 'unit price, in the currency'},
  time: {required: true, description: 'when the order was placed'},
  customer: {required: false, description: 'customer id; empty means an anonymous order'},
  country: {required: false, description: 'customer country, by name or ISO 3166-1 alpha-2 code'},
  currency: {required: false, description: 'ISO 4217 code per row, instead of --currency'},
} as const

export type ImportField = keyof typeof IMPORT_FIELDS
export const IMPORT_FIELD_NAMES = Object.keys(IMPORT_FIELDS) as ImportField[]

/** Which column of the file feeds each field. */
export type ColumnMap = Partial<Record<ImportField, string>>

/**
 * Parses `--map field=Column,field=Column`. Column names are taken as written (after trimming); whether they exist is
 * checked against the file later, where the available columns are known.
 */
export function parseColumnMap(text: string): ColumnMap {
  const map: ColumnMap = {}
  for (const part of text.split(',')) {
    if (part.trim() === '') continue
    const eq = part.indexOf('=')
    const field = (eq < 0 ? part : part.slice(0, eq)).trim()
    const column = eq < 0 ? '' : part.slice(eq + 1).trim()
    if (!(field in IMPORT_FIELDS)) {
      throw new UsageError('IMPORT_MAP_FIELD', `--map names an unknown field "${field}".`, {
        hints: [`Fields: ${IMPORT_FIELD_NAMES.join(', ')}`, '--map order=InvoiceNo,customer=CustomerID'],
      })
    }
    if (column === '') {
      throw new UsageError('IMPORT_MAP_SYNTAX', `--map entry "${part.trim()}" has no column name.`, {
        hints: [`--map ${field}=ColumnName`],
      })
    }
    map[field as ImportField] = column
  }
  return map
}

/** Parses `--country-code "Channel Islands=JE,Unspecified=ZZ"` into name → code. */
export function parseCountryCodes(text: string): Record<string, string> {
  const codes: Record<string, string> = {}
  for (const part of text.split(',')) {
    if (part.trim() === '') continue
    const eq = part.lastIndexOf('=')
    const name = part.slice(0, Math.max(eq, 0)).trim()
    const code = part.slice(eq + 1).trim()
    if (eq < 0 || name === '' || !/^[A-Z]{2}$/.test(code)) {
      throw new UsageError('IMPORT_COUNTRY_CODE', `--country-code entry "${part.trim()}" is not NAME=CODE.`, {
        hints: ['--country-code "Channel Islands=JE"', 'Codes are ISO 3166-1 alpha-2, upper case.'],
      })
    }
    codes[name] = code
  }
  return codes
}

/**
 * Checks that every required field is mapped and every mapped column exists in the file. Column names are matched
 * exactly; the error names the column and lists the ones the file has.
 */
export function checkColumnMap(map: ColumnMap, available: readonly string[]): void {
  const missing = IMPORT_FIELD_NAMES.filter((f) => IMPORT_FIELDS[f].required && map[f] === undefined)
  if (missing.length > 0) {
    throw new UsageError('IMPORT_MAP_MISSING', `No column is mapped to ${missing.join(', ')}.`, {
      hints: [
        `--map ${missing.map((f) => `${f}=Column`).join(',')}`,
        '--preset online-retail',
        `Columns in the file: ${available.join(', ')}`,
      ],
    })
  }
  for (const field of IMPORT_FIELD_NAMES) {
    const column = map[field]
    if (column === undefined || available.includes(column)) continue
    const sameIgnoringCase = available.find((c) => c.toLowerCase() === column.toLowerCase())
    throw new UsageError(
      'IMPORT_COLUMN_UNKNOWN',
      `Column "${column}" (mapped to ${field}) is not in the file. Available columns: ${available.join(', ')}.`,
      {
        hints: sameIgnoringCase
          ? [`--map ${field}=${sameIgnoringCase}`]
          : [`--map ${field}=${available[0] ?? 'Column'}`],
      },
    )
  }
}
