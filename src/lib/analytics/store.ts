import type {Engine} from '../engine/engine.js'
import {DataError} from '../errors.js'
import {childLocation, lakeLocation} from '../lake/location.js'
import {type ReplaceResult, readRun, replaceTable} from '../lake/result-table.js'
import {registerTableView} from '../lake/views.js'

/** Folder of the lake that holds one Delta table per saved analysis result. */
export const ANALYTICS_DIR = 'analytics'

/** What a saved result records about the run that made it, so a report can say what it shows. */
export interface RunInfo {
  /** The `ecap analyze` subcommand that made it (rfm, clv, ...). */
  analysis: string
  /** The options of the run, as given or defaulted. */
  parameters: Record<string, unknown>
  /** The last day of data the run saw (YYYY-MM-DD). */
  asOf: string
  /** Version of the events table the run read; -1 when it read a file instead of the lake. */
  eventsVersion: number
  /** Copies of an event_id already seen that the run set aside (absent in results saved before ecap de-duplicated). */
  duplicateEvents?: number
  /** When the run finished (ISO 8601). */
  ranAt: string
  /** Small results that are not rows (fitted parameters, totals), as the analysis's typed result has them. */
  summary?: unknown
}

/** The location of the saved result `name`: `<lake>/analytics/<name>`, in a local lake or an object store. */
export function resultPath(lake: string, name: string): string {
  return childLocation(lakeLocation(lake), ANALYTICS_DIR, name)
}

/** Saves the rows of `query` as the result table `name` (replacing the last run's), with the run's description. */
export async function saveResult(
  engine: Engine,
  lake: string,
  name: string,
  query: string,
  run: RunInfo,
): Promise<ReplaceResult> {
  return replaceTable(engine, resultPath(lake, name), query, run as unknown as Record<string, unknown>)
}

/**
 * Registers the saved result `name` as a DuckDB view of the same name and returns its run description; a result never
 * saved is a data error that names the command to run.
 */
export async function loadResult(engine: Engine, lake: string, name: string, analysis: string): Promise<RunInfo> {
  const path = resultPath(lake, name)
  const run = await readRun(path, engine)
  if (!run) {
    throw new DataError('RESULT_MISSING', `No saved ${analysis} result in ${lake}.`, {
      hints: [`ecap analyze ${analysis} --lake ${lake}`],
    })
  }
  await registerTableView(engine, name, path)
  return run as unknown as RunInfo
}
