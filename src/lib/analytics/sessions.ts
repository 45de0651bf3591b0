import type {Engine} from '../engine/engine.js'

/** The funnel steps in order; step 1 is any visit, the others the first event of their type after the step before. */
export const FUNNEL_STEPS = [
  {step: 'visit', eventType: null},
  {step: 'product_view', eventType: 'product_view'},
  {step: 'add_to_cart', eventType: 'add_to_cart'},
  {step: 'checkout_started', eventType: 'checkout_started'},
  {step: 'purchase', eventType: 'purchase'},
] as const

export type FunnelStepName = (typeof FUNNEL_STEPS)[number]['step']

/** Temp table of one row per visit, shared by the KPIs and the funnel. */
export const SESSIONS_TABLE = 'analytics_sessions'

const stepCase = `CASE event_type ${FUNNEL_STEPS.slice(1)
  .map((s, i) => `WHEN '${s.eventType}' THEN ${i + 2}`)
  .join(' ')} END`

/**
 * One row per visit over the `events` view, in one scan: start, day, device and country (of its first event), whether
 * it holds a purchase, and `funnel_step`, the furthest funnel step it reached in order (1 = visit ... 5 = purchase).
 * The step is found by walking the session's funnel events in time order (ties in funnel order) and moving on only on
 * the next step's event, so a purchase without a checkout before it does not complete the funnel.
 * Refund events are left out: the shop's back office issues them in sessions of their own, which are not visits
 * and would dilute conversion.
 */
export const SESSIONS_SQL = `
  SELECT session_id,
         min(event_time) AS start_time,
         CAST(min(event_time) AS DATE) AS day,
         arg_min(device, event_time) AS device,
         arg_min(ip_country, event_time) AS country,
         bool_or(event_type = 'purchase') AS converted,
         CAST(list_reduce(
           coalesce(list(${stepCase} ORDER BY event_time, ${stepCase}) FILTER (WHERE ${stepCase} IS NOT NULL), []),
           lambda reached, step: CASE WHEN step = reached + 1 THEN step ELSE reached END,
           1) AS INTEGER) AS funnel_step
  FROM events
  WHERE event_type <> 'refund'
  GROUP BY session_id`

/** Builds the sessions table (SESSIONS_TABLE) from the `events` view. */
export async function buildSessions(engine: Engine): Promise<void> {
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${SESSIONS_TABLE} AS ${SESSIONS_SQL}`)
}

/**
 * Materialises the `orders` view once and points the view at the copy, so the several queries of an analysis (and the
 * `customers` and `order_items` views, which read `orders` by name) stop re-reading and re-joining every purchase and
 * refund of the lake. The rows are the same; registerShopViews defines the view afresh on the next registration.
 */
export async function cacheOrders(engine: Engine): Promise<void> {
  const [row] = await engine.rows(
    "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'analytics_orders_cache' AND temporary",
  )
  const cached = Number(row?.n ?? 0) > 0
  const [view] = await engine.rows("SELECT sql FROM duckdb_views() WHERE view_name = 'orders' AND temporary")
  if (cached && String(view?.sql ?? '').includes('analytics_orders_cache')) return
  await engine.run('CREATE OR REPLACE TEMP TABLE analytics_orders_cache AS SELECT * FROM orders')
  await engine.run('CREATE OR REPLACE TEMP VIEW orders AS SELECT * FROM analytics_orders_cache')
}
