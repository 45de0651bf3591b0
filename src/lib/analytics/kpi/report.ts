import type {Json} from '@duckdb/node-api'
import type {Engine} from '../../engine/engine.js'
import type {MetricsBlock, ReportDocument, TableBlock} from '../../report/document.js'
import {col, meta, num, numOrNull, type RunMeta, runLine, table} from '../report-common.js'
import {loadResult} from '../store.js'
import {KPI_RESULTS, type KpiPeriod} from './kpi.js'

export interface KpiReportData {
  report: 'kpi'
  run: RunMeta
  from: string
  to: string
  since: string | null
  /**
   * Over the days shown. Returning customers do not add up over days, so with --since they are null; without it the
   * run's own totals are shown.
   */
  totals: Omit<KpiPeriod, 'returningCustomers'> & {returningCustomers: number | null}
  daily: KpiPeriod[]
  weekly: KpiPeriod[]
  topProducts: {rank: number; productId: string; category: string; orders: number; units: number; revenue: number}[]
  topCategories: {rank: number; category: string; products: number; orders: number; units: number; revenue: number}[]
}

const PERIOD_SQL_COLUMNS = `CAST(period AS VARCHAR) AS period, days, CAST(revenue AS DOUBLE) AS revenue,
  CAST(gross_revenue AS DOUBLE) AS gross_revenue, CAST(refunded AS DOUBLE) AS refunded, orders, units, aov, sessions,
  converted_sessions, conversion_rate, refund_rate, refunded_orders, new_customers, returning_customers`

function toPeriod(r: Record<string, Json>): KpiPeriod {
  return {
    period: String(r.period),
    days: num(r.days),
    revenue: num(r.revenue),
    grossRevenue: num(r.gross_revenue),
    refunded: num(r.refunded),
    orders: num(r.orders),
    units: num(r.units),
    aov: numOrNull(r.aov),
    sessions: num(r.sessions),
    convertedSessions: num(r.converted_sessions),
    conversionRate: numOrNull(r.conversion_rate),
    refundRate: numOrNull(r.refund_rate),
    refundedOrders: num(r.refunded_orders),
    newCustomers: num(r.new_customers),
    returningCustomers: num(r.returning_customers),
  }
}

/** The KPIs of the days shown, added up from the saved daily table (returning customers do not add up: null). */
async function kpiTotals(engine: Engine, day: string): Promise<KpiReportData['totals']> {
  const [t] = await engine.rows(
    `SELECT CAST(min(period) AS VARCHAR) AS period, count(*)::INTEGER AS days, CAST(sum(revenue) AS DOUBLE) AS revenue,
            CAST(sum(gross_revenue) AS DOUBLE) AS gross_revenue, CAST(sum(refunded) AS DOUBLE) AS refunded,
            sum(orders)::INTEGER AS orders, sum(units)::INTEGER AS units,
            CAST(sum(revenue) / nullif(sum(orders), 0) AS DOUBLE) AS aov,
            sum(sessions)::INTEGER AS sessions, sum(converted_sessions)::INTEGER AS converted_sessions,
            CAST(sum(converted_sessions) / nullif(sum(sessions), 0) AS DOUBLE) AS conversion_rate,
            CAST(sum(refunded_orders) / nullif(sum(orders), 0) AS DOUBLE) AS refund_rate,
            sum(refunded_orders)::INTEGER AS refunded_orders, sum(new_customers)::INTEGER AS new_customers,
            NULL AS returning_customers
     FROM ${KPI_RESULTS.daily} WHERE period >= CAST($1 AS DATE)`,
    [day],
  )
  return {...toPeriod(t ?? {}), returningCustomers: null}
}

export interface KpiReportOptions {
  lake: string
  /** Products and categories listed. */
  top: number
  /** First day shown (YYYY-MM-DD), or null for all. */
  since: string | null
}

/** The kpi report from the saved daily, weekly and top tables. */
export async function buildKpiReport(engine: Engine, {lake, top, since}: KpiReportOptions): Promise<KpiReportData> {
  const run = await loadResult(engine, lake, KPI_RESULTS.daily, 'kpi')
  await loadResult(engine, lake, KPI_RESULTS.weekly, 'kpi')
  await loadResult(engine, lake, KPI_RESULTS.topProducts, 'kpi')
  await loadResult(engine, lake, KPI_RESULTS.topCategories, 'kpi')
  const day = since ?? '0001-01-01'
  const daily = (
    await engine.rows(
      `SELECT ${PERIOD_SQL_COLUMNS} FROM ${KPI_RESULTS.daily} WHERE period >= CAST($1 AS DATE) ORDER BY period`,
      [day],
    )
  ).map(toPeriod)
  // A week is shown when it holds a day from --since on; its figures are the whole week's.
  const weekly = (
    await engine.rows(
      `SELECT ${PERIOD_SQL_COLUMNS} FROM ${KPI_RESULTS.weekly}
       WHERE period >= CAST(date_trunc('week', CAST($1 AS DATE)) AS DATE) ORDER BY period`,
      [day],
    )
  ).map(toPeriod)
  const summary = (run.summary ?? {}) as {from?: string; totals?: KpiPeriod}
  const totals = since === null && summary.totals ? summary.totals : await kpiTotals(engine, day)
  const products = await engine.rows(
    `SELECT rank, product_id, category, orders, units, CAST(revenue AS DOUBLE) AS revenue
     FROM ${KPI_RESULTS.topProducts} WHERE rank <= $1 ORDER BY rank`,
    [top],
  )
  const categories = await engine.rows(
    `SELECT rank, category, products, orders, units, CAST(revenue AS DOUBLE) AS revenue
     FROM ${KPI_RESULTS.topCategories} WHERE rank <= $1 ORDER BY rank`,
    [top],
  )
  return {
    report: 'kpi',
    run: meta(run),
    from: daily[0]?.period ?? summary.from ?? run.asOf,
    to: daily.at(-1)?.period ?? run.asOf,
    since,
    totals,
    daily,
    weekly,
    topProducts: products.map((p) => ({
      rank: num(p.rank),
      productId: String(p.product_id),
      category: String(p.category),
      orders: num(p.orders),
      units: num(p.units),
      revenue: num(p.revenue),
    })),
    topCategories: categories.map((c) => ({
      rank: num(c.rank),
      category: String(c.category),
      products: num(c.products),
      orders: num(c.orders),
      units: num(c.units),
      revenue: num(c.revenue),
    })),
  }
}

const PERIOD_COLUMNS = [
  col('revenue', 'revenue', 'money'),
  col('orders', 'orders', 'int'),
  col('units', 'units', 'int'),
  col('aov', 'AOV', 'money'),
  col('sessions', 'sessions', 'int'),
  col('conversion_rate', 'conv.', 'pct'),
  col('refund_rate', 'refunds', 'pct'),
  col('new_customers', 'new', 'int'),
  col('returning_customers', 'returning', 'int'),
]

function periodRow(p: KpiReportData['totals']): TableBlock['rows'][number] {
  return [
    p.revenue,
    p.orders,
    p.units,
    p.aov,
    p.sessions,
    p.conversionRate,
    p.refundRate,
    p.newCustomers,
    p.returningCustomers,
  ]
}

export function kpiMetrics(t: KpiReportData['totals']): MetricsBlock {
  return {
    kind: 'metrics',
    items: [
      {label: 'revenue', value: t.revenue, format: 'money'},
      {label: 'orders', value: t.orders, format: 'int'},
      {label: 'AOV', value: t.aov, format: 'money'},
      {label: 'conversion', value: t.conversionRate, format: 'pct'},
      {label: 'sessions', value: t.sessions, format: 'int'},
      {label: 'refund rate', value: t.refundRate, format: 'pct'},
      {label: 'new customers', value: t.newCustomers, format: 'int'},
    ],
  }
}

/** How many of the latest weeks and days the tables list (the sparkline always shows every day); all when absent. */
export interface KpiDocumentOptions {
  weeks?: number
  days?: number
}

export function kpiDocument(d: KpiReportData, shown: KpiDocumentOptions = {}): ReportDocument {
  const latest = <T>(rows: T[], n: number | undefined) =>
    n === undefined ? rows : rows.slice(Math.max(0, rows.length - n))
  return {
    title: 'Key performance indicators',
    subtitle: [runLine(d.run, `${d.from} to ${d.to}`)],
    sections: [
      {
        title: `Totals, ${d.from} to ${d.to}`,
        blocks: [
          kpiMetrics(d.totals),
          {
            kind: 'sparkline',
            title: 'Daily revenue',
            format: 'money',
            points: d.daily.map((p) => ({label: p.period, value: p.revenue})),
          },
        ],
      },
      {
        title: 'Weeks',
        blocks: [
          table(
            'weekly',
            [col('period', 'week of'), col('days', 'days', 'int'), ...PERIOD_COLUMNS],
            latest(d.weekly, shown.weeks).map((p) => [p.period, p.days, ...periodRow(p)]),
          ),
        ],
      },
      {
        title: 'Days',
        blocks: [
          table(
            'daily',
            [col('period', 'day'), ...PERIOD_COLUMNS],
            latest(d.daily, shown.days).map((p) => [p.period, ...periodRow(p)]),
            true,
          ),
        ],
      },
      {
        title: `Top ${d.topProducts.length} products and categories`,
        blocks: [
          table(
            'products',
            [
              col('rank', '#', 'int'),
              col('product_id', 'product'),
              col('category', 'category'),
              col('orders', 'orders', 'int'),
              col('units', 'units', 'int'),
              col('revenue', 'revenue', 'money'),
            ],
            d.topProducts.map((p) => [p.rank, p.productId, p.category, p.orders, p.units, p.revenue]),
          ),
          {
            kind: 'bars',
            title: 'Revenue by category',
            series: ['revenue'],
            format: 'money',
            groups: d.topCategories.map((c) => ({label: c.category, values: [c.revenue]})),
          },
          table(
            'categories',
            [
              col('rank', '#', 'int'),
              col('category', 'category'),
              col('products', 'products', 'int'),
              col('orders', 'orders', 'int'),
              col('units', 'units', 'int'),
              col('revenue', 'revenue', 'money'),
            ],
            d.topCategories.map((c) => [c.rank, c.category, c.products, c.orders, c.units, c.revenue]),
          ),
        ],
      },
    ],
  }
}
