import type {Json} from '@duckdb/node-api'
import type {Engine} from '../../engine/engine.js'
import {utcDate} from '../../engine/sql.js'
import {UsageError} from '../../errors.js'
import {registerShopViews, type ShopViews} from '../../shop/views.js'
import {
  buildCatalogue,
  buildSessions,
  CATALOGUE_TABLE,
  cacheOrders,
  SESSION_PARTS_TABLE,
  SESSIONS_TABLE,
} from '../sessions.js'
import {type RunInfo, resultPath, saveResult} from '../store.js'

/** Saved results under `<lake>/analytics/`. */
export const KPI_RESULTS = {
  daily: 'kpi_daily',
  weekly: 'kpi_weekly',
  topProducts: 'kpi_top_products',
  topCategories: 'kpi_top_categories',
} as const

export const KPI_DEFAULTS = {top: 10} as const

/** Category of products never seen in a product_view up to the as-of day. */
export const UNKNOWN_CATEGORY = '(unknown)'

export interface KpiOptions {
  /** Products and categories listed, by net revenue. */
  top?: number
}

/** The KPIs of one day or one week (weeks start on Monday, ISO 8601). */
export interface KpiPeriod {
  /** First day of the period (YYYY-MM-DD). */
  period: string
  /** Days of the period that lie in the data's range (a week at either end may be partial). */
  days: number
  /** Net revenue of the orders placed in the period: totals minus their refunds up to the as-of day. */
  revenue: number
  grossRevenue: number
  refunded: number
  orders: number
  units: number
  /** Average order value: revenue / orders (null without orders). */
  aov: number | null
  /** Sessions that started in the period (back-office refund sessions are not visits and are left out). */
  sessions: number
  convertedSessions: number
  /** Sessions with a purchase / sessions (null without sessions). */
  conversionRate: number | null
  /** Orders with a refund up to the as-of day / orders (null without orders). */
  refundRate: number | null
  refundedOrders: number
  /** Signed-in customers whose first order ever is in the period. */
  newCustomers: number
  /** Signed-in customers ordering in the period whose first order was earlier. */
  returningCustomers: number
}

export interface TopProduct {
  rank: number
  productId: string
  category: string
  orders: number
  units: number
  grossRevenue: number
  /** Line values less each order's refunds, shared over its lines in proportion to their value. */
  revenue: number
}

export interface TopCategory {
  rank: number
  category: string
  products: number
  orders: number
  units: number
  grossRevenue: number
  revenue: number
}

export interface KpiComputation {
  asOf: string
  /** First day with events. */
  from: string
  top: number
  /** The whole range from `from` to the as-of day as one period (so every customer in it is new, none returning). */
  totals: KpiPeriod
  daily: KpiPeriod[]
  weekly: KpiPeriod[]
  topProducts: TopProduct[]
  topCategories: TopCategory[]
}

export interface KpiResult extends KpiComputation {
  analysis: 'kpi'
  lake: string
  eventsVersion: number
  /** Copies of an event_id already seen that the shop views set aside (each event counted once). */
  duplicateEvents: number
  saved: Record<keyof typeof KPI_RESULTS, string>
}

// Not the results' names: the report registers the saved results as views of those names in the same engine.
const TABLES = {
  daily: 'kpi_run_daily',
  weekly: 'kpi_run_weekly',
  total: 'kpi_run_total',
  items: 'kpi_run_items',
  topProducts: 'kpi_run_top_products',
  topCategories: 'kpi_run_top_categories',
} as const

/** The first day of the period a DATE expression falls in; constants chosen by code, never user text. */
const PERIOD = {
  day: (x: string) => x,
  week: (x: string) => `CAST(date_trunc('week', ${x}) AS DATE)`,
  total: (_x: string) => 'CAST($2 AS DATE)',
} as const

/**
 * The KPI table of one period kind: a calendar of every day from $2 (first day) to $1 (as-of day), zero-filled, joined
 * with orders, sessions and customers by the period their day falls in. Orders (and their refunds) count on the day
 * they were placed, so the revenue of all periods adds up to the net revenue of all orders.
 */
function periodTableSql(kind: keyof typeof PERIOD): string {
  const p = PERIOD[kind]
  return `
    WITH calendar AS (
      SELECT ${p('day')} AS period, CAST(count(*) AS INTEGER) AS days
      FROM (SELECT CAST(unnest(generate_series(CAST($2 AS TIMESTAMP), CAST($1 AS TIMESTAMP), INTERVAL 1 DAY)) AS DATE) AS day)
      GROUP BY 1
    ),
    o AS (
      SELECT ${p(utcDate('order_time'))} AS period, count(*) AS orders, sum(units) AS units,
             sum(total) AS gross_revenue, sum(total - net_total) AS refunded, sum(net_total) AS revenue,
             count(*) FILTER (WHERE refund_count > 0) AS refunded_orders
      FROM orders GROUP BY 1
    ),
    s AS (
      SELECT ${p('day')} AS period, count(*) AS sessions, count(*) FILTER (WHERE converted) AS converted_sessions
      FROM ${SESSIONS_TABLE} GROUP BY 1
    ),
    c AS (
      SELECT ${p(utcDate('o.order_time'))} AS period,
             count(DISTINCT o.customer_id) FILTER (WHERE ${p(utcDate('c.first_order_time'))} = ${p(utcDate('o.order_time'))}) AS new_customers,
             count(DISTINCT o.customer_id) FILTER (WHERE ${p(utcDate('c.first_order_time'))} < ${p(utcDate('o.order_time'))}) AS returning_customers
      FROM orders o JOIN customers c USING (customer_id) GROUP BY 1
    )
    SELECT cal.period, cal.days,
           CAST(coalesce(o.revenue, 0) AS DECIMAL(18, 2)) AS revenue,
           CAST(coalesce(o.gross_revenue, 0) AS DECIMAL(18, 2)) AS gross_revenue,
           CAST(coalesce(o.refunded, 0) AS DECIMAL(18, 2)) AS refunded,
           CAST(coalesce(o.orders, 0) AS INTEGER) AS orders,
           CAST(coalesce(o.units, 0) AS INTEGER) AS units,
           CAST(o.revenue / nullif(o.orders, 0) AS DOUBLE) AS aov,
           CAST(coalesce(s.sessions, 0) AS INTEGER) AS sessions,
           CAST(coalesce(s.converted_sessions, 0) AS INTEGER) AS converted_sessions,
           CAST(s.converted_sessions / nullif(s.sessions, 0) AS DOUBLE) AS conversion_rate,
           CAST(o.refunded_orders / nullif(o.orders, 0) AS DOUBLE) AS refund_rate,
           CAST(coalesce(o.refunded_orders, 0) AS INTEGER) AS refunded_orders,
           CAST(coalesce(c.new_customers, 0) AS INTEGER) AS new_customers,
           CAST(coalesce(c.returning_customers, 0) AS INTEGER) AS returning_customers
    FROM calendar cal LEFT JOIN o USING (period) LEFT JOIN s USING (period) LEFT JOIN c USING (period)
    ORDER BY cal.period`
}

/**
 * KPIs per day, per week and for the whole range, and the top products and categories by net revenue, over the shop
 * views (registerShopViews). Leaves its working tables for runKpis to save.
 */
export async function computeKpis(engine: Engine, asOf: string, options: KpiOptions = {}): Promise<KpiComputation> {
  const top = options.top ?? KPI_DEFAULTS.top
  if (!Number.isInteger(top) || top < 1) {
    throw new UsageError('TOP_INVALID', `--top must be a whole number of at least 1, not ${top}.`, {
      hints: ['--top 10'],
    })
  }
  await cacheOrders(engine)
  await buildSessions(engine)
  // The first event of the views is the first seen of the session parts, which group every event.
  const [first] = await engine.rows(`SELECT CAST(min(first_seen) AS DATE)::VARCHAR AS day FROM ${SESSION_PARTS_TABLE}`)
  // The views always hold an event (registerShopViews checks), but an --as-of before the first event leaves none.
  const from = (first?.day as string | null) ?? asOf
  for (const kind of ['day', 'week', 'total'] as const) {
    const table = kind === 'day' ? TABLES.daily : kind === 'week' ? TABLES.weekly : TABLES.total
    await engine.run(`CREATE OR REPLACE TEMP TABLE ${table} AS ${periodTableSql(kind)}`, [asOf, from])
  }
  await buildCatalogue(engine)
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${TABLES.items} AS
     SELECT i.order_id, i.product_id, coalesce(cat.category, $1) AS category, i.quantity, i.line_total,
            CASE WHEN o.total > 0 THEN CAST(i.line_total AS DOUBLE) * CAST(o.net_total AS DOUBLE) / CAST(o.total AS DOUBLE)
                 ELSE 0 END AS net_line
     FROM order_items i JOIN orders o USING (order_id) LEFT JOIN ${CATALOGUE_TABLE} cat USING (product_id)`,
    [UNKNOWN_CATEGORY],
  )
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${TABLES.topProducts} AS
     SELECT CAST(row_number() OVER (ORDER BY sum(net_line) DESC, product_id) AS INTEGER) AS rank,
            product_id, any_value(category) AS category,
            CAST(count(DISTINCT order_id) AS INTEGER) AS orders, CAST(sum(quantity) AS INTEGER) AS units,
            CAST(sum(line_total) AS DECIMAL(18, 2)) AS gross_revenue, CAST(round(sum(net_line), 2) AS DECIMAL(18, 2)) AS revenue
     FROM ${TABLES.items} GROUP BY product_id
     QUALIFY rank <= $1 ORDER BY rank`,
    [top],
  )
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${TABLES.topCategories} AS
     SELECT CAST(row_number() OVER (ORDER BY sum(net_line) DESC, category) AS INTEGER) AS rank, category,
            CAST(count(DISTINCT product_id) AS INTEGER) AS products,
            CAST(count(DISTINCT order_id) AS INTEGER) AS orders, CAST(sum(quantity) AS INTEGER) AS units,
            CAST(sum(line_total) AS DECIMAL(18, 2)) AS gross_revenue, CAST(round(sum(net_line), 2) AS DECIMAL(18, 2)) AS revenue
     FROM ${TABLES.items} GROUP BY category
     QUALIFY rank <= $1 ORDER BY rank`,
    [top],
  )
  const periods = async (table: string) => (await engine.rows(`SELECT * FROM ${table} ORDER BY period`)).map(toPeriod)
  const [totals] = await periods(TABLES.total)
  return {
    asOf,
    from,
    top,
    totals: totals as KpiPeriod,
    daily: await periods(TABLES.daily),
    weekly: await periods(TABLES.weekly),
    topProducts: (await engine.rows(`SELECT * FROM ${TABLES.topProducts} ORDER BY rank`)).map((row) => ({
      rank: Number(row.rank),
      productId: String(row.product_id),
      category: String(row.category),
      orders: Number(row.orders),
      units: Number(row.units),
      grossRevenue: Number(row.gross_revenue),
      revenue: Number(row.revenue),
    })),
    topCategories: (await engine.rows(`SELECT * FROM ${TABLES.topCategories} ORDER BY rank`)).map((row) => ({
      rank: Number(row.rank),
      category: String(row.category),
      products: Number(row.products),
      orders: Number(row.orders),
      units: Number(row.units),
      grossRevenue: Number(row.gross_revenue),
      revenue: Number(row.revenue),
    })),
  }
}

export interface RunKpiOptions extends KpiOptions {
  /**
   * Shop views already registered in this engine (by registerShopViews): used as they are, so several analyses of
   * one run read one snapshot and one as-of day. Without it the run registers them itself.
   */
  views?: ShopViews
  lake: string
  asOf?: string
}

/** Registers the shop views, computes the KPIs and saves kpi_daily, kpi_weekly, kpi_top_products, kpi_top_categories. */
export async function runKpis(engine: Engine, options: RunKpiOptions): Promise<KpiResult> {
  const views = options.views ?? (await registerShopViews(engine, options.lake, {asOf: options.asOf}))
  const result = await computeKpis(engine, views.asOf, {top: options.top})
  const run: RunInfo = {
    analysis: 'kpi',
    parameters: {asOf: options.asOf ?? null, top: result.top},
    asOf: views.asOf,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ranAt: new Date().toISOString(),
    // The report tells from it whether the as-of day is over in the data (a day cut short is no day to compare).
    summary: {from: result.from, totals: result.totals, latestEventTime: views.latestEventTime},
  }
  const saves: [keyof typeof KPI_RESULTS, string][] = [
    ['daily', `SELECT * FROM ${TABLES.daily} ORDER BY period`],
    ['weekly', `SELECT * FROM ${TABLES.weekly} ORDER BY period`],
    ['topProducts', `SELECT * FROM ${TABLES.topProducts} ORDER BY rank`],
    ['topCategories', `SELECT * FROM ${TABLES.topCategories} ORDER BY rank`],
  ]
  // All four tables or none: an interruption between them would mix two runs' KPIs.
  await engine.shielded(async () => {
    for (const [key, query] of saves) await saveResult(engine, options.lake, KPI_RESULTS[key], query, run)
  })
  return {
    analysis: 'kpi',
    lake: options.lake,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ...result,
    saved: {
      daily: resultPath(options.lake, KPI_RESULTS.daily),
      weekly: resultPath(options.lake, KPI_RESULTS.weekly),
      topProducts: resultPath(options.lake, KPI_RESULTS.topProducts),
      topCategories: resultPath(options.lake, KPI_RESULTS.topCategories),
    },
  }
}

function toPeriod(row: Record<string, Json>): KpiPeriod {
  const orNull = (x: Json) => (x === null ? null : Number(x))
  return {
    period: String(row.period),
    days: Number(row.days),
    revenue: Number(row.revenue),
    grossRevenue: Number(row.gross_revenue),
    refunded: Number(row.refunded),
    orders: Number(row.orders),
    units: Number(row.units),
    aov: orNull(row.aov as Json),
    sessions: Number(row.sessions),
    convertedSessions: Number(row.converted_sessions),
    conversionRate: orNull(row.conversion_rate as Json),
    refundRate: orNull(row.refund_rate as Json),
    refundedOrders: Number(row.refunded_orders),
    newCustomers: Number(row.new_customers),
    returningCustomers: Number(row.returning_customers),
  }
}
