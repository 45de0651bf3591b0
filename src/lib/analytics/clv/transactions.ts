import {extname} from 'node:path'
import type {Engine} from '../../engine/engine.js'
import {sqlIdentifier, sqlString} from '../../engine/sql.js'
import {DataError, UsageError} from '../../errors.js'
import {registerShopViews, type ShopViews} from '../../shop/views.js'

/** Where the purchases come from: the lake's `orders` view, or a plain transactions file. */
export type ClvSource =
  | {
      kind: 'lake'
      lake: string
      /** Shop views already registered in this engine (one snapshot shared by several analyses). */
      views?: ShopViews
    }
  | {
      kind: 'file'
      path: string
      customerColumn: string
      dateColumn: string
      amountColumn: string
      /** strptime format of the date column when DuckDB does not read it as a date (e.g. %Y%m%d). */
      dateFormat?: string
    }

export interface RegisteredTransactions {
  /** The last day of data (the default end of calibration). */
  lastDay: string
  /** Version of the lake's events table; -1 for a file. */
  eventsVersion: number
  /** Copies of an event_id already seen that the shop views set aside; 0 for a file. */
  duplicateEvents: number
}

/** What the summary reads: one row per purchase or adjustment, with the customer, its UTC day and value. */
export const TRANSACTIONS_TABLE = 'clv_transactions'

/**
 * Defines `clv_transactions(customer_id, day, amount, is_purchase)`. From the lake: signed-in customers' orders (anonymous
 * ones have no customer to value) at their value net of refunds, up to the end of `asOf`. From a file: every row with a
 * customer; rows with a negative amount are returns that reduce their day's value but are no purchase.
 */
export async function registerTransactions(
  engine: Engine,
  source: ClvSource,
  asOf: string | undefined,
): Promise<RegisteredTransactions> {
  if (source.kind === 'lake') {
    const views = source.views ?? (await registerShopViews(engine, source.lake, {asOf}))
    // A view: the summary reads it once, and `orders` may already be a cached table (analyze all).
    await engine.run(`
      CREATE OR REPLACE TEMP VIEW ${TRANSACTIONS_TABLE} AS
      SELECT customer_id, CAST(order_time AS DATE) AS day, CAST(net_total AS DOUBLE) AS amount, true AS is_purchase
      FROM orders WHERE customer_id IS NOT NULL`)
    return {lastDay: views.asOf, eventsVersion: views.eventsVersion, duplicateEvents: views.duplicateEvents}
  }
  const reader = fileReader(source.path)
  const columns = await fileColumns(engine, reader, source.path)
  for (const [flag, name] of [
    ['--customer-column', source.customerColumn],
    ['--date-column', source.dateColumn],
    ['--amount-column', source.amountColumn],
  ] as const) {
    if (!columns.includes(name)) {
      throw new UsageError('CLV_COLUMN_MISSING', `${source.path} has no column "${name}" (${flag}).`, {
        hints: [`${flag} <one of: ${columns.join(', ')}>`],
      })
    }
  }
  const customer = sqlIdentifier(source.customerColumn)
  const date = sqlIdentifier(source.dateColumn)
  const amount = sqlIdentifier(source.amountColumn)
  const day =
    source.dateFormat === undefined ? `CAST(${date} AS DATE)` : `CAST(strptime(CAST(${date} AS VARCHAR), $1) AS DATE)`
  try {
    await engine.run(
      `CREATE OR REPLACE TABLE ${TRANSACTIONS_TABLE} AS
       SELECT CAST(${customer} AS VARCHAR) AS customer_id, ${day} AS day, CAST(${amount} AS DOUBLE) AS amount,
              CAST(${amount} AS DOUBLE) >= 0 AS is_purchase
       FROM ${reader} WHERE ${customer} IS NOT NULL AND ${date} IS NOT NULL AND ${amount} IS NOT NULL`,
      source.dateFormat === undefined ? [] : [source.dateFormat],
    )
  } catch (error) {
    throw new DataError(
      'CLV_TRANSACTIONS_INVALID',
      `Cannot read the transactions in ${source.path}: ${message(error)}`,
      {
        cause: error,
        hints: ['--date-format %Y%m%d', '--date-format "%d/%m/%Y %H:%M"', '--amount-column <a numeric column>'],
      },
    )
  }
  if (asOf !== undefined) checkDate(asOf)
  const [row] = await engine.rows(`SELECT CAST(max(day) AS VARCHAR) AS last_day FROM ${TRANSACTIONS_TABLE}`)
  const lastDay = asOf ?? (row?.last_day as string | null)
  if (!lastDay) throw new DataError('CLV_NO_TRANSACTIONS', `${source.path} has no transactions with a customer.`)
  return {lastDay, eventsVersion: -1, duplicateEvents: 0}
}

function fileReader(path: string): string {
  const ext = extname(path).toLowerCase()
  return ext === '.parquet' || ext === '.pq' ? `read_parquet(${sqlString(path)})` : `read_csv(${sqlString(path)})`
}

async function fileColumns(engine: Engine, reader: string, path: string): Promise<string[]> {
  try {
    const rows = await engine.rows(`DESCRIBE SELECT * FROM ${reader}`)
    return rows.map((row) => String(row.column_name))
  } catch (error) {
    throw new DataError('CLV_TRANSACTIONS_UNREADABLE', `${path} is not a CSV or Parquet file DuckDB can read.`, {
      cause: error,
      hints: ['Convert it to CSV with a header row, or to Parquet.'],
    })
  }
}

export function checkDate(value: string, flag = '--as-of'): void {
  const ms = Date.parse(`${value}T00:00:00Z`)
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new UsageError('AS_OF_INVALID', `${flag} ${value} is not a date.`, {hints: [`${flag} 1997-09-30`]})
  }
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''
}
