import type {Engine} from '../../engine/engine.js'
import {registerShopViews, type ShopViews} from '../../shop/views.js'
import {buildSessions, FUNNEL_STEPS, type FunnelStepName, SESSIONS_TABLE} from '../sessions.js'
import {type RunInfo, resultPath, saveResult} from '../store.js'

/** Saved result: `<lake>/analytics/funnel`, one row per (dimension, value, step). */
export const FUNNEL_RESULT = 'funnel'

export {FUNNEL_STEPS, type FunnelStepName}
export type FunnelDimension = 'all' | 'device' | 'country'

export interface FunnelStep {
  step: FunnelStepName
  sessions: number
  /** Sessions at this step / sessions at the step before (1 for the first step; null when the step before had none). */
  stepConversion: number | null
  /** Sessions at this step / sessions at the first step. */
  overallConversion: number | null
  /** Sessions lost since the step before. */
  dropOff: number
  /** dropOff / sessions at the step before. */
  dropOffRate: number | null
}

export interface FunnelGroup {
  dimension: FunnelDimension
  /** The device or country; `all` for the whole shop. */
  value: string
  steps: FunnelStep[]
}

export interface FunnelComputation {
  asOf: string
  overall: FunnelGroup
  /** Largest first. */
  byDevice: FunnelGroup[]
  /** By the IP country of the session's first event, largest first. */
  byCountry: FunnelGroup[]
}

export interface FunnelResult extends FunnelComputation {
  analysis: 'funnel'
  lake: string
  eventsVersion: number
  /** Copies of an event_id already seen that the shop views set aside (each event counted once). */
  duplicateEvents: number
  saved: string
}

// Not the result's name: the report registers the saved result as a view of that name in the same engine.
const FUNNEL_TABLE = 'funnel_rows'

/** Session funnel overall, by device and by country, over the shop views (registerShopViews). */
export async function computeFunnel(engine: Engine, asOf: string): Promise<FunnelComputation> {
  await buildSessions(engine)
  const counts = FUNNEL_STEPS.map((_, i) => `count(*) FILTER (WHERE funnel_step >= ${i + 1})`).join(', ')
  const names = FUNNEL_STEPS.map((x) => `'${x.step}'`).join(', ')
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${FUNNEL_TABLE} AS
     WITH groups AS (
       SELECT CASE WHEN grouping(device) = 0 THEN 'device' WHEN grouping(country) = 0 THEN 'country' ELSE 'all' END
                AS dimension,
              coalesce(device, country, 'all') AS value,
              [${counts}] AS sessions
       FROM ${SESSIONS_TABLE}
       GROUP BY GROUPING SETS ((), (device), (country))
     ),
     steps AS (
       SELECT dimension, value, sessions[1] AS group_sessions,
              CAST(unnest(range(1, ${FUNNEL_STEPS.length + 1})) AS INTEGER) AS step_index,
              unnest([${names}]) AS step, CAST(unnest(sessions) AS INTEGER) AS sessions
       FROM groups
     )
     SELECT dimension, value, step_index, step, sessions,
            CAST(sessions / nullif(lag(sessions, 1, sessions) OVER w, 0) AS DOUBLE) AS step_conversion,
            CAST(sessions / nullif(group_sessions, 0) AS DOUBLE) AS overall_conversion,
            CAST(lag(sessions, 1, sessions) OVER w - sessions AS INTEGER) AS drop_off,
            CAST((lag(sessions, 1, sessions) OVER w - sessions) / nullif(lag(sessions, 1, sessions) OVER w, 0) AS DOUBLE)
              AS drop_off_rate,
            CAST(group_sessions AS INTEGER) AS group_sessions
     FROM steps
     WINDOW w AS (PARTITION BY dimension, value ORDER BY step_index)`,
  )
  const rows = await engine.rows(
    `SELECT * FROM ${FUNNEL_TABLE} ORDER BY CASE dimension WHEN 'all' THEN 0 WHEN 'device' THEN 1 ELSE 2 END,
            group_sessions DESC, value, step_index`,
  )
  const groups: FunnelGroup[] = []
  for (const row of rows) {
    const dimension = String(row.dimension) as FunnelDimension
    const value = String(row.value)
    let group = groups.at(-1)
    if (!group || group.dimension !== dimension || group.value !== value) {
      group = {dimension, value, steps: []}
      groups.push(group)
    }
    const orNull = (x: unknown) => (x === null ? null : Number(x))
    group.steps.push({
      step: String(row.step) as FunnelStepName,
      sessions: Number(row.sessions),
      stepConversion: orNull(row.step_conversion),
      overallConversion: orNull(row.overall_conversion),
      dropOff: Number(row.drop_off),
      dropOffRate: orNull(row.drop_off_rate),
    })
  }
  const overall = groups.find((g) => g.dimension === 'all') ?? {
    dimension: 'all' as const,
    value: 'all',
    steps: FUNNEL_STEPS.map((s) => ({
      step: s.step,
      sessions: 0,
      stepConversion: null,
      overallConversion: null,
      dropOff: 0,
      dropOffRate: null,
    })),
  }
  return {
    asOf,
    overall,
    byDevice: groups.filter((g) => g.dimension === 'device'),
    byCountry: groups.filter((g) => g.dimension === 'country'),
  }
}

export interface RunFunnelOptions {
  /**
   * Shop views already registered in this engine (by registerShopViews): used as they are, so several analyses of
   * one run read one snapshot and one as-of day. Without it the run registers them itself.
   */
  views?: ShopViews
  lake: string
  asOf?: string
}

/** Registers the shop views, computes the funnel and saves `analytics/funnel`. */
export async function runFunnel(engine: Engine, options: RunFunnelOptions): Promise<FunnelResult> {
  const views = options.views ?? (await registerShopViews(engine, options.lake, {asOf: options.asOf}))
  const result = await computeFunnel(engine, views.asOf)
  const run: RunInfo = {
    analysis: 'funnel',
    parameters: {asOf: options.asOf ?? null, steps: FUNNEL_STEPS.map((s) => s.step)},
    asOf: views.asOf,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ranAt: new Date().toISOString(),
    summary: {overall: result.overall},
  }
  await saveResult(
    engine,
    options.lake,
    FUNNEL_RESULT,
    `SELECT dimension, value, step_index, step, sessions, step_conversion, overall_conversion, drop_off, drop_off_rate
     FROM ${FUNNEL_TABLE} ORDER BY dimension, value, step_index`,
    run,
  )
  return {
    analysis: 'funnel',
    lake: options.lake,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ...result,
    saved: resultPath(options.lake, FUNNEL_RESULT),
  }
}
