// What every analysis's report shares: the run it shows, cell values from SQL rows, table columns.
import type {Json} from '@duckdb/node-api'
import type {TableBlock, TableColumn, ValueFormat} from '../report/document.js'
import type {RunInfo} from './store.js'

/** What a report says about the analysis run it shows. */
export interface RunMeta {
  asOf: string
  ranAt: string
  eventsVersion: number
  /** Copies of an event_id already seen that the run set aside (0 for results saved before ecap counted them). */
  duplicateEvents: number
  parameters: Record<string, unknown>
}

/** The run a saved result records, as every report shows it. */
export function meta(run: RunInfo): RunMeta {
  return {
    asOf: run.asOf,
    ranAt: run.ranAt,
    eventsVersion: run.eventsVersion,
    duplicateEvents: run.duplicateEvents ?? 0,
    parameters: run.parameters,
  }
}

export const num = (x: Json | undefined): number => (x === null || x === undefined ? 0 : Number(x))

export const numOrNull = (x: Json | undefined): number | null => (x === null || x === undefined ? null : Number(x))

export const col = (key: string, title: string, format: ValueFormat = 'text'): TableColumn => ({key, title, format})

export function table(name: string, columns: TableColumn[], rows: TableBlock['rows'], primary = false): TableBlock {
  return {kind: 'table', name, columns, rows, primary}
}

/** The subtitle line that says what a report shows: how much, as of when, from which snapshot, analysed when. */
export function runLine(run: RunMeta, what: string): string {
  // A reader of the report should know that some events reached the lake twice, even though each counted once.
  const duplicates =
    run.duplicateEvents > 0 ? `; ${run.duplicateEvents.toLocaleString('en-US')} duplicate events set aside` : ''
  // A fit on a transactions file read no events table (version -1).
  const source = run.eventsVersion >= 0 ? `events version ${run.eventsVersion}` : 'a transactions file'
  return `${what} as of ${run.asOf} (${source}${duplicates}), analysed ${run.ranAt.slice(0, 16).replace('T', ' ')} UTC`
}

/**
 * The first day that is not whole, else null: the UTC day of the latest event (which holds only part of its orders and
 * sessions), when the run's as-of day reaches it. That day and every later one up to the as-of day are left out of
 * charts and changes, since they would draw a drop that never happened: an --as-of past the data's end (a cron passing
 * yesterday while ingest lags) zero-fills days the data never reached. A run cut by --as-of before the latest event
 * has whole days only. Undefined when the run did not record its latest event (results saved before ecap did) or it
 * does not read as a time, so the report can say it cannot tell.
 */
export function incompleteDayOf(asOf: string, latestEventTime: string | null | undefined): string | null | undefined {
  const latest = latestEventTime === null || latestEventTime === undefined ? Number.NaN : Date.parse(latestEventTime)
  if (Number.isNaN(latest)) return undefined
  const latestDay = new Date(latest).toISOString().slice(0, 10)
  return latestDay <= asOf ? latestDay : null
}

/** Whether `day` is whole, given the first day that is not (see incompleteDayOf). */
export function isWholeDay(day: string, incompleteDay: string | null | undefined): boolean {
  return incompleteDay === null || incompleteDay === undefined || day < incompleteDay
}
