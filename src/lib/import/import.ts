import {createHash} from 'node:crypto'
import {createReadStream, existsSync} from 'node:fs'
import {extname, resolve} from 'node:path'
import type {DuckDBValue} from '@duckdb/node-api'
import type {Engine} from '../engine/engine.js'
import {sqlIdentifier, sqlString} from '../engine/sql.js'
import {DataError, UsageError} from '../errors.js'
import {EVENT_COLUMNS} from '../events/columns.js'
import {FIELDS, MAX_EVENT_TIME, MAX_MONEY, MIN_EVENT_TIME} from '../events/contract.js'
import {EVENTS_TABLE, tablePath} from '../lake/lake.js'
import {lakeLocation} from '../lake/location.js'
import {countryRows, KNOWN_UNKNOWN_COUNTRIES, UNKNOWN_COUNTRY} from './countries.js'
import {compareWithLake, landImport} from './import-commit.js'
import {type ColumnMap, checkColumnMap, parseColumnMap, parseCountryCodes} from './mapping.js'
import {PRESETS, type PresetName} from './presets.js'

export type ImportFormat = 'csv' | 'parquet'
export type Device = (typeof FIELDS.device.spec.values)[number]
export type PaymentMethod = (typeof FIELDS.payment_method.spec.values)[number]

/** What the source file cannot tell, and the value every imported event gets instead. */
export const IMPORT_DEFAULTS = {
  device: 'desktop' as Device,
  paymentMethod: 'card' as PaymentMethod,
  timezone: 'UTC',
  /** A cancellation says nothing of why; this is the one reason that blames neither the goods, the shop nor the bank. */
  refundReason: 'changed_mind',
}

export interface ImportOptions {
  file: string
  lake: string
  format: ImportFormat
  map: ColumnMap
  /** ISO 4217 code of every amount, unless the map has a currency column. */
  currency?: string
  /**
   * Order numbers starting with this are cancellations (refunds). Without it, lines with a negative quantity are
   * the refund of their own order.
   */
  cancelPrefix?: string
  /** strptime formats tried when a time text is not ISO 8601. */
  dateFormats: string[]
  /** IANA zone of times written without an offset. */
  timezone: string
  device: Device
  paymentMethod: PaymentMethod
  /** Country name → ISO code, over the built-in table. */
  countryCodes: Record<string, string>
  /** Read, check and summarise, but write nothing. */
  dryRun?: boolean
  onProgress?: (text: string) => void
  signal?: AbortSignal
}

export interface ImportResult {
  file: string
  format: ImportFormat
  /** SHA-256 of the file's bytes: the identity that makes a re-import a no-op. */
  sha256: string
  lake: string
  /**
   * imported: written as one commit · already-imported: this file's txn is in the lake, nothing written · dry-run ·
   * empty: no valid event the lake does not hold already, nothing written.
   */
  status: 'imported' | 'already-imported' | 'dry-run' | 'empty'
  /** The Delta txn appId recorded with the commit. */
  appId: string
  /** Table version of the commit; for already-imported, the version that holds the file; otherwise null. */
  version: number | null
  rowsRead: number
  /** Extra copies of rows that appear more than once with every column equal; one copy of each is kept. */
  duplicateRowsDropped: number
  rowsRejected: Record<string, number>
  rowsRejectedTotal: number
  /** Rows that became part of an event (rowsRead = duplicateRowsDropped + rowsRejectedTotal + rowsImported). */
  rowsImported: number
  /** Distinct non-empty order numbers in the file (orders, cancellations and orders whose every row was rejected). */
  invoices: number
  /** Distinct customer ids in the file, on any row. */
  customersInFile: number
  orders: number
  anonymousOrders: number
  refunds: number
  /** Refunds whose order_id is an imported purchase (see docs/import.md for how cancellations are matched). */
  refundsLinked: number
  anonymousRefunds: number
  /** Distinct customers over the imported purchases and refunds. */
  customers: number
  customersWithOrders: number
  firstEventTime: string | null
  lastEventTime: string | null
  currencies: string[]
  /** Sum of the imported purchase totals. */
  revenue: number
  /** Sum of the imported refund amounts. */
  refunded: number
  /** Imported rows whose country has no ISO code of its own, by the name in the file; they carry ZZ. */
  countriesWithoutCode: Record<string, number>
  /** Product ids with characters the contract does not allow, written with those characters as "_". */
  productIdsRewritten: number
  /**
   * Events of this file whose event_id was already in the lake (from another file, perhaps imported at the same time)
   * when it committed; they are not written again.
   */
  eventsAlreadyInLake: number
  eventsWritten: number
  warnings: string[]
}

/** The settings a command collects, before a preset and the file are applied. */
export interface ImportRequest {
  file: string
  lake: string
  format?: ImportFormat
  preset?: PresetName
  map?: string
  currency?: string
  cancelPrefix?: string
  dateFormat?: string
  timezone?: string
  device?: Device
  paymentMethod?: PaymentMethod
  countryCodes?: string
  dryRun?: boolean
}

/** Merges a preset with the flags (flags win) and checks what can be checked without opening the file. */
export function resolveImportOptions(request: ImportRequest): Omit<ImportOptions, 'onProgress' | 'signal'> {
  const file = resolve(request.file)
  if (!existsSync(file)) {
    throw new UsageError('IMPORT_FILE_MISSING', `File ${request.file} does not exist.`, {
      hints: ['ecap import fixtures/datasets/online-retail/online_retail.parquet --preset online-retail'],
    })
  }
  const preset = request.preset ? PRESETS[request.preset] : undefined
  const map: ColumnMap = {...preset?.map, ...(request.map ? parseColumnMap(request.map) : {})}
  const currency = request.currency ?? preset?.currency
  if (currency !== undefined && !/^[A-Z]{3}$/.test(currency)) {
    throw new UsageError('IMPORT_CURRENCY', `--currency ${currency} is not an ISO 4217 code.`, {
      hints: ['--currency GBP'],
    })
  }
  if (currency === undefined && map.currency === undefined) {
    throw new UsageError(
      'IMPORT_CURRENCY_MISSING',
      'The file has no currency column mapped and no --currency was given.',
      {
        hints: ['--currency EUR', '--map currency=Currency'],
      },
    )
  }
  return {
    file,
    lake: request.lake,
    format: request.format ?? formatOf(file),
    map,
    currency,
    cancelPrefix: request.cancelPrefix ?? preset?.cancelPrefix,
    dateFormats: request.dateFormat ? [request.dateFormat] : [...(preset?.dateFormats ?? [])],
    timezone: request.timezone ?? IMPORT_DEFAULTS.timezone,
    device: request.device ?? IMPORT_DEFAULTS.device,
    paymentMethod: request.paymentMethod ?? IMPORT_DEFAULTS.paymentMethod,
    countryCodes: request.countryCodes ? parseCountryCodes(request.countryCodes) : {},
    dryRun: request.dryRun,
  }
}

function formatOf(file: string): ImportFormat {
  const name = file.toLowerCase().replace(/\.(gz|zst)$/, '')
  const ext = extname(name)
  if (ext === '.parquet' || ext === '.pq') return 'parquet'
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv'
  throw new UsageError('IMPORT_FORMAT_UNKNOWN', `Cannot tell the format of ${file} from its extension.`, {
    hints: ['--format csv', '--format parquet'],
  })
}

/** Namespace of ecap's import event ids (RFC 4122 name-based UUIDs, version 3). */
export const IMPORT_UUID_NAMESPACE = '8a0fc697-a0db-4328-9d18-d1e24ae4eaf2'

const ID_PATTERN = "'^[A-Za-z0-9_.:-]+$'"
const MAX_QUANTITY = (FIELDS.quantity.spec as {max: number}).max

/**
 * Imports a CSV or Parquet file of order lines into `<lake>/events` as purchase and refund events. All the work is
 * DuckDB SQL over the file (nothing is held in JavaScript memory): exact duplicate rows are dropped once, rows that
 * cannot become a valid event are counted by reason, invoices become purchases with their lines, cancellations
 * become refunds. Everything is written as ONE Delta commit carrying a txn `ecap:import:<sha256>`, so a file is
 * imported once: a second run finds the txn and writes nothing. Events whose id the lake holds are not written again,
 * also when another import commits them while this one runs (see landImport).
 */
export async function importOrders(engine: Engine, options: ImportOptions): Promise<ImportResult> {
  const progress = options.onProgress ?? (() => {})
  const warnings: string[] = []
  progress(`Hashing ${options.file}`)
  const sha256 = await hashFile(options.file)
  const appId = `ecap:import:${sha256}`
  options.signal?.throwIfAborted()

  const source =
    options.format === 'parquet'
      ? `read_parquet(${sqlString(options.file)})`
      : `read_csv(${sqlString(options.file)}, header = true, all_varchar = true)`
  let columns: {name: string; type: string}[]
  try {
    columns = (await engine.rows(`DESCRIBE SELECT * FROM ${source}`)).map((r) => ({
      name: String(r.column_name),
      type: String(r.column_type),
    }))
  } catch (error) {
    throw new DataError(
      'IMPORT_UNREADABLE',
      `Cannot read ${options.file} as ${options.format}: ${(error as Error).message}`,
      {
        cause: error,
        hints: [`--format ${options.format === 'csv' ? 'parquet' : 'csv'}`],
      },
    )
  }
  checkColumnMap(
    options.map,
    columns.map((c) => c.name),
  )
  await checkTimezone(engine, options.timezone)
  const typeOf = (column: string) => columns.find((c) => c.name === column)?.type ?? 'VARCHAR'

  progress('Dropping exact duplicate rows')
  await engine.run(`CREATE OR REPLACE TEMP TABLE __imp_rows AS
    SELECT * EXCLUDE (__imp_row), count(*) AS __imp_copies, min(__imp_row) AS __imp_first
    FROM (SELECT *, row_number() OVER () AS __imp_row FROM ${source})
    GROUP BY ALL`)
  options.signal?.throwIfAborted()

  progress('Checking rows')
  await engine.run('CREATE OR REPLACE TEMP TABLE __imp_countries (name VARCHAR, code VARCHAR)')
  const countries = countryRows(options.countryCodes)
  await engine.run(`INSERT INTO __imp_countries VALUES ${countries.map(() => '(?, ?)').join(', ')}`, countries.flat())
  const {sql: linesSql, values} = linesQuery(options, typeOf)
  await engine.run(`CREATE OR REPLACE TEMP TABLE __imp_lines AS ${linesSql}`, values)
  // An order whose total the contract's money type cannot hold is rejected whole, not cut down to fit.
  await engine.run(
    `UPDATE __imp_lines SET reason = 'order total above ${MAX_MONEY}'
     FROM (SELECT order_id, is_cancel FROM __imp_lines WHERE reason IS NULL
           GROUP BY order_id, is_cancel HAVING abs(sum(quantity * unit_price)) > ${MAX_MONEY}) big
     WHERE __imp_lines.reason IS NULL AND __imp_lines.order_id = big.order_id AND __imp_lines.is_cancel = big.is_cancel`,
  )
  options.signal?.throwIfAborted()

  progress('Building orders and refunds')
  await engine.run(`CREATE OR REPLACE TEMP TABLE __imp_purchases AS
    SELECT order_id, min(customer_id) AS customer_id, min(event_time) AS event_time, min(country) AS country,
           min(currency) AS currency,
           list({'product_id': product_id, 'quantity': CAST(quantity AS INTEGER), 'unit_price': unit_price}
                ORDER BY line_no) AS items,
           CAST(sum(quantity * unit_price) AS DECIMAL(12,2)) AS total
    FROM __imp_lines WHERE reason IS NULL AND NOT is_cancel GROUP BY order_id`)
  await engine.run(`CREATE OR REPLACE TEMP TABLE __imp_refunds AS
    SELECT order_id AS refund_key, min(customer_id) AS customer_id, min(event_time) AS event_time,
           min(country) AS country, min(currency) AS currency,
           CAST(abs(sum(quantity * unit_price)) AS DECIMAL(12,2)) AS amount
    FROM __imp_lines WHERE reason IS NULL AND is_cancel GROUP BY order_id`)
  await engine.run(options.cancelPrefix === undefined ? LINK_SAME_ORDER : LINK_CANCELLATIONS)
  await engine.run(`CREATE OR REPLACE TEMP MACRO __imp_uuid_format(h) AS (${UUID3_FORMAT})`)
  await engine.run(
    `CREATE OR REPLACE TEMP MACRO __imp_uuid(name) AS
       __imp_uuid_format(md5(unhex(${sqlString(IMPORT_UUID_NAMESPACE.replaceAll('-', ''))}) || encode(name)))`,
  )
  await engine.run(`CREATE OR REPLACE TEMP TABLE __imp_events AS ${eventsQuery()}`, [
    options.device,
    options.paymentMethod,
    IMPORT_DEFAULTS.refundReason,
  ])
  options.signal?.throwIfAborted()

  const table = tablePath(options.lake, EVENTS_TABLE)
  progress('Comparing with the lake')
  const comparison = await compareWithLake(engine, table, appId)

  const summary = await summarise(engine, warnings)
  const result: ImportResult = {
    file: options.file,
    format: options.format,
    sha256,
    lake: lakeLocation(options.lake),
    status: 'dry-run',
    appId,
    version: null,
    ...summary,
    eventsAlreadyInLake: comparison.known,
    eventsWritten: 0,
    warnings,
  }
  if (options.map.country === undefined) {
    warnings.push(`The file has no country column mapped: every event carries ${UNKNOWN_COUNTRY} (unknown).`)
  }
  if (result.rowsRejectedTotal > 0) {
    warnings.push(
      `${result.rowsRejectedTotal} rows could not become valid events and were not imported: ${Object.entries(
        result.rowsRejected,
      )
        .map(([reason, n]) => `${reason} (${n})`)
        .join(', ')}.`,
    )
  }

  if (options.dryRun) return result
  const landing = await landImport(engine, {
    lake: options.lake,
    table,
    appId,
    comparison,
    onProgress: progress,
    signal: options.signal,
  })
  if (landing.checkpointError) warnings.push(`The commit landed but its checkpoint failed: ${landing.checkpointError}`)
  return {
    ...result,
    status: landing.status,
    version: landing.version,
    eventsWritten: landing.eventsWritten,
    eventsAlreadyInLake: landing.eventsAlreadyInLake,
  }
}

/** The typed, checked lines: one row per distinct source row, with the first reason it cannot be imported. */
function linesQuery(options: ImportOptions, typeOf: (column: string) => string): {sql: string; values: DuckDBValue[]} {
  const col = (field: keyof ColumnMap) => sqlIdentifier(options.map[field] as string)
  const text = (field: keyof ColumnMap) => `nullif(trim(CAST(${col(field)} AS VARCHAR)), '')`
  const values: DuckDBValue[] = []
  const param = (value: DuckDBValue) => {
    values.push(value)
    return `$${values.length}`
  }
  const customer =
    options.map.customer === undefined
      ? 'CAST(NULL AS VARCHAR)'
      : customerSql(col('customer'), typeOf(options.map.customer))
  const country = options.map.country === undefined ? 'CAST(NULL AS VARCHAR)' : text('country')
  const currency = options.map.currency === undefined ? param(options.currency as string) : `upper(${text('currency')})`
  const time = timeSql(col('time'), typeOf(options.map.time as string), options, param)
  const cancel =
    options.cancelPrefix === undefined
      ? 'coalesce(qty < 0, false)'
      : `coalesce(starts_with(order_id, ${param(options.cancelPrefix)}), false)`
  const sql = `
    WITH raw AS (
      SELECT __imp_first AS line_no, __imp_copies AS copies,
             ${text('order')} AS order_id,
             ${customer} AS customer_id,
             ${text('product')} AS product_raw,
             TRY_CAST(${text('quantity')} AS DOUBLE) AS qty,
             TRY_CAST(${text('price')} AS DECIMAL(18,6)) AS price,
             ${time} AS event_time,
             ${country} AS country_raw,
             ${currency} AS currency
      FROM __imp_rows
    ), typed AS (
      SELECT raw.*, ${cancel} AS is_cancel,
             regexp_replace(product_raw, '[^A-Za-z0-9_.:-]', '_', 'g') AS product_id,
             coalesce(c.code, CASE WHEN regexp_matches(country_raw, '^[A-Za-z]{2}$') THEN upper(country_raw) END,
                      '${UNKNOWN_COUNTRY}') AS country,
             c.code IS NULL AND NOT coalesce(regexp_matches(country_raw, '^[A-Za-z]{2}$'), false) AS country_unrecognised
      FROM raw LEFT JOIN __imp_countries c ON c.name = lower(raw.country_raw)
    )
    SELECT line_no, copies, order_id, customer_id, product_raw, product_id, is_cancel,
           CAST(CASE WHEN qty = trunc(qty) AND abs(qty) <= ${MAX_QUANTITY} THEN qty END AS BIGINT) AS quantity,
           CAST(CASE WHEN price = round(price, 2) AND price > 0 AND price <= ${MAX_MONEY} THEN price END AS DECIMAL(12,2)) AS unit_price,
           date_trunc('millisecond', event_time) AS event_time, country_raw, country, country_unrecognised, currency,
           CASE
             WHEN order_id IS NULL THEN 'missing order number'
             WHEN length(order_id) > 64 OR NOT regexp_matches(order_id, ${ID_PATTERN})
               THEN 'order number longer than 64 characters or with characters other than A-Z a-z 0-9 _ . : -'
             WHEN event_time IS NULL THEN 'missing or unparseable date'
             WHEN event_time < TIMESTAMPTZ '${MIN_EVENT_TIME}' OR event_time >= TIMESTAMPTZ '${MAX_EVENT_TIME}'
               THEN 'date before 2000 or after 2099'
             WHEN product_raw IS NULL THEN 'missing product id'
             WHEN length(product_id) > 64 THEN 'product id longer than 64 characters'
             WHEN qty IS NULL OR qty <> trunc(qty) THEN 'quantity missing or not a whole number'
             WHEN qty = 0 THEN 'zero quantity'
             WHEN price IS NULL THEN 'unit price missing or not a number'
             WHEN NOT is_cancel AND qty < 0 THEN 'negative quantity outside a cancellation'
             WHEN is_cancel AND qty > 0 THEN 'positive quantity on a cancellation'
             WHEN price <= 0 THEN 'zero or negative unit price'
             WHEN price <> round(price, 2) THEN 'unit price with a fraction of a cent'
             WHEN price > ${MAX_MONEY} THEN 'unit price above ${MAX_MONEY}'
             WHEN abs(qty) > ${MAX_QUANTITY} THEN 'quantity above ${MAX_QUANTITY} on one line'
             WHEN customer_id IS NOT NULL AND (length(customer_id) > 64 OR NOT regexp_matches(customer_id, ${ID_PATTERN}))
               THEN 'customer id longer than 64 characters or with characters other than A-Z a-z 0-9 _ . : -'
             WHEN currency IS NULL OR NOT regexp_matches(currency, '^[A-Z]{3}$') THEN 'currency not a three-letter ISO 4217 code'
           END AS reason
    FROM typed`
  return {sql, values}
}

/** Customer ids as text; pandas writes integer ids with gaps as floats (17850.0), which are cut back to 17850. */
function customerSql(column: string, type: string): string {
  if (/^(DOUBLE|FLOAT|REAL|DECIMAL)/.test(type)) {
    return `CASE WHEN ${column} = trunc(${column}) THEN CAST(CAST(${column} AS HUGEINT) AS VARCHAR) ELSE CAST(${column} AS VARCHAR) END`
  }
  return `nullif(regexp_replace(trim(CAST(${column} AS VARCHAR)), '^([0-9]+)\\.0+$', '\\1'), '')`
}

/** The order time as TIMESTAMPTZ: typed columns as they are, text as ISO 8601 or one of the date formats. */
function timeSql(column: string, type: string, options: ImportOptions, param: (v: DuckDBValue) => string): string {
  if (type.startsWith('TIMESTAMP WITH TIME ZONE')) return column
  const zone = param(options.timezone)
  if (type.startsWith('TIMESTAMP') || type === 'DATE') return `timezone(${zone}, CAST(${column} AS TIMESTAMP))`
  const textValue = `trim(CAST(${column} AS VARCHAR))`
  const formats = options.dateFormats.map((f) => `try_strptime(${textValue}, ${sqlString(f)})`)
  const local = `coalesce(TRY_CAST(${textValue} AS TIMESTAMP)${formats.map((f) => `, ${f}`).join('')})`
  // A time that states its offset (Z, +01:00) means that instant; one without is in the --timezone zone.
  return `CASE WHEN regexp_matches(${textValue}, '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$') THEN TRY_CAST(${textValue} AS TIMESTAMPTZ)
               ELSE timezone(${zone}, ${local}) END`
}

/**
 * Cancellation invoices (Online Retail's C-numbers) do not say which order they cancel. A refund is linked to the
 * latest earlier purchase of the same customer that holds every cancelled product in at least the cancelled
 * quantity; when no purchase qualifies (the order predates the file, was rejected, or the refund is anonymous) the
 * refund keeps the cancellation's own number as its order_id.
 */
const LINK_CANCELLATIONS = `CREATE OR REPLACE TEMP TABLE __imp_links AS
  WITH cancelled AS (
    SELECT order_id AS refund_key, product_id, -sum(quantity) AS quantity
    FROM __imp_lines WHERE reason IS NULL AND is_cancel GROUP BY ALL
  ), needed AS (
    SELECT refund_key, count(*) AS products FROM cancelled GROUP BY refund_key
  ), bought AS (
    SELECT l.order_id, p.customer_id, p.event_time, l.product_id, sum(l.quantity) AS quantity
    FROM __imp_lines l JOIN __imp_purchases p USING (order_id)
    WHERE l.reason IS NULL AND NOT l.is_cancel AND p.customer_id IS NOT NULL GROUP BY ALL
  ), candidates AS (
    SELECT c.refund_key, b.order_id, b.event_time, count(*) AS products
    FROM cancelled c JOIN __imp_refunds r USING (refund_key)
    JOIN bought b ON b.customer_id = r.customer_id AND b.product_id = c.product_id
                 AND b.quantity >= c.quantity AND b.event_time <= r.event_time
    GROUP BY ALL
  )
  SELECT c.refund_key, arg_max(c.order_id, (c.event_time, c.order_id)) AS order_id
  FROM candidates c JOIN needed n ON n.refund_key = c.refund_key AND c.products = n.products
  GROUP BY c.refund_key`

/** Without a cancellation prefix, the negative lines of an order are its refund, under the same order number. */
const LINK_SAME_ORDER = `CREATE OR REPLACE TEMP TABLE __imp_links AS
  SELECT r.refund_key, r.refund_key AS order_id FROM __imp_refunds r SEMI JOIN __imp_purchases p ON p.order_id = r.refund_key`

/**
 * A version-3 (MD5, name-based, RFC 4122) UUID from the 32 hex digits `h` of md5(namespace || name): version nibble
 * 3, and the variant bits 10 on the 17th digit ((d & 3) | 8, looked up rather than computed).
 */
const UUID3_FORMAT = `substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-3' || substr(h, 14, 3) || '-' ||
  substr('89ab89ab89ab89ab', strpos('0123456789abcdef', substr(h, 17, 1)), 1) || substr(h, 18, 3) || '-' ||
  substr(h, 21, 12)`

/** Every contract column of the purchase and refund events, with NULL where an event type has no such field. */
function eventsQuery(): string {
  const purchase: Record<string, string> = {
    schema_version: '1',
    event_id: `__imp_uuid('purchase:' || order_id)`,
    event_type: `'purchase'`,
    event_time: 'event_time',
    customer_id: 'customer_id',
    session_id: 'order_id',
    device: '$1',
    ip_country: 'country',
    order_id: 'order_id',
    items: 'items',
    total: 'total',
    currency: 'currency',
    payment_method: '$2',
    card_fingerprint: 'NULL',
    billing_country: 'country',
    shipping_country: 'country',
  }
  const refund: Record<string, string> = {
    schema_version: '1',
    event_id: `__imp_uuid('refund:' || r.refund_key)`,
    event_type: `'refund'`,
    event_time: 'r.event_time',
    customer_id: 'r.customer_id',
    session_id: 'r.refund_key',
    device: '$1',
    ip_country: 'r.country',
    order_id: 'coalesce(l.order_id, r.refund_key)',
    amount: 'r.amount',
    currency: 'r.currency',
    reason: '$3',
  }
  const select = (exprs: Record<string, string>) =>
    EVENT_COLUMNS.map((c) => `CAST(${exprs[c.name] ?? 'NULL'} AS ${c.duckdbType}) AS ${sqlIdentifier(c.name)}`).join(
      ', ',
    )
  return `SELECT ${select(purchase)} FROM __imp_purchases
    UNION ALL BY NAME
    SELECT ${select(refund)}, l.order_id IS NOT NULL AS linked
    FROM __imp_refunds r LEFT JOIN __imp_links l USING (refund_key)`
}

async function summarise(
  engine: Engine,
  warnings: string[],
): Promise<
  Omit<
    ImportResult,
    | 'file'
    | 'format'
    | 'sha256'
    | 'lake'
    | 'status'
    | 'appId'
    | 'version'
    | 'eventsWritten'
    | 'eventsAlreadyInLake'
    | 'warnings'
  >
> {
  const [rows] = await engine.rows(`SELECT CAST(sum(__imp_copies) AS BIGINT) AS read,
      CAST(sum(__imp_copies - 1) AS BIGINT) AS duplicates FROM __imp_rows`)
  const rejected = await engine.rows(
    'SELECT reason, count(*) AS n FROM __imp_lines WHERE reason IS NOT NULL GROUP BY reason ORDER BY n DESC, reason',
  )
  const [lines] = await engine.rows(`SELECT count(*) FILTER (reason IS NULL) AS imported,
      count(DISTINCT order_id) AS invoices, count(DISTINCT customer_id) AS customers,
      count(DISTINCT product_raw) FILTER (reason IS NULL AND product_id <> product_raw) AS rewritten
    FROM __imp_lines`)
  const [events] = await engine.rows(`SELECT
      count(*) FILTER (event_type = 'purchase') AS orders,
      count(*) FILTER (event_type = 'purchase' AND customer_id IS NULL) AS anonymous_orders,
      count(*) FILTER (event_type = 'refund') AS refunds,
      count(*) FILTER (event_type = 'refund' AND linked) AS linked,
      count(*) FILTER (event_type = 'refund' AND customer_id IS NULL) AS anonymous_refunds,
      count(DISTINCT customer_id) AS customers,
      count(DISTINCT customer_id) FILTER (event_type = 'purchase') AS customers_with_orders,
      strftime(min(event_time), '%Y-%m-%dT%H:%M:%S.%gZ') AS first_time,
      strftime(max(event_time), '%Y-%m-%dT%H:%M:%S.%gZ') AS last_time,
      CAST(coalesce(sum(total), 0) AS DOUBLE) AS revenue, CAST(coalesce(sum(amount), 0) AS DOUBLE) AS refunded,
      coalesce(list(DISTINCT currency ORDER BY currency), []) AS currencies FROM __imp_events`)
  const unknownCountries = await engine.rows(`SELECT country_raw AS name, bool_or(country_unrecognised) AS unrecognised,
      count(*) AS n FROM __imp_lines WHERE reason IS NULL AND country = '${UNKNOWN_COUNTRY}' AND country_raw IS NOT NULL
      GROUP BY country_raw ORDER BY country_raw`)
  const unrecognised = unknownCountries.filter(
    (r) => r.unrecognised === true && !KNOWN_UNKNOWN_COUNTRIES.includes(String(r.name).toLowerCase()),
  )
  if (unrecognised.length > 0) {
    warnings.push(
      `Country names with no entry in ecap's table were imported as ${UNKNOWN_COUNTRY}: ${unrecognised
        .map((r) => `${r.name} (${r.n} rows)`)
        .join(', ')}. Map them with --country-code "NAME=XX".`,
    )
  }
  const rowsRejected = Object.fromEntries(rejected.map((r) => [String(r.reason), Number(r.n)]))
  const num = (v: unknown) => Number(v ?? 0)
  return {
    rowsRead: num(rows?.read),
    duplicateRowsDropped: num(rows?.duplicates),
    rowsRejected,
    rowsRejectedTotal: Object.values(rowsRejected).reduce((a, b) => a + b, 0),
    rowsImported: num(lines?.imported),
    invoices: num(lines?.invoices),
    customersInFile: num(lines?.customers),
    orders: num(events?.orders),
    anonymousOrders: num(events?.anonymous_orders),
    refunds: num(events?.refunds),
    refundsLinked: num(events?.linked),
    anonymousRefunds: num(events?.anonymous_refunds),
    customers: num(events?.customers),
    customersWithOrders: num(events?.customers_with_orders),
    firstEventTime: (events?.first_time as string | null) ?? null,
    lastEventTime: (events?.last_time as string | null) ?? null,
    currencies: (events?.currencies as string[] | null) ?? [],
    revenue: Math.round(num(events?.revenue) * 100) / 100,
    refunded: Math.round(num(events?.refunded) * 100) / 100,
    countriesWithoutCode: Object.fromEntries(unknownCountries.map((r) => [String(r.name), Number(r.n)])),
    productIdsRewritten: num(lines?.rewritten),
  }
}

async function checkTimezone(engine: Engine, zone: string): Promise<void> {
  try {
    await engine.rows(`SELECT timezone($1, TIMESTAMP '2000-01-01 00:00:00') AS t`, [zone])
  } catch {
    throw new UsageError('IMPORT_TIMEZONE', `--timezone ${zone} is not a time zone DuckDB knows.`, {
      hints: ['--timezone UTC', '--timezone Europe/London'],
    })
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
