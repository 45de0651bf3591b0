import type {Json} from '@duckdb/node-api'
import type {Engine} from '../../engine/engine.js'
import {buildSessionParts, SESSION_PARTS_TABLE} from '../sessions.js'

/**
 * What is known about an order at the moment it is placed: everything here is computed from events strictly before
 * the order (or, for what a visit reveals, before the visit began), never from the order's future. The same
 * values can be kept per customer, card and country as running state, which is how live scoring would compute them.
 *
 * Counts are of earlier orders (the order itself is not counted) unless the name says otherwise. Nulls mean "no
 * history to compare with" (a guest checkout, a first order, a shop too young for country shares); rules on a null
 * feature do not fire.
 */
export interface FraudFeatures {
  /** Earlier orders of the same customer in the last 10 minutes, hour and day. */
  customer_orders_10m: number | null
  customer_orders_1h: number | null
  customer_orders_24h: number | null
  /** Earlier orders of the same customer, ever. */
  customer_prior_orders: number | null
  /** Distinct cards the customer paid with over the last 24 hours, this order's card included. */
  customer_cards_24h: number | null
  /** A returning customer pays with a card they never used before. */
  new_card: boolean | null
  /** Earlier orders paid with the same card (any customer) in the last hour and day. */
  card_orders_1h: number | null
  card_orders_24h: number | null
  /** Other customers who paid with this card in the last 30 days. */
  card_other_customers_30d: number | null
  /**
   * Other customers who paid with this card in the last 7 days while their account was under 7 days old: the
   * accounts a ring opens around one stolen card. A household sharing a card links established accounts instead.
   */
  card_new_accounts_7d: number | null
  /** Earlier orders from the same IP country in the last hour. */
  ip_country_orders_1h: number
  /** Last hour's orders from the IP country against its usual hourly rate over 30 days (1 + expected): a surge. */
  ip_country_surge: number
  /** Shares of the shop's orders in the last 30 days from this IP country and shipped to this country. */
  ip_country_share_30d: number | null
  shipping_country_share_30d: number | null
  /** Hours since the customer's first event (any kind). */
  account_age_hours: number | null
  /** The order total against the mean of the customer's earlier orders (none for a guest order: no history). */
  amount_vs_customer: number | null
  /** The order total against the mean order of the shop over the last 30 days. */
  amount_vs_shop: number | null
  billing_shipping_mismatch: boolean
  ip_billing_mismatch: boolean
  /** A customer seen before this visit, but never on this kind of device / from this IP country. */
  new_device: boolean | null
  new_ip_country: boolean | null
  /** A returning customer ships to a country they never shipped to before. */
  new_shipping_country: boolean | null
  /** Seconds from the visit's first event to the order: scripts check out in seconds, people in minutes. */
  visit_seconds: number
}

export type FraudFeatureName = keyof FraudFeatures

/** Table the feature step leaves in the session: one row per order, the order's own columns then the features. */
export const FEATURES_TABLE = 'fraud_features'

/** Orders the shop needs before a country's share of its orders means anything. */
export const MIN_ORDERS_FOR_SHARES = 100

const MICROS_PER_DAY = 86_400_000_000
const MICROS = {
  '0': 0,
  '10m': 600_000_000,
  '1h': 3_600_000_000,
  '24h': MICROS_PER_DAY,
  '7d': 7 * MICROS_PER_DAY,
  '30d': 30 * MICROS_PER_DAY,
  ever: 'UNBOUNDED',
} as const

// Frames run over the order's time in microseconds (t_us) and end one microsecond before the current row, so an order
// never sees itself, an order placed at the same instant, or anything later: the no-look-ahead guarantee lives in
// these frames. Integer frames, not TIMESTAMPTZ ones with an INTERVAL: DuckDB moves a time by an interval through
// ICU's calendar row by row, which made the windows three times as slow. In UTC the two frames hold the same rows.
const before = (span: keyof typeof MICROS) => `ORDER BY t_us RANGE BETWEEN ${MICROS[span]} PRECEDING AND 1 PRECEDING`

/**
 * Orders of a partition placed before each order's time less a span (span 0: before the order itself), as columns
 * `<name>_before_<span>`: the same rows a RANGE frame starting that span back would leave out. DuckDB evaluates RANGE
 * frames over a large partition (a country, the whole shop) on one thread, 3.3 s for the shop's last hour and 30 days
 * over 425k orders even with integer frames (tens of seconds with INTERVAL frames); here one sort
 * of the orders together with a probe per (order, span) does it: a probe sorts before the orders of its instant and
 * counts the orders sorted before it.
 */
function earlierOrders(name: string, partition: string | null, spans: ('0' | '1h' | '30d')[]): string {
  // Partitioned by a column of few values (23 countries), the same running sum took ten times as long as over the
  // whole shop: instead the partitions are laid end to end in one sort, each starting after the orders of the
  // partitions before it, which the running sum then leaves out.
  const starts =
    partition === null
      ? '(SELECT 0 AS start)'
      : `(SELECT ${partition} AS part, CAST(sum(count(*)) OVER (ORDER BY ${partition} ROWS UNBOUNDED PRECEDING) - count(*) AS BIGINT) AS start
          FROM o GROUP BY ${partition})`
  const join = partition === null ? 'CROSS JOIN' : 'JOIN'
  const on = partition === null ? '' : `ON p.part IS NOT DISTINCT FROM o.${partition}`
  return `
  SELECT rid, ${spans.map((span, i) => `CAST(max(n) FILTER (WHERE span = ${i}) AS BIGINT) AS ${name}_before_${span}`).join(', ')}
  FROM (
    -- A running sum, not count(*) FILTER: DuckDB has a fast path for the one and not for the other.
    SELECT rid, span, is_order, sum(is_order) OVER (ORDER BY start, k, is_order ROWS UNBOUNDED PRECEDING) - start AS n
    FROM (
      SELECT p.start, rid, NULL AS span, t_us AS k, 1 AS is_order FROM o ${join} ${starts} p ${on}
      UNION ALL
      SELECT p.start, rid, s.span, t_us - s.micros, 0
      FROM o ${join} ${starts} p ${on}
      CROSS JOIN (VALUES ${spans.map((span, i) => `(${i}, ${MICROS[span]})`).join(', ')}) s(span, micros)
    )
  )
  WHERE is_order = 0
  GROUP BY rid`
}

/**
 * Per-order features over the `orders` view (see shop/views.ts) and the session parts of the `events` view
 * (sessions.ts). Anonymous orders (no customer) get no customer features; orders without a card no card features.
 */
export const FEATURES_SQL = `
CREATE OR REPLACE TEMP TABLE ${FEATURES_TABLE} AS
WITH o AS MATERIALIZED (
  SELECT row_number() OVER () AS rid, order_id, customer_id, session_id, order_time, order_date, device, ip_country,
         billing_country, shipping_country, payment_method, card_fingerprint, CAST(total AS DOUBLE) AS total,
         epoch_us(order_time) AS t_us
  FROM orders
),
-- When each session, device and IP country of each customer was first seen, from the session parts: the one pass over
-- the events that the sessions share (sessions.ts). Read by name, not through a CTE of their columns: four readers
-- made DuckDB copy the 2.2M parts of 10M events into a materialised CTE first (about 10% of this statement's CPU).
-- What a visit reveals (a device, a country) counts as known only if it was seen before the visit began: the
-- session's own page views precede its purchase but tell nothing about the customer's past.
visits AS (
  SELECT session_id, min(first_seen) AS visit_start
  FROM ${SESSION_PARTS_TABLE} WHERE session_id IN (SELECT session_id FROM o) GROUP BY session_id
),
customer_seen AS (
  SELECT customer_id, min(first_seen) AS first_seen FROM ${SESSION_PARTS_TABLE} WHERE customer_id IS NOT NULL GROUP BY customer_id
),
device_seen AS (
  SELECT customer_id, device, min(first_seen) AS first_seen
  FROM ${SESSION_PARTS_TABLE} WHERE customer_id IS NOT NULL GROUP BY customer_id, device
),
ip_seen AS (
  SELECT customer_id, ip_country, min(first_seen) AS first_seen
  FROM ${SESSION_PARTS_TABLE} WHERE customer_id IS NOT NULL GROUP BY customer_id, ip_country
),
-- The partitions too large for RANGE frames (see earlierOrders): counts are differences of earlier orders, and the
-- shop's mean order is a ROWS frame over the same rows (the same sums, so the same value to the last bit).
ip_earlier AS (${earlierOrders('ip', 'ip_country', ['0', '1h', '30d'])}
),
ship_earlier AS (${earlierOrders('ship', 'shipping_country', ['0', '30d'])}
),
shop_earlier AS (${earlierOrders('shop', null, ['0', '30d'])}
),
shop_rows AS (
  SELECT rid, total, order_time, shop_before_0, shop_before_30d, row_number() OVER (ORDER BY order_time, rid) - 1 AS pos
  FROM o JOIN shop_earlier USING (rid)
),
shop AS (
  SELECT rid, shop_before_0 - shop_before_30d AS shop_30d,
         avg(total) OVER (ORDER BY order_time, rid ROWS BETWEEN pos - shop_before_30d PRECEDING
                                                        AND pos - shop_before_0 + 1 PRECEDING) AS shop_mean_total_30d
  FROM shop_rows
),
-- The windows run over a narrow projection of the orders and are joined back by row: windows over the whole order row
-- sort every column again for each partitioning.
customer_windows AS (
  SELECT rid,
    count(*) OVER cust_10m AS c_10m,
    count(*) OVER cust_1h AS c_1h,
    count(*) OVER cust_24h AS c_24h,
    count(*) OVER cust_ever AS c_ever,
    avg(total) OVER cust_ever AS c_mean_total,
    count(DISTINCT card_fingerprint) OVER cust_24h AS c_cards_24h,
    count(card_fingerprint) OVER cust_ever AS c_card_orders_ever,
    count(*) OVER (PARTITION BY customer_id, card_fingerprint ${before('24h')}) AS c_same_card_24h,
    count(*) OVER (PARTITION BY customer_id, card_fingerprint ${before('ever')}) AS c_same_card_ever,
    count(*) OVER (PARTITION BY customer_id, shipping_country ${before('ever')}) AS c_same_shipping_ever
  FROM (SELECT rid, customer_id, t_us, total, card_fingerprint, shipping_country FROM o)
  WINDOW
    cust_10m AS (PARTITION BY customer_id ${before('10m')}),
    cust_1h AS (PARTITION BY customer_id ${before('1h')}),
    cust_24h AS (PARTITION BY customer_id ${before('24h')}),
    cust_ever AS (PARTITION BY customer_id ${before('ever')})
),
-- Only orders paid by card: the others would share one large partition whose counts are never used. new_account
-- is the customer id of an order placed while its account was under 7 days old (else null), so counting it distinct
-- counts the young accounts on the card.
card_windows AS (
  SELECT rid, count(*) OVER card_1h AS card_1h, count(*) OVER card_24h AS card_24h,
    count(DISTINCT customer_id) OVER card_30d AS card_customers_30d,
    count(*) OVER (PARTITION BY card_fingerprint, customer_id ${before('30d')}) AS card_same_customer_30d,
    count(DISTINCT new_account) OVER card_7d AS card_new_accounts_7d_all,
    count(new_account) OVER (PARTITION BY card_fingerprint, customer_id ${before('7d')}) AS card_same_new_account_7d
  FROM (
    SELECT rid, card_fingerprint, o.customer_id, t_us,
      CASE WHEN t_us - epoch_us(cs.first_seen) < ${7 * MICROS_PER_DAY} THEN o.customer_id END AS new_account
    FROM o LEFT JOIN customer_seen cs USING (customer_id) WHERE card_fingerprint IS NOT NULL
  )
  WINDOW
    card_1h AS (PARTITION BY card_fingerprint ${before('1h')}),
    card_24h AS (PARTITION BY card_fingerprint ${before('24h')}),
    card_7d AS (PARTITION BY card_fingerprint ${before('7d')}),
    card_30d AS (PARTITION BY card_fingerprint ${before('30d')})
),
-- When the visit began and when its customer, device and IP country were first seen, keyed by order: joined on the
-- narrow order columns, not the wide row the windows add up to.
seen AS (
  SELECT o.rid, v.visit_start, epoch_us(cs.first_seen) AS customer_first_us, ds.first_seen AS device_first_seen,
         ips.first_seen AS ip_first_seen
  FROM (SELECT rid, session_id, customer_id, device, ip_country FROM o) o
  LEFT JOIN visits v USING (session_id)
  LEFT JOIN customer_seen cs USING (customer_id)
  LEFT JOIN device_seen ds ON ds.customer_id = o.customer_id AND ds.device = o.device
  LEFT JOIN ip_seen ips ON ips.customer_id = o.customer_id AND ips.ip_country = o.ip_country
),
w AS (
  SELECT o.*, cw.* EXCLUDE (rid), kw.* EXCLUDE (rid), seen.* EXCLUDE (rid),
    ip.ip_before_0 - ip.ip_before_1h AS ip_1h,
    ip.ip_before_0 - ip.ip_before_30d AS ip_30d,
    ship.ship_before_0 - ship.ship_before_30d AS ship_30d,
    shop.shop_30d,
    shop.shop_mean_total_30d
  FROM o
  JOIN customer_windows cw USING (rid)
  LEFT JOIN card_windows kw USING (rid)
  JOIN seen USING (rid)
  JOIN ip_earlier ip USING (rid)
  JOIN ship_earlier ship USING (rid)
  JOIN shop USING (rid)
)
SELECT w.order_id, w.customer_id, w.session_id, w.order_time, w.order_date, w.device, w.ip_country,
  w.billing_country, w.shipping_country, w.payment_method, w.card_fingerprint, w.total,
  -- Anonymous orders share one NULL partition: their "customer" counts would mix strangers, so they get none.
  CASE WHEN w.customer_id IS NOT NULL THEN w.c_10m END AS customer_orders_10m,
  CASE WHEN w.customer_id IS NOT NULL THEN w.c_1h END AS customer_orders_1h,
  CASE WHEN w.customer_id IS NOT NULL THEN w.c_24h END AS customer_orders_24h,
  CASE WHEN w.customer_id IS NOT NULL THEN w.c_ever END AS customer_prior_orders,
  CASE WHEN w.customer_id IS NOT NULL THEN
    w.c_cards_24h + CASE WHEN w.card_fingerprint IS NOT NULL AND w.c_same_card_24h = 0 THEN 1 ELSE 0 END
  END AS customer_cards_24h,
  CASE WHEN w.customer_id IS NOT NULL AND w.card_fingerprint IS NOT NULL AND w.c_card_orders_ever > 0
    THEN w.c_same_card_ever = 0 END AS new_card,
  CASE WHEN w.card_fingerprint IS NOT NULL THEN w.card_1h END AS card_orders_1h,
  CASE WHEN w.card_fingerprint IS NOT NULL THEN w.card_24h END AS card_orders_24h,
  CASE WHEN w.card_fingerprint IS NOT NULL AND w.customer_id IS NOT NULL
    THEN w.card_customers_30d - CASE WHEN w.card_same_customer_30d > 0 THEN 1 ELSE 0 END END
    AS card_other_customers_30d,
  CASE WHEN w.card_fingerprint IS NOT NULL AND w.customer_id IS NOT NULL
    THEN w.card_new_accounts_7d_all - CASE WHEN w.card_same_new_account_7d > 0 THEN 1 ELSE 0 END END
    AS card_new_accounts_7d,
  w.ip_1h AS ip_country_orders_1h,
  -- 720 hours in 30 days: the country's usual orders per hour; the 1 keeps quiet countries from dividing by ~0.
  w.ip_1h / (1 + w.ip_30d / 720.0) AS ip_country_surge,
  CASE WHEN w.shop_30d >= ${MIN_ORDERS_FOR_SHARES} THEN w.ip_30d / w.shop_30d END AS ip_country_share_30d,
  CASE WHEN w.shop_30d >= ${MIN_ORDERS_FOR_SHARES} THEN w.ship_30d / w.shop_30d END AS shipping_country_share_30d,
  CASE WHEN w.customer_id IS NOT NULL
    -- epoch() of the interval order_time - first_seen, as DuckDB computes it (whole days, then the rest), from the
    -- microseconds: the interval itself goes through ICU's calendar row by row, seconds per 100k orders.
    THEN (((w.t_us - w.customer_first_us) // ${MICROS_PER_DAY}) * 86400.0
          + ((w.t_us - w.customer_first_us) % ${MICROS_PER_DAY}) / 1000000.0) / 3600.0 END AS account_age_hours,
  CASE WHEN w.customer_id IS NOT NULL AND w.c_mean_total > 0 THEN w.total / w.c_mean_total END AS amount_vs_customer,
  CASE WHEN w.shop_mean_total_30d > 0 THEN w.total / w.shop_mean_total_30d END AS amount_vs_shop,
  w.billing_country <> w.shipping_country AS billing_shipping_mismatch,
  w.ip_country <> w.billing_country AS ip_billing_mismatch,
  CASE WHEN w.customer_first_us < epoch_us(w.visit_start) THEN w.device_first_seen >= w.visit_start END AS new_device,
  CASE WHEN w.customer_first_us < epoch_us(w.visit_start) THEN w.ip_first_seen >= w.visit_start END AS new_ip_country,
  CASE WHEN w.customer_id IS NOT NULL AND w.c_ever > 0 THEN w.c_same_shipping_ever = 0 END AS new_shipping_country,
  coalesce((w.t_us - epoch_us(w.visit_start)) / 1000000.0, 0) AS visit_seconds
FROM w`

/** Computes the features of every order in the `orders` view into the temp table `fraud_features`. */
export async function computeFeatures(engine: Engine): Promise<void> {
  await buildSessionParts(engine)
  await engine.run(FEATURES_SQL)
}

/** The feature columns, in the order of FraudFeatures. */
export const FEATURE_NAMES: readonly FraudFeatureName[] = [
  'customer_orders_10m',
  'customer_orders_1h',
  'customer_orders_24h',
  'customer_prior_orders',
  'customer_cards_24h',
  'new_card',
  'card_orders_1h',
  'card_orders_24h',
  'card_other_customers_30d',
  'card_new_accounts_7d',
  'ip_country_orders_1h',
  'ip_country_surge',
  'ip_country_share_30d',
  'shipping_country_share_30d',
  'account_age_hours',
  'amount_vs_customer',
  'amount_vs_shop',
  'billing_shipping_mismatch',
  'ip_billing_mismatch',
  'new_device',
  'new_ip_country',
  'new_shipping_country',
  'visit_seconds',
]

/** The features of one row read back from DuckDB (counts may arrive as text), as numbers, booleans and nulls. */
export function featuresFromRow(row: Record<string, Json>): FraudFeatures {
  const features: Record<string, number | boolean | null> = {}
  for (const name of FEATURE_NAMES) {
    const value = row[name]
    features[name] = value === null || value === undefined ? null : typeof value === 'boolean' ? value : Number(value)
  }
  return features as unknown as FraudFeatures
}
