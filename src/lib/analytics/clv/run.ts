import type {Engine} from '../../engine/engine.js'
import type {RunInfo} from '../store.js'
import {analyzeClv, type ClvOptions, type ClvResult} from './clv.js'
import {CLV_RESULT, saveClvRows} from './save.js'

export interface RunClvOptions extends ClvOptions {
  /** The lake to save `analytics/clv` to; null writes nothing (a fit on a transactions file). */
  saveTo: string | null
  /** The run's options as the user gave them, recorded with the saved result. */
  parameters: Record<string, unknown>
}

export interface RunClvResult extends ClvResult {
  /** Where the per-customer values were saved; null when the run wrote no lake. */
  saved: string | null
}

/** Fits and values every customer, and saves the per-customer values with the fitted models as `analytics/clv`. */
export async function runClv(engine: Engine, options: RunClvOptions): Promise<RunClvResult> {
  const result = await analyzeClv(engine, options)
  if (options.saveTo === null) return {...result, saved: null}
  // Interrupted after the fit: nothing is saved. An interruption during the save removes its file before the commit.
  options.signal?.throwIfAborted()
  await saveClvRows(engine, options.saveTo, clvRunInfo(result, options.parameters))
  return {...result, saved: `${options.saveTo}/analytics/${CLV_RESULT}`}
}

/** What a saved clv result records of its run: the fitted models ride along, for the report. */
export function clvRunInfo(result: ClvResult, parameters: Record<string, unknown>): RunInfo {
  return {
    analysis: 'clv',
    parameters,
    asOf: result.asOf,
    eventsVersion: result.source.kind === 'lake' ? result.source.eventsVersion : -1,
    ...(result.source.kind === 'lake' && {duplicateEvents: result.source.duplicateEvents}),
    ranAt: new Date().toISOString(),
    summary: {
      purchaseModel: result.purchaseModel,
      spendModel: result.spendModel,
      calibrationEnd: result.calibrationEnd,
      timeUnit: result.timeUnit,
      customers: result.customers,
      holdout: result.holdout,
    },
  }
}
