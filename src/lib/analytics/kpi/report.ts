import type {Engine} from '../../engine/engine.js'
import {UsageError} from '../../errors.js'
import type {MetricsBlock, ReportBlock, ReportDocument, TableBlock} from '../../report/document.js'
import {formatChange, formatValue} from '../../report/format.js'
import {col, incompleteDayOf, isWholeDay, meta, num, type RunMeta, runLine, table} from '../report-common.js'
import {loadResult} from '../store.js'
import {type KpiChanges, kpiChanges} from './changes.js'
import {KPI_RESULTS, type KpiPeriod} from './kpi.js'
import {PERIOD_SQL_COLUMNS, toPeriod} from './periods.js'

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
  /** The latest event the run saw (ISO 8601, UTC); null for runs saved before ecap recorded it. */
  latestEventTime: string | null
  /**
   * The as-of day when the data ends before that day does (no event at or after its midnight, UTC), else null. It is
   * left out of the daily chart and of `changes`; its row in `daily` holds part of a day.
   */
  incompleteDay: string | null
  /** The KPIs of the latest whole day shown, beside the day before and a week before; null when no day is whole. */
  changes: KpiChanges | null
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
  if (since !== null && since > run.asOf) {
    // Nothing from there on was analysed: zero totals under the data's own range would read as a month without sales.
    throw new UsageError(
      'SINCE_AFTER_AS_OF',
      `--since ${since} is after ${run.asOf}, the last day the saved kpi run covers: there is nothing to show.`,
      {hints: [`--since ${run.asOf}`, `ecap analyze kpi --lake ${lake} (after the lake has caught up)`]},
    )
  }
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
  const summary = (run.summary ?? {}) as {from?: string; totals?: KpiPeriod; latestEventTime?: string | null}
  const incompleteDay = incompleteDayOf(run.asOf, summary.latestEventTime)
  // A run saved before ecap recorded its latest event cannot tell; its days are shown as they are.
  const lastWhole = daily.filter((d) => isWholeDay(d.period, incompleteDay)).at(-1)?.period
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
    latestEventTime: summary.latestEventTime ?? null,
    incompleteDay: incompleteDay ?? null,
    changes: lastWhole === undefined ? null : await kpiChanges(engine, KPI_RESULTS.daily, lastWhole),
  }
}

/** What a reader needs from the KPI data to read its last day: the daily fields the chart and the note use. */
type DayData = Pick<KpiReportData, 'run' | 'latestEventTime' | 'incompleteDay'> & {
  daily: {period: string; revenue: number}[]
}

/** Daily revenue as a chart, without the incomplete as-of day (it would draw a fall that is only missing data). */
export function dailyRevenueChart(d: DayData): ReportBlock {
  return {
    kind: 'sparkline',
    title: 'Daily revenue',
    format: 'money',
    points: d.daily
      .filter((p) => isWholeDay(p.period, d.incompleteDay))
      .map((p) => ({label: p.period, value: p.revenue})),
  }
}

/** Says which days are whole, and how ecap decides it, under the daily chart. */
export function wholeDaysNote(d: DayData): ReportBlock {
  const rule = 'A day is whole once the data holds an event at or after its end (midnight UTC).'
  const at = (time: string) => `${time.slice(0, 16).replace('T', ' ')} UTC`
  if (d.latestEventTime === null) {
    return {
      kind: 'text',
      tone: 'note',
      text: `${rule} This kpi run did not record its latest event, so ${d.run.asOf} may be partial: rerun ecap analyze kpi.`,
    }
  }
  if (d.incompleteDay !== null) {
    return {
      kind: 'text',
      tone: 'note',
      text: `${rule} ${d.incompleteDay} is not${d.incompleteDay < d.run.asOf ? `, nor any day after it to ${d.run.asOf}` : ''}: the latest event is at ${at(d.latestEventTime)}, so ${d.incompleteDay < d.run.asOf ? 'they are' : 'it is'} left out of the chart and of the changes (${d.incompleteDay < d.run.asOf ? 'their figures cover part of a day or none' : 'its figures cover part of a day'}).`,
    }
  }
  return {
    kind: 'text',
    tone: 'note',
    text: `${rule} Every day shown is whole: the data runs to ${at(d.latestEventTime)}.`,
  }
}

/** Each KPI of the latest whole day beside the day before and the same weekday a week before. */
export function changesTable(c: KpiChanges): TableBlock {
  const right = {align: 'right'} as const
  return table(
    'changes',
    [
      col('kpi', 'KPI'),
      {...col('value', c.day), ...right},
      {...col('previous_day', c.previousDay), ...right},
      {...col('day_over_day', 'day over day'), ...right},
      {...col('week_ago', c.weekAgoDay), ...right},
      {...col('week_over_week', 'week over week'), ...right},
    ],
    // One column holds money, counts and shares: each cell is formatted here, the raw figures are in the JSON.
    c.kpis.map((k) => [
      k.label,
      formatValue(k.value, k.format),
      formatValue(k.previousDay, k.format),
      formatChange(k.dayOverDay, k.change),
      formatValue(k.weekAgo, k.format),
      formatChange(k.weekOverWeek, k.change),
    ]),
  )
}

export function changesSection(c: KpiChanges | null): {title: string; blocks: ReportBlock[]} {
  if (c === null) {
    return {
      title: 'Latest whole day',
      blocks: [{kind: 'text', tone: 'note', text: 'No whole day is shown, so there is no day to compare.'}],
    }
  }
  return {
    title: `${c.day} against the day before and a week before`,
    blocks: [
      changesTable(c),
      {
        kind: 'text',
        tone: 'note',
        text: 'Changes are relative (+10.0% is a tenth more), but conversion and refund rate change in percentage points (pt).',
      },
    ],
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
        blocks: [kpiMetrics(d.totals), dailyRevenueChart(d), wholeDaysNote(d)],
      },
      changesSection(d.changes),
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
