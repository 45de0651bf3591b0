/**
 * The extract queries in Trino's dialect: the same rows as the DuckDB views and tables they stand in for (shop/views.ts,
 * analytics/sessions.ts), read from one version of the events table and cut at the end of the as-of day. Where the
 * dialects differ silently, the translation says so beside the line. Values leave Trino in a form that survives its
 * JSON pages exactly: times as whole milliseconds since the epoch, decimals and dates as text, nested values as JSON
 * text (load-rows.ts turns each back into the local column's type).
 */
import {FUNNEL_STEP_SQL, FUNNEL_STEPS} from '../analytics/sessions.js'
import {trinoIdentifier} from '../trino/settings.js'

/** Which rows of the events table an extract reads. */
export interface TrinoPin {
  /** The events table, quoted: "catalog"."schema"."table". */
  table: string
  /** The Delta version ecap read; every extract of a run reads this one (FOR VERSION AS OF). */
  version: number
  /** The first day after the as-of day (YYYY-MM-DD): events at or after its midnight UTC are cut. */
  cutDay: string
  /**
   * Whether the cut drops nothing (no event after the as-of day): then, as registerShopViews does, no filter runs, and
   * an event without an event_time stays in as it does in DuckDB (a filter would drop it).
   */
  cutsNothing: boolean
  /**
   * The events table's columns in the order DuckDB's view has them (data columns, then partition columns), each with
   * its Delta type (a name such as `string`, or the JSON of an array or struct type).
   */
  columns: {name: string; type: unknown}[]
  /** Whether some event_id repeats below the cut: only then do the queries pay for setting copies aside. */
  hasCopies: boolean
}

/** Whole milliseconds since the epoch: exact in a JSON number, unlike Trino's text form of a zoned time. */
export function millis(expression: string): string {
  return `date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00 UTC', ${expression})`
}

/** The events of the snapshot up to the cut, as `raw`. */
function rawEvents(pin: TrinoPin): string {
  if (!Number.isSafeInteger(pin.version) || pin.version < 0) throw new Error(`Bad table version ${pin.version}`)
  if (!/^\d{4}-\d{2}-\d{2}$/.test(pin.cutDay)) throw new Error(`Bad cut day ${pin.cutDay}`)
  // Literals, not parameters: Trino takes parameters only through PREPARE/EXECUTE, and both values are ecap's own
  // (a version from the Delta log, a day checked against the date pattern above).
  const cut = pin.cutsNothing ? '' : `\n    WHERE event_time < TIMESTAMP '${pin.cutDay} 00:00:00 UTC'`
  return `raw AS (
    SELECT * FROM ${pin.table} FOR VERSION AS OF ${pin.version}${cut}
  )`
}

/**
 * The hashes of the event_ids seen more than once. Grouping 8-byte hashes needs a fraction of the memory that grouping
 * the ids themselves does (a 10M-event lake overran the 512 MB a node of 1 GB heap gives one query); a hash that
 * repeats only sends its few ids on to the exact check, as registerUniqueEvents does in DuckDB.
 */
const REPEATED_HASHES = `repeated_hashes AS (
    SELECT h FROM (SELECT xxhash64(to_utf8(event_id)) AS h FROM raw WHERE event_id IS NOT NULL)
    GROUP BY h HAVING count(*) > 1
  )`

/** The event_ids seen more than once, among those of a repeated hash. */
const REPEATED_IDS = `SELECT event_id, count(*) AS n FROM raw
    WHERE event_id IS NOT NULL AND xxhash64(to_utf8(event_id)) IN (SELECT h FROM repeated_hashes)
    GROUP BY event_id HAVING count(*) > 1`

/**
 * The `events` CTE: each event_id once, as registerUniqueEvents keeps it in DuckDB (the earliest by event_time, then
 * the first by content, every column in the table's order with NULLs last; rows without an event_id all kept). Only
 * the rows of a repeated event_id go through the window.
 */
export function uniqueEvents(pin: TrinoPin): string {
  if (!pin.hasCopies) return `WITH ${rawEvents(pin)}, events AS (SELECT * FROM raw)`
  const columns = pin.columns.map((c) => trinoIdentifier(c.name))
  const byContent = pin.columns.map((c) => `${contentKey(trinoIdentifier(c.name), c.type)} NULLS LAST`).join(', ')
  return `WITH ${rawEvents(pin)},
  ${REPEATED_HASHES},
  repeated AS (${REPEATED_IDS}),
  events AS (
    SELECT ${columns.join(', ')} FROM raw WHERE event_id IS NULL OR event_id NOT IN (SELECT event_id FROM repeated)
    UNION ALL
    SELECT ${columns.join(', ')} FROM (
      SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time NULLS LAST, ${byContent}) AS copy_rank
      FROM raw WHERE event_id IN (SELECT event_id FROM repeated)
    ) WHERE copy_rank = 1
  )`
}

/** A value of each Delta primitive type that stands in for NULL inside an order key (after the flag that says NULL). */
const NULL_STAND_INS: Record<string, string> = {
  string: "''",
  integer: '0',
  long: '0',
  short: '0',
  byte: '0',
  float: '0',
  double: '0',
  boolean: 'false',
  binary: "X''",
  date: "DATE '1970-01-01'",
  timestamp: "TIMESTAMP '1970-01-01 00:00:00 UTC'",
  timestamp_ntz: "TIMESTAMP '1970-01-01 00:00:00'",
}

type NestedType = {type: 'array'; elementType: unknown} | {type: 'struct'; fields: {name: string; type: unknown}[]}

/**
 * What ORDER BY compares for a column, so Trino orders rows as DuckDB does. A primitive column is itself (its NULL
 * goes last by NULLS LAST). A nested one (the order lines) becomes the same shape without NULLs inside: Trino refuses
 * to compare a ROW or ARRAY that holds a NULL ("ROW comparison not supported for fields with null elements"), where
 * DuckDB orders a NULL inside a list or struct after every value. So each element and field becomes ROW(is it NULL,
 * its value or a stand-in), and a NULL sorts after any value there too. A type with no key here (a map, an array
 * inside an array) compares as it is.
 */
export function contentKey(expression: string, type: unknown, depth = 0): string {
  if (typeof type === 'string') return expression
  const nested = type as NestedType
  if (nested.type === 'array') {
    const element = `x${depth}`
    const inner = innerKey(element, nested.elementType, depth + 1)
    return inner === undefined ? expression : `transform(${expression}, ${element} -> ${inner})`
  }
  if (nested.type === 'struct') {
    const fields = nested.fields.map((f) => innerKey(`${expression}.${trinoIdentifier(f.name)}`, f.type, depth))
    return fields.some((f) => f === undefined) ? expression : `ROW(${fields.join(', ')})`
  }
  return expression
}

/** The key of a value that may be NULL inside a nested one: ROW(is NULL, value or stand-in); undefined when none. */
function innerKey(expression: string, type: unknown, depth: number): string | undefined {
  if (typeof type === 'string') {
    const standIn = /^decimal\(/.test(type) ? '0' : NULL_STAND_INS[type]
    return standIn === undefined ? undefined : `ROW(${expression} IS NULL, coalesce(${expression}, ${standIn}))`
  }
  const nested = type as NestedType
  if (nested.type !== 'struct') return undefined
  // A NULL struct's fields are NULL too: the flag before them already puts it last.
  const fields = nested.fields.map((f) => innerKey(`${expression}.${trinoIdentifier(f.name)}`, f.type, depth))
  return fields.some((f) => f === undefined) ? undefined : `ROW(${expression} IS NULL, ${fields.join(', ')})`
}

/** How many copies of an already seen event_id lie below the cut (what `events` sets aside). */
export function copiesSql(pin: TrinoPin): string {
  return `WITH ${rawEvents({...pin, hasCopies: false})},
  ${REPEATED_HASHES},
  repeated AS (${REPEATED_IDS})
  SELECT CAST(coalesce(sum(n - 1), 0) AS bigint) AS copies FROM repeated`
}

/** The latest event time of a version (ms), for a log whose files carry no statistics. */
export function latestTimeSql(table: string, version: number): string {
  if (!Number.isSafeInteger(version) || version < 0) throw new Error(`Bad table version ${version}`)
  return `SELECT ${millis('max(event_time)')} FROM ${table} FOR VERSION AS OF ${version}`
}

/** The rows of the `orders` view (shop/views.ts): each purchase with its refunds up to the cut netted out. */
export function ordersSql(pin: TrinoPin): string {
  return `${uniqueEvents(pin)},
  purchases_and_refunds AS (
    SELECT event_type, order_id, customer_id, session_id, event_time, event_date, device, ip_country, billing_country,
           shipping_country, payment_method, card_fingerprint, currency, items, total, amount, reason
    FROM events WHERE event_type IN ('purchase', 'refund')
  ),
  refunds AS (
    SELECT order_id, sum(amount) AS refunded, count(*) AS refund_count, bool_or(reason = 'chargeback') AS chargeback
    FROM purchases_and_refunds WHERE event_type = 'refund' GROUP BY order_id
  ),
  joined AS (
    SELECT p.*, coalesce(r.refunded, 0) AS refunded_total, r.refund_count, r.chargeback AS charged_back
    FROM purchases_and_refunds p LEFT JOIN refunds r ON r.order_id = p.order_id
    WHERE p.event_type = 'purchase'
  )
  SELECT order_id, customer_id, session_id, ${millis('event_time')} AS order_time,
         CAST(event_date AS varchar) AS order_date, device, ip_country, billing_country, shipping_country,
         payment_method, card_fingerprint, currency,
         -- Unit prices as text inside the JSON, so no decimal passes through a binary float.
         json_format(CAST(transform(items, i -> CAST(ROW(i.product_id, i.quantity, CAST(i.unit_price AS varchar))
           AS ROW(product_id varchar, quantity integer, unit_price varchar))) AS JSON)) AS items,
         -- DuckDB's list_sum: NULL for a NULL or empty list, NULL quantities skipped.
         reduce(items, CAST(NULL AS bigint), (s, i) -> IF(i.quantity IS NULL, s, coalesce(s, 0) + i.quantity), s -> s)
           AS units,
         CAST(total AS varchar) AS total,
         CAST(refunded_total AS varchar) AS refunded,
         -- DuckDB's greatest skips a NULL argument where Trino's returns NULL: a purchase without a total nets to 0.
         CAST(CASE WHEN total - refunded_total IS NULL THEN 0 ELSE greatest(total - refunded_total, 0) END AS varchar)
           AS net_total,
         coalesce(refund_count, 0) AS refund_count,
         coalesce(charged_back, false) AS chargeback
  FROM joined`
}

const STEP_EVENTS = FUNNEL_STEPS.slice(1).map((s, i) => ({eventType: s.eventType as string, step: i + 2}))

/** SESSION_PARTS_SQL of analytics/sessions.ts: one row per (session, customer, device, IP country). */
export function sessionPartsSql(pin: TrinoPin): string {
  const stepTimes = STEP_EVENTS.flatMap(({eventType, step}) => [
    `${millis(`min(event_time) FILTER (WHERE event_type = '${eventType}')`)} AS first_${step}`,
    `${millis(`max(event_time) FILTER (WHERE event_type = '${eventType}')`)} AS last_${step}`,
  ]).join(',\n         ')
  return `${uniqueEvents(pin)}
  SELECT session_id, customer_id, device, ip_country,
         ${millis('min(event_time)')} AS first_seen,
         ${millis('max(event_time)')} AS last_seen,
         ${millis("min(event_time) FILTER (WHERE event_type <> 'refund')")} AS visit_start,
         bool_or(event_type = 'purchase') AS converted,
         ${stepTimes}
  FROM events
  GROUP BY session_id, customer_id, device, ip_country`
}

/** The catalogue of analytics/sessions.ts: each product's category, the one it was last shown with. */
export function catalogueSql(pin: TrinoPin): string {
  return `${uniqueEvents(pin)}
  SELECT product_id, max_by(category, event_time) AS category
  FROM events WHERE product_id IS NOT NULL AND category IS NOT NULL GROUP BY product_id`
}

/**
 * FUNNEL_WALK_SQL of analytics/sessions.ts: the funnel step of the sessions whose step times cannot decide it, by
 * walking their funnel events in time order (ties in funnel order). Trino finds those sessions itself, from the same
 * step times, so only their few rows come back.
 */
export function funnelWalksSql(pin: TrinoPin): string {
  const stepCase = `CASE event_type ${STEP_EVENTS.map(({eventType, step}) => `WHEN '${eventType}' THEN ${step}`).join(' ')} END`
  const stepTimes = STEP_EVENTS.flatMap(({step}) => [
    `min(event_time) FILTER (WHERE step = ${step}) AS first_${step}`,
    `max(event_time) FILTER (WHERE step = ${step}) AS last_${step}`,
  ]).join(', ')
  return `${uniqueEvents(pin)},
  steps AS (SELECT session_id, event_time, ${stepCase} AS step FROM events WHERE event_type <> 'refund'),
  rolled AS (SELECT session_id, ${stepTimes} FROM steps GROUP BY session_id),
  undecided AS (SELECT session_id FROM rolled WHERE (${FUNNEL_STEP_SQL}) IS NULL)
  SELECT s.session_id,
         reduce(coalesce(array_agg(s.step ORDER BY s.event_time, s.step) FILTER (WHERE s.step IS NOT NULL),
                       CAST(ARRAY[] AS array(integer))), 1,
                (reached, step) -> CASE WHEN step = reached + 1 THEN step ELSE reached END, reached -> reached)
           AS funnel_step
  FROM steps s JOIN undecided u ON s.session_id IS NOT DISTINCT FROM u.session_id
  GROUP BY s.session_id`
}
