import type {Engine} from '../engine/engine.js'
import {sqlIdentifier} from '../engine/sql.js'
import {DataError, UsageError} from '../errors.js'
import {DEAD_LETTERS_TABLE} from '../lake/dead-letters.js'
import {listCommitVersions, type Snapshot} from '../lake/delta-log.js'
import {EVENTS_TABLE, tablePath} from '../lake/lake.js'
import {registerTableView} from '../lake/views.js'
import {extractSourceOf} from './extract-source.js'
import {registerUniqueEvents} from './unique-events.js'

export interface ShopViews {
  /** The last day included (UTC): events before the end of this day are seen, later ones are not. */
  asOf: string
  /** The version of the events table the views read; with asOf it pins down a run's input. */
  eventsVersion: number
  /** Copies of an event_id already seen, up to the cut, that the views set aside (listed in `duplicate_events`). */
  duplicateEvents: number
  /**
   * The time of the latest event in the snapshot, cut or not (ISO 8601, UTC): when it lies before the end of `asOf`,
   * the as-of day is not over in the data, and a report must not read its totals as a whole day's.
   */
  latestEventTime: string | null
}

/**
 * Registers the shop as DuckDB views over one snapshot of the lake, cut at the end of `asOf` (default: the day of the
 * latest event, so reruns on an unchanged lake give the same result whatever the clock says):
 * - `events`: every event up to the cut, each event_id once (the first by event_time; see registerUniqueEvents);
 * - `duplicate_events`: the copies `events` sets aside;
 * - `orders`: one row per purchase, with refunds up to the cut netted out (`net_total` never below zero);
 * - `order_items`: the lines of those orders;
 * - `customers`: per signed-in customer, first and last order, orders and net revenue (anonymous orders excluded);
 * - `dead_letters`, when the lake has one.
 */
export async function registerShopViews(
  engine: Engine,
  lake: string,
  options: {asOf?: string} = {},
): Promise<ShopViews> {
  const events = tablePath(lake, EVENTS_TABLE)
  if ((await listCommitVersions(events)).length === 0) {
    throw new DataError('LAKE_EMPTY', `The lake at ${lake} has no events table yet.`, {
      hints: ['ecap generate --to lake', 'ecap ingest --until-caught-up', 'ecap import orders.csv'],
    })
  }
  // A real day, not only its shape: 2026-02-30 fails DuckDB's DATE cast, and JavaScript's Date rolls it over to
  // March 2, so another engine's cut (computed here in TypeScript) would read days the run is not labelled with.
  if (options.asOf !== undefined && !isCalendarDay(options.asOf)) {
    throw new UsageError('AS_OF_INVALID', `--as-of ${options.asOf} is not a date.`, {hints: ['--as-of 2026-06-30']})
  }
  await dropShopCaches(engine)
  // Another engine runs the extract: it pins the same snapshot and cut and fills `orders` itself.
  const source = extractSourceOf(engine)
  if (source) return source.registerShop(engine, lake, options)
  const snapshot = await registerTableView(engine, '__lake_events', events, {rowIds: true})
  const latestTime = latestTimeOf(snapshot) ?? (await latestTimeScanned(engine))
  const latestDay = latestTime?.slice(0, 10)
  const asOf = options.asOf ?? latestDay
  if (!asOf) {
    throw new DataError('LAKE_EMPTY', `The events table in ${lake} has no rows yet.`, {
      hints: ['ecap generate --to lake', 'ecap ingest --until-caught-up'],
    })
  }
  // Views cannot take parameters, so the cut is a literal: a flag value checked against the date pattern above, or
  // the text of DuckDB's own DATE cast.
  const cut = `(DATE '${asOf}' + INTERVAL 1 DAY)`
  // When the statistics show no event after the cut, the filter would drop nothing and still cost every scan a
  // comparison per event (about 0.15 s per pass over 10M events).
  const cutsNothing = latestDay !== undefined && latestDay <= asOf
  await engine.run(
    `CREATE OR REPLACE TEMP VIEW __cut_events AS SELECT * FROM __lake_events${cutsNothing ? '' : ` WHERE event_time < ${cut}`}`,
  )
  const {duplicateEvents} = await registerUniqueEvents(engine, '__cut_events', 'events', 'duplicate_events')
  await engine.run(`
    CREATE OR REPLACE TEMP VIEW orders AS
    -- One scan of the events for both: reading a column of the lake decodes it for every event, whatever the filter.
    WITH purchases_and_refunds AS MATERIALIZED (
      SELECT event_type, order_id, customer_id, session_id, event_time, event_date, device, ip_country, billing_country,
             shipping_country, payment_method, card_fingerprint, currency, items, total, amount, reason
      FROM events WHERE event_type IN ('purchase', 'refund')
    ),
    refunds AS (
      SELECT order_id, sum(amount) AS refunded, count(*) AS refund_count, bool_or(reason = 'chargeback') AS chargeback
      FROM purchases_and_refunds WHERE event_type = 'refund' GROUP BY order_id
    )
    SELECT p.order_id, p.customer_id, p.session_id, p.event_time AS order_time, p.event_date AS order_date,
           p.device, p.ip_country, p.billing_country, p.shipping_country, p.payment_method, p.card_fingerprint,
           p.currency, p.items, CAST(list_sum([i.quantity FOR i IN p.items]) AS INTEGER) AS units,
           p.total, coalesce(r.refunded, 0) AS refunded, greatest(p.total - coalesce(r.refunded, 0), 0) AS net_total,
           coalesce(r.refund_count, 0) AS refund_count, coalesce(r.chargeback, false) AS chargeback
    FROM purchases_and_refunds p LEFT JOIN refunds r USING (order_id)
    WHERE p.event_type = 'purchase'`)
  await engine.run(`CREATE OR REPLACE TEMP VIEW order_items AS ${ORDER_ITEMS_VIEW_SQL}`)
  await engine.run(`CREATE OR REPLACE TEMP VIEW customers AS ${CUSTOMERS_VIEW_SQL}`)
  await registerDeadLetters(engine, lake)
  return {asOf, eventsVersion: snapshot.version, duplicateEvents, latestEventTime: latestTime ?? null}
}

/** Whether `text` is a day of the calendar written YYYY-MM-DD. */
function isCalendarDay(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false
  const time = Date.parse(`${text}T00:00:00Z`)
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === text
}

/** The `order_items` view: the lines of the orders of the `orders` view. */
export const ORDER_ITEMS_VIEW_SQL = `
    SELECT order_id, customer_id, order_time, order_date, item.product_id, item.quantity, item.unit_price,
           item.quantity * item.unit_price AS line_total
    FROM (SELECT order_id, customer_id, order_time, order_date, unnest(items) AS item FROM orders)`

/** The `customers` view: per signed-in customer of the `orders` view, first and last order, orders and net revenue. */
export const CUSTOMERS_VIEW_SQL = `
    SELECT customer_id, min(order_time) AS first_order_time, max(order_time) AS last_order_time,
           count(*) AS orders, sum(net_total) AS net_revenue, sum(refunded) AS refunded
    FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id`

/** Registers the lake's dead letters as the view `dead_letters`, when the lake has that table. */
export async function registerDeadLetters(engine: Engine, lake: string): Promise<void> {
  const deadLetters = tablePath(lake, DEAD_LETTERS_TABLE)
  if ((await listCommitVersions(deadLetters)).length > 0) {
    await registerTableView(engine, 'dead_letters', deadLetters)
  }
}

/**
 * The time of the latest event (ISO 8601, UTC) from the log's file statistics, without reading the data; undefined
 * when a file has none (another writer may leave them out), so the caller reads the data instead.
 */
export function latestTimeOf(snapshot: Snapshot): string | undefined {
  let latest: number | undefined
  for (const add of snapshot.files.values()) {
    let max: unknown
    try {
      max = (JSON.parse(add.stats ?? '{}') as {maxValues?: Record<string, unknown>}).maxValues?.event_time
    } catch {
      return undefined
    }
    // Only a time with its zone: one without would be read in the machine's.
    const time = typeof max === 'string' && /(Z|[+-]\d{2}:?\d{2})$/.test(max) ? Date.parse(max) : Number.NaN
    if (Number.isNaN(time)) return undefined
    latest = Math.max(latest ?? time, time)
  }
  return latest === undefined ? undefined : new Date(latest).toISOString()
}

async function latestTimeScanned(engine: Engine): Promise<string | undefined> {
  const [latest] = await engine.rows(
    `SELECT strftime(max(event_time) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS time FROM __lake_events`,
  )
  return (latest?.time as string | null) ?? undefined
}

/** The warning a command prints when its shop views set copies of events aside; undefined when there were none. */
export function duplicatesWarning(duplicateEvents: number): string | undefined {
  if (duplicateEvents === 0) return undefined
  const copies = duplicateEvents === 1 ? 'copy' : 'copies'
  return `Set aside ${duplicateEvents.toLocaleString('en-US')} duplicate ${copies} of events (an event_id seen before); each event was counted once. List them with: ecap query "SELECT * FROM duplicate_events"`
}

/** Tables derived from the shop views of an engine, kept until the views are registered again. */
const shopCaches = new WeakMap<Engine, Set<string>>()

/**
 * Creates the temp table `name` from `query` over the shop views, unless this registration of the views already made
 * it: the analyses of one `analyze all` share what each would otherwise compute again (the orders, the sessions), and
 * registerShopViews drops them all, so a table never outlives the snapshot and as-of day it was computed from. `query`
 * may be a function that picks the query when the table is made. When an extract source is bound to the engine and
 * provides the table, it fills the table from the other engine instead of the query.
 */
export async function cacheShopTable(
  engine: Engine,
  name: string,
  query: string | (() => Promise<string>),
): Promise<void> {
  const cached = shopCaches.get(engine) ?? new Set<string>()
  shopCaches.set(engine, cached)
  if (cached.has(name)) return
  const source = extractSourceOf(engine)
  if (source?.provides(name)) {
    await source.fill(engine, name)
    cached.add(name)
    return
  }
  // A function when choosing the query costs a statement of its own, so a table already made does not pay it again.
  const sql = typeof query === 'string' ? query : await query()
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${sqlIdentifier(name)} AS ${sql}`)
  cached.add(name)
}

/** Records that `name` was made for this registration of the shop views, so the next registration drops it. */
export function markShopTable(engine: Engine, name: string): void {
  const cached = shopCaches.get(engine) ?? new Set<string>()
  shopCaches.set(engine, cached)
  cached.add(name)
}

async function dropShopCaches(engine: Engine): Promise<void> {
  const cached = shopCaches.get(engine)
  if (!cached) return
  for (const name of cached) await engine.run(`DROP TABLE IF EXISTS ${sqlIdentifier(name)}`)
  cached.clear()
}
