import type {Engine} from '../engine/engine.js'
import {sqlIdentifier} from '../engine/sql.js'
import {UsageError} from '../errors.js'
import type {DataFormat} from './formats.js'
import {registerLakeViews, SHOP_VIEWS} from './lake-views.js'
import {sqlError} from './sql-errors.js'
import {prepareQuery, type WriteSummary, writeResult} from './write-result.js'

export interface ExportOptions {
  lake: string
  /** A shop view, an analysis result or another table of the lake. */
  table: string
  format: DataFormat
  /** A file path, or `-` for `stdout`. */
  output: string
  stdout: NodeJS.WritableStream
  /** A SQL predicate over the table's columns (the lake owner's own SQL, like `duckdb -c`). */
  where?: string
  /** Columns to keep, in this order; all when absent. */
  columns?: string[]
  signal?: AbortSignal
}

export interface ExportResult extends WriteSummary {
  table: string
  lake: string
  where: string | null
  /** Copies of an event_id already seen that the shop views set aside, when the table is one of them; else 0. */
  duplicateEvents: number
  elapsedMs: number
  /** Peak resident memory of this process so far, in bytes. */
  peakRssBytes: number
}

/**
 * Streams one table of the lake to a file or stdout, optionally cut by `where` and `columns`. An unknown table or
 * column and a bad predicate are usage errors naming what exists; a failed export leaves no file behind.
 */
export async function exportTable(engine: Engine, options: ExportOptions): Promise<ExportResult> {
  const started = Date.now()
  const lake = await registerLakeViews(engine, options.lake, {
    shopViews: (SHOP_VIEWS as readonly string[]).includes(options.table),
  })
  const names = lake.views.map((v) => v.name)
  if (!names.includes(options.table)) {
    throw new UsageError(
      'TABLE_UNKNOWN',
      names.length === 0
        ? `The lake at ${lake.lake} has no tables yet.`
        : `No table ${options.table} in the lake. Tables: ${names.join(', ')}.`,
      {hints: names.length === 0 ? ['ecap generate --to lake'] : names.slice(0, 3).map((n) => `ecap export ${n}`)},
    )
  }
  const table = sqlIdentifier(options.table)
  const available = (await engine.rows(`SELECT * FROM (DESCRIBE ${table})`)).map((r) => String(r.column_name))
  let select = '*'
  if (options.columns && options.columns.length > 0) {
    const unknown = options.columns.filter((c) => !available.includes(c))
    if (unknown.length > 0) {
      throw new UsageError(
        'COLUMN_UNKNOWN',
        `${options.table} has no column ${unknown.join(', ')}. Its columns: ${available.join(', ')}.`,
        {hints: [`--columns ${available.slice(0, 3).join(',')}`]},
      )
    }
    select = options.columns.map(sqlIdentifier).join(', ')
  }
  // The predicate sees every column of the table, kept or not: --columns only shapes the output.
  let from = table
  if (options.where !== undefined) {
    from = `(SELECT * FROM ${table} WHERE (\n${await checkPredicate(engine, table, options.where)}\n))`
  }
  const sql = `SELECT ${select} FROM ${from}`
  const query = await prepareQuery(engine, sql, 'WHERE_INVALID')
  const summary = await writeResult(engine, query, {
    format: options.format,
    output: options.output,
    stdout: options.stdout,
    signal: options.signal,
  })
  return {
    ...summary,
    table: options.table,
    lake: lake.lake,
    where: options.where ?? null,
    duplicateEvents: lake.views.find((v) => v.name === options.table)?.kind === 'shop' ? lake.duplicateEvents : 0,
    elapsedMs: Date.now() - started,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }
}

/**
 * The predicate is SQL by design, but only a predicate: it runs inside the WHERE of a subquery, and text that would
 * end the statement and start another (`1=1; DROP ...`) is refused before anything runs.
 */
async function checkPredicate(engine: Engine, table: string, where: string): Promise<string> {
  const predicate = where.trim()
  if (predicate === '') {
    throw new UsageError('WHERE_INVALID', '--where is empty.', {hints: [`--where "order_date >= DATE '2026-01-15'"`]})
  }
  let statements: number
  try {
    statements = (await engine.connection.extractStatements(`SELECT * FROM ${table} WHERE (\n${predicate}\n)`)).count
  } catch (error) {
    throw sqlError(error, 'WHERE_INVALID', [`--where "order_date >= DATE '2026-01-15'"`])
  }
  if (statements !== 1 || /;/.test(predicate.replace(/'(?:[^']|'')*'/g, ''))) {
    throw new UsageError('WHERE_INVALID', '--where takes one SQL predicate, not statements; remove the ";".', {
      hints: [`--where "total > 100 AND payment_method = 'card'"`],
    })
  }
  return predicate
}
