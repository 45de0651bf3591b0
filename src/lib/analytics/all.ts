import type {Engine} from '../engine/engine.js'
import {EcapError, toEcapError} from '../errors.js'
import {type ExtractSummary, extractSourceOf, extractStatsSince} from '../shop/extract-source.js'
import {registerShopViews} from '../shop/views.js'
import {runClv} from './clv/run.js'
import {runCohorts} from './cohort/cohort.js'
import {analyzeFraud} from './fraud/analyze.js'
import {runFunnel} from './funnel/funnel.js'
import {runKpis} from './kpi/kpi.js'
import {runRfm} from './rfm/rfm.js'
import {cacheOrders} from './sessions.js'

export const ANALYSES = ['rfm', 'clv', 'fraud', 'kpi', 'funnel', 'cohort'] as const
export type AnalysisName = (typeof ANALYSES)[number]

export interface AnalysisRun {
  analysis: AnalysisName
  status: 'ok' | 'failed'
  seconds: number
  /** One line on what it found, for the cron log. */
  summary: string
  /** What the analysis warned of (a CLV fit the data do not pin down, for one). */
  warnings: string[]
  error?: {code: string; message: string}
  /** What this analysis's own extract brought back from another engine (absent when DuckDB ran it). */
  extract?: ExtractSummary
}

export interface AllResult {
  lake: string
  asOf: string
  eventsVersion: number
  /** Copies of an event_id already seen that the shared shop views set aside (each event counted once). */
  duplicateEvents: number
  seconds: number
  runs: AnalysisRun[]
}

export interface AllOptions {
  lake: string
  asOf?: string
  onProgress?: (analysis: AnalysisName) => void
  /** Each warning as its analysis ends, so it is heard even when a later analysis fails and the run throws. */
  onWarning?: (analysis: AnalysisName, message: string) => void
  /** Stops the run at once when aborted (the engine should be opened with it too, to stop a running statement). */
  signal?: AbortSignal
}

/**
 * Runs every analysis with its defaults over one snapshot of the lake (views registered once, shared by all) and
 * saves each result, for a nightly cron line. An empty or missing lake stops it at once (exit 3). One analysis failing does not stop the others; the run
 * then ends with that failure's error, after the rest were saved, so cron still sees it.
 */
export async function analyzeAll(engine: Engine, options: AllOptions): Promise<AllResult> {
  const started = performance.now()
  // Up front, so an empty lake is one clear error rather than six; it also pins the as-of day for every analysis.
  const views = await registerShopViews(engine, options.lake, {asOf: options.asOf})
  const {asOf, eventsVersion, duplicateEvents} = views
  // Every analysis reads the purchases joined with their refunds: join once.
  await cacheOrders(engine)
  const {lake} = options
  /** Each analysis with defaults; it returns its summary line (and what it warned of). */
  const steps: Record<AnalysisName, () => Promise<string | {summary: string; warnings: string[]}>> = {
    rfm: async () => {
      const r = await runRfm(engine, {lake, asOf, views})
      return `${r.customers.toLocaleString('en-US')} customers in ${r.segments.filter((s) => s.customers > 0).length} segments`
    },
    clv: async () => {
      const r = await runClv(engine, {
        source: {kind: 'lake', lake, views},
        asOf,
        timeUnit: 'day',
        horizonMonths: 12,
        discountRate: 0.01,
        model: 'bgnbd',
        // Every customer's value is saved; the summary line needs no list (0 would build one object per customer).
        top: 10,
        saveTo: lake,
        parameters: {asOf, model: 'bgnbd', timeUnit: 'day', horizonMonths: 12, discountRate: 0.01},
        signal: options.signal,
      })
      return {
        summary: `${r.customers.total.toLocaleString('en-US')} customers, 12-month CLV ${Math.round(r.totalClv).toLocaleString('en-US')}`,
        warnings: r.warnings,
      }
    },
    fraud: async () => {
      const r = await analyzeFraud(engine, {lake, asOf, views})
      return `${r.flagged.toLocaleString('en-US')} of ${r.orders.toLocaleString('en-US')} orders flagged`
    },
    kpi: async () => {
      const r = await runKpis(engine, {lake, asOf, views})
      return `${r.daily.length} days`
    },
    funnel: async () => {
      const r = await runFunnel(engine, {lake, asOf, views})
      const steps = r.overall.steps
      return `${(steps[0]?.sessions ?? 0).toLocaleString('en-US')} sessions, ${(steps.at(-1)?.sessions ?? 0).toLocaleString('en-US')} with a purchase`
    },
    cohort: async () => {
      const r = await runCohorts(engine, {lake, asOf, views})
      return `${r.cohorts.length} monthly cohorts`
    },
  }
  const runs: AnalysisRun[] = []
  let firstFailure: EcapError | undefined
  for (const analysis of ANALYSES) {
    options.signal?.throwIfAborted()
    options.onProgress?.(analysis)
    const t = performance.now()
    const extractedBefore = extractSourceOf(engine)?.stats.length ?? 0
    const extract = () => {
      const summary = extractStatsSince(engine, extractedBefore)
      return summary ? {extract: summary} : {}
    }
    try {
      const outcome = await steps[analysis]()
      const {summary, warnings} = typeof outcome === 'string' ? {summary: outcome, warnings: []} : outcome
      for (const warning of warnings) options.onWarning?.(analysis, warning)
      runs.push({
        analysis,
        status: 'ok',
        seconds: round((performance.now() - t) / 1000),
        summary,
        warnings,
        ...extract(),
      })
    } catch (error) {
      // An interruption stops the whole run; it is not one analysis failing.
      options.signal?.throwIfAborted()
      const failure = toEcapError(error)
      firstFailure ??= failure
      runs.push({
        analysis,
        status: 'failed',
        seconds: round((performance.now() - t) / 1000),
        summary: failure.message,
        warnings: [],
        error: {code: failure.code, message: failure.message},
        ...extract(),
      })
    }
  }
  const result = {
    lake,
    asOf,
    eventsVersion,
    duplicateEvents,
    seconds: round((performance.now() - started) / 1000),
    runs,
  }
  if (firstFailure) {
    const failed = runs.filter((r) => r.status === 'failed').map((r) => r.analysis)
    throw new EcapError(firstFailure.code, `${failed.join(', ')} failed: ${firstFailure.message}`, {
      exitCode: firstFailure.exitCode,
      hints: [...firstFailure.hints, `The other analyses were saved; rerun one alone with: ecap analyze ${failed[0]}`],
      cause: result,
    })
  }
  return result
}

function round(seconds: number): number {
  return Math.round(seconds * 100) / 100
}
