import type {Engine} from '../engine/engine.js'
import {utcDate} from '../engine/sql.js'
import {cacheShopTable} from '../shop/views.js'

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

/** Temp table of one row per (session, customer, device, IP country) of the events: see SESSION_PARTS_SQL. */
export const SESSION_PARTS_TABLE = 'analytics_session_parts'

const stepCase = `CASE event_type ${FUNNEL_STEPS.slice(1)
  .map((s, i) => `WHEN '${s.eventType}' THEN ${i + 2}`)
  .join(' ')} END`

/** First and last time of each funnel step's events (steps 2-5): `first_2` ... `last_5`. */
const stepTimes = FUNNEL_STEPS.slice(1)
  .flatMap((s, i) => [
    `min(event_time) FILTER (WHERE event_type = '${s.eventType}') AS first_${i + 2}`,
    `max(event_time) FILTER (WHERE event_type = '${s.eventType}') AS last_${i + 2}`,
  ])
  .join(',\n         ')

/**
 * The one pass over the `events` view that the sessions and the fraud features share: per (session, customer, device,
 * IP country), when it was first and last seen (any event), when its first event that is not a refund happened, whether
 * it holds a purchase, and the first and last time of each funnel step. Grouping by the four columns, not the session alone,
 * keeps what fraud needs (when each device and IP country of a customer was first seen); SESSIONS_SQL rolls a
 * session's rows up again.
 */
export const SESSION_PARTS_SQL = `
  SELECT session_id, customer_id, device, ip_country,
         min(event_time) AS first_seen,
         max(event_time) AS last_seen,
         min(event_time) FILTER (WHERE event_type <> 'refund') AS visit_start,
         bool_or(event_type = 'purchase') AS converted,
         ${stepTimes}
  FROM events
  GROUP BY session_id, customer_id, device, ip_country`

/**
 * The furthest funnel step a session reached, from the first and last time of each step: walking the funnel events in
 * time order (ties in funnel order), step k is reached at the first step-k event at or after the time step k-1 was
 * reached. When the first step-k event is that late, it is the one; when even the last is earlier, the walk stops
 * at k-1. Otherwise (a step-k event before step k-1 and another after it) the times cannot tell, and the result is
 * NULL: buildSessions walks those sessions' events one by one (FUNNEL_WALK_SQL).
 */
export const FUNNEL_STEP_SQL = `CASE
           WHEN first_2 IS NULL THEN 1
           WHEN first_3 IS NULL OR last_3 < first_2 THEN 2
           WHEN first_3 < first_2 THEN NULL
           WHEN first_4 IS NULL OR last_4 < first_3 THEN 3
           WHEN first_4 < first_3 THEN NULL
           WHEN first_5 IS NULL OR last_5 < first_4 THEN 4
           WHEN first_5 < first_4 THEN NULL
           ELSE 5 END`

/** The step times of a session: `first_2`, `last_2` ... `first_5`, `last_5`. */
const stepColumns = (roll: (column: string, min: boolean) => string) =>
  FUNNEL_STEPS.slice(1)
    .map(
      (_, i) => `${roll(`first_${i + 2}`, true)} AS first_${i + 2}, ${roll(`last_${i + 2}`, false)} AS last_${i + 2}`,
    )
    .join(',\n           ')

/** The parts of each session rolled up into one row: when it began, its first device and country, and so on. */
const ROLLED_UP_PARTS = `
    SELECT session_id,
           min(visit_start) AS start_time,
           arg_min(device, visit_start) AS device,
           arg_min(ip_country, visit_start) AS country,
           bool_or(converted) AS converted,
           ${stepColumns((c, min) => `${min ? 'min' : 'max'}(${c})`)}
    FROM ${SESSION_PARTS_TABLE}
    WHERE visit_start IS NOT NULL
    GROUP BY session_id`

/**
 * The same rows as ROLLED_UP_PARTS when no two parts (of those with a visit start) share a session_id: a part alone is
 * its session, and the min, max, arg_min and bool_or of one row are that row's values.
 */
const PARTS_AS_SESSIONS = `
    SELECT session_id,
           visit_start AS start_time,
           device,
           ip_country AS country,
           converted,
           ${stepColumns((c) => c)}
    FROM ${SESSION_PARTS_TABLE}
    WHERE visit_start IS NOT NULL`

/**
 * One row per visit, from the session parts: start, day, device and country (of its first event), whether it holds a
 * purchase, and `funnel_step`, the furthest funnel step it reached in order (1 = visit ... 5 = purchase), so a
 * purchase without a checkout before it does not complete the funnel (FUNNEL_STEP_SQL).
 * Refund events are left out: the shop's back office issues them in sessions of their own, which are not visits
 * and would dilute conversion. `onePartEach` (every session one part, see sessionsHaveOnePartEach) skips the roll-up.
 */
export function sessionsSql(onePartEach: boolean): string {
  return `
  SELECT session_id, start_time, ${utcDate('start_time')} AS day, device, country, converted,
         CAST(${FUNNEL_STEP_SQL} AS INTEGER) AS funnel_step
  FROM (${onePartEach ? PARTS_AS_SESSIONS : ROLLED_UP_PARTS}
  )`
}

/**
 * Whether no two session parts with a visit start share a session_id (NULLs alike, as GROUP BY has them). One sort of
 * the session_id hashes, as registerUniqueEvents does for event_ids: on the 2.2M parts of a 10M-event shop it costs
 * about a tenth of the roll-up it spares (a session usually keeps one customer, device and IP country). When a hash
 * repeats, colliding or not, the answer is no and the roll-up runs.
 */
async function sessionsHaveOnePartEach(engine: Engine): Promise<boolean> {
  const [repeated] = await engine.rows(`
    SELECT count(*)::BIGINT AS n FROM (
      SELECT h, lead(h) OVER (ORDER BY h) AS next
      FROM (SELECT hash(session_id) AS h FROM ${SESSION_PARTS_TABLE} WHERE visit_start IS NOT NULL)
    ) WHERE h = next`)
  return Number(repeated?.n) === 0
}

/** Temp table of the funnel step of each session FUNNEL_STEP_SQL left undecided, walked event by event. */
export const FUNNEL_WALKS_TABLE = 'analytics_funnel_walks'

/**
 * The funnel step of the sessions FUNNEL_STEP_SQL left undecided, by walking each one's funnel events in time order
 * (ties in funnel order) and moving on only on the next step's event.
 */
const FUNNEL_WALK_SQL = `
  SELECT session_id,
         CAST(list_reduce(
           coalesce(list(${stepCase} ORDER BY event_time, ${stepCase}) FILTER (WHERE ${stepCase} IS NOT NULL), []),
           lambda reached, step: CASE WHEN step = reached + 1 THEN step ELSE reached END,
           1) AS INTEGER) AS funnel_step
  FROM events
  WHERE event_type <> 'refund'
    AND (session_id IN (SELECT session_id FROM ${SESSIONS_TABLE} WHERE funnel_step IS NULL)
         OR session_id IS NULL AND EXISTS (SELECT 1 FROM ${SESSIONS_TABLE} WHERE session_id IS NULL AND funnel_step IS NULL))
  GROUP BY session_id`

/**
 * Builds the session parts table (SESSION_PARTS_TABLE) from the `events` view, unless this registration of the shop
 * views already has it (registerShopViews drops it).
 */
export async function buildSessionParts(engine: Engine): Promise<void> {
  await cacheShopTable(engine, SESSION_PARTS_TABLE, SESSION_PARTS_SQL)
}

/** Builds the sessions table (SESSIONS_TABLE), once per registration of the shop views. */
export async function buildSessions(engine: Engine): Promise<void> {
  await buildSessionParts(engine)
  await cacheShopTable(engine, SESSIONS_TABLE, async () => sessionsSql(await sessionsHaveOnePartEach(engine)))
  const [undecided] = await engine.rows(
    `SELECT count(*)::INTEGER AS n FROM ${SESSIONS_TABLE} WHERE funnel_step IS NULL`,
  )
  if (Number(undecided?.n ?? 0) === 0) return
  // Rare (a step's event both before and after the step before it): one more pass over those sessions' events.
  await cacheShopTable(engine, FUNNEL_WALKS_TABLE, FUNNEL_WALK_SQL)
  await engine.run(
    `UPDATE ${SESSIONS_TABLE} s SET funnel_step = w.funnel_step FROM ${FUNNEL_WALKS_TABLE} w
     WHERE s.session_id IS NOT DISTINCT FROM w.session_id`,
  )
}

/** Temp table holding the rows of the `orders` view, once cacheOrders ran. */
export const ORDERS_CACHE_TABLE = 'analytics_orders_cache'

/**
 * Materialises the `orders` view once and points the view at the copy, so the several queries of an analysis (and the
 * `customers` and `order_items` views, which read `orders` by name) stop re-reading and re-joining every purchase and
 * refund of the lake. The rows are the same; registerShopViews defines the view afresh on the next registration.
 */
export async function cacheOrders(engine: Engine): Promise<void> {
  const [view] = await engine.rows("SELECT sql FROM duckdb_views() WHERE view_name = 'orders' AND temporary")
  if (String(view?.sql ?? '').includes(ORDERS_CACHE_TABLE)) return
  await cacheShopTable(engine, ORDERS_CACHE_TABLE, 'SELECT * FROM orders')
  await engine.run(`CREATE OR REPLACE TEMP VIEW orders AS SELECT * FROM ${ORDERS_CACHE_TABLE}`)
}

/** Temp table of each product's category: the one it was last shown with (the contract carries it on product views). */
export const CATALOGUE_TABLE = 'analytics_catalogue'

/** Builds the catalogue table (CATALOGUE_TABLE), once per registration of the shop views. */
export async function buildCatalogue(engine: Engine): Promise<void> {
  await cacheShopTable(
    engine,
    CATALOGUE_TABLE,
    `SELECT product_id, arg_max(category, event_time) AS category
     FROM events WHERE product_id IS NOT NULL AND category IS NOT NULL GROUP BY product_id`,
  )
}

/** The time of the last event up to the cut, from the session parts (every event lies in one). */
export async function lastEventTimeMs(engine: Engine): Promise<number> {
  await buildSessionParts(engine)
  const [last] = await engine.rows(`SELECT epoch_ms(max(last_seen))::DOUBLE AS t FROM ${SESSION_PARTS_TABLE}`)
  return Number(last?.t)
}
