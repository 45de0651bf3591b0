import type {Engine} from '../engine/engine.js'
import type {QueryFormat} from './formats.js'
import {type LakeView, registerLakeViews} from './lake-views.js'
import {prepareQuery, type WriteSummary, writeResult} from './write-result.js'

export interface QueryOptions {
  lake: string
  sql: string
  format: QueryFormat
  /** A file path, or `-` for `stdout`. */
  output: string
  stdout: NodeJS.WritableStream
  /** Cut the shop views at the end of this UTC day (YYYY-MM-DD). */
  asOf?: string
  /** Rows shown by the `table` format. */
  maxRows?: number
  color?: boolean
  signal?: AbortSignal
}

export interface QueryResult extends WriteSummary {
  lake: string
  asOf: string | null
  /** Copies of an event_id already seen that the shop views (`events` and those built on it) set aside. */
  duplicateEvents: number
  views: LakeView[]
  /** Tables of the lake that could not be registered, with the reason. */
  skipped: {name: string; reason: string}[]
  elapsedMs: number
  peakRssBytes: number
}

/**
 * Runs one DuckDB query over the lake (shop views, analysis results and other tables registered by name) and streams
 * its result. Syntax, binder and cast errors are usage errors carrying DuckDB's message.
 */
export async function runQuery(engine: Engine, options: QueryOptions): Promise<QueryResult> {
  const started = Date.now()
  const lake = await registerLakeViews(engine, options.lake, {asOf: options.asOf})
  const query = await prepareQuery(engine, options.sql)
  const summary = await writeResult(engine, query, {
    format: options.format,
    output: options.output,
    stdout: options.stdout,
    maxRows: options.maxRows,
    color: options.color,
    signal: options.signal,
  })
  return {
    ...summary,
    lake: lake.lake,
    asOf: lake.asOf,
    duplicateEvents: lake.duplicateEvents,
    views: lake.views,
    skipped: lake.skipped,
    elapsedMs: Date.now() - started,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }
}
