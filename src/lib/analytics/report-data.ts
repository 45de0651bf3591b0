import type {DuckDBValue, Json} from '@duckdb/node-api'
import type {Engine} from '../engine/engine.js'
import {DataError, EcapError, UsageError} from '../errors.js'
import {CLV_RESULT} from './clv/save.js'
import {COHORT_RESULT, type Cohort} from './cohort.js'
import {FRAUD_RESULT} from './fraud/analyze.js'
import type {FraudMetrics} from './fraud/metrics.js'
import {FUNNEL_RESULT} from './funnel.js'
import {KPI_RESULTS, type KpiPeriod} from './kpi.js'
import {RFM_RESULT, RFM_SEGMENTS_RESULT, type RfmSegmentSummary} from './rfm.js'
import {loadResult, type RunInfo} from './store.js'

export const REPORTS = ['rfm', 'clv', 'fraud', 'kpi', 'funnel', 'cohort', 'summary'] as const
export type ReportName = (typeof REPORTS)[number]

/** Which of --top, --segment and --since each report takes; the others are refused, not silently ignored. */
export const REPORT_FLAGS: Record<ReportName, {top: number | null; segment: boolean; since: boolean}> = {
  rfm: {top: 20, segment: true, since: false},
  clv: {top: 10, segment: true, since: false},
  fraud: {top: 20, segment: false, since: true},
  kpi: {top: 10, segment: false, since: true},
  funnel: {top: 10, segment: false, since: false},
  cohort: {top: 12, segment: false, since: true},
  summary: {top: null, segment: false, since: true},
}

export interface ReportOptions {
  lake: string
  /** Rows listed: customers, flagged orders, products, countries or cohorts, per report (REPORT_FLAGS). */
  top?: number
  /** An RFM segment name (case and `-`/`_` for spaces do not matter). */
  segment?: string
  /** First day shown (YYYY-MM-DD). */
  since?: string
}

/** What a report says about the analysis run it shows. */
export interface RunMeta {
  asOf: string
  ranAt: string
  eventsVersion: number
  /** Copies of an event_id already seen that the run set aside (0 for results saved before ecap counted them). */
  duplicateEvents: number
  parameters: Record<string, unknown>
}

/** A segment as the report shows it: the analysis's summary without the score means and the country count. */
export type RfmSegmentRow = Omit<RfmSegmentSummary, 'meanR' | 'meanF' | 'meanM' | 'countries'>

export interface RfmCustomerRow {
  customerId: string
  segment: string
  rfmCell: string
  recencyDays: number
  frequency: number
  monetary: number
  lastOrderDate: string
}

export interface RfmReportData {
  report: 'rfm'
  run: RunMeta
  customers: number
  revenue: number
  segments: RfmSegmentRow[]
  /** With --segment: that segment's customers, highest monetary first (at most --top). */
  selected: {segment: string; customers: number; top: RfmCustomerRow[]} | null
}

export interface ClvCustomerRow {
  customerId: string
  frequency: number
  recency: number
  T: number
  monetary: number
  probabilityAlive: number
  expectedPurchases: number
  expectedOrderValue: number
  clv: number
}

export interface ClvModelFit {
  model: string
  parameters: Record<string, number>
  standardErrors: Record<string, number | null>
  logLikelihood: number | null
}

export interface ClvReportData {
  report: 'clv'
  run: RunMeta
  /** With --segment: only that RFM segment's customers. */
  segment: string | null
  timeUnit: string | null
  horizonMonths: number | null
  discountRate: number | null
  calibrationEnd: string | null
  purchaseModel: ClvModelFit | null
  spendModel: ClvModelFit | null
  totals: {
    customers: number
    withRepeatPurchases: number
    repeatPurchases: number
    totalClv: number
    meanClv: number | null
    expectedPurchases: number
    meanProbabilityAlive: number | null
  }
  /** Customers in ten groups by CLV, highest first, with the share of the total value each holds. */
  deciles: {decile: number; customers: number; clv: number; share: number}[]
  holdout: {days: number; actualRepeatPurchases: number; predictedRepeatPurchases: number} | null
  topCustomers: ClvCustomerRow[]
}

export interface FraudOrderRow {
  orderId: string
  customerId: string | null
  orderTime: string
  total: number
  score: number
  reasons: string[]
}

export interface FraudReportData {
  report: 'fraud'
  run: RunMeta
  threshold: number
  since: string | null
  orders: number
  flagged: number
  flaggedShare: number | null
  flaggedAmount: number
  scoreBands: {band: string; orders: number}[]
  reasons: {reason: string; orders: number}[]
  daily: {day: string; orders: number; flagged: number}[]
  flaggedOrders: FraudOrderRow[]
  /** Against labels, when the run had them; they cover the whole run, whatever --since. */
  metrics: FraudMetrics | null
}

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

export interface FunnelStepRow {
  step: string
  sessions: number
  stepConversion: number | null
  overallConversion: number | null
  dropOff: number
}

export interface FunnelGroupRow {
  value: string
  steps: FunnelStepRow[]
}

export interface FunnelReportData {
  report: 'funnel'
  run: RunMeta
  overall: FunnelStepRow[]
  byDevice: FunnelGroupRow[]
  /** The --top countries by sessions. */
  byCountry: FunnelGroupRow[]
  countries: number
}

export type CohortRow = Cohort

export interface CohortReportData {
  report: 'cohort'
  run: RunMeta
  since: string | null
  customers: number
  cohorts: CohortRow[]
}

export interface SummaryReportData {
  report: 'summary'
  lake: string
  /** Analyses never run on this lake, with the command that would run each. */
  missing: {analysis: string; command: string}[]
  kpi:
    | (Pick<KpiReportData, 'run' | 'from' | 'to' | 'since' | 'totals'> & {daily: {day: string; revenue: number}[]})
    | null
  rfm: Pick<RfmReportData, 'run' | 'customers' | 'revenue' | 'segments'> | null
  clv: Pick<ClvReportData, 'run' | 'totals' | 'purchaseModel' | 'spendModel' | 'horizonMonths' | 'holdout'> | null
  fraud: Pick<FraudReportData, 'run' | 'threshold' | 'orders' | 'flagged' | 'flaggedShare' | 'metrics'> | null
  funnel: Pick<FunnelReportData, 'run' | 'overall'> | null
  /** The latest cohorts (at most six) and their first months. */
  cohort: Pick<CohortReportData, 'run' | 'customers' | 'cohorts'> | null
}

export type ReportData =
  | RfmReportData
  | ClvReportData
  | FraudReportData
  | KpiReportData
  | FunnelReportData
  | CohortReportData
  | SummaryReportData

/**
 * Builds the data of one report from the saved results of `ecap analyze` (registered with loadResult and read with
 * SQL; nothing is recomputed). A result never saved is a DataError (exit 3) naming the analysis to run; a flag the
 * report does not take, a bad date or an unknown segment is a UsageError (exit 2).
 */
export async function buildReport(engine: Engine, name: ReportName, options: ReportOptions): Promise<ReportData> {
  checkFlags(name, options)
  const since = options.since === undefined ? null : parseDay(options.since)
  const top = options.top ?? REPORT_FLAGS[name].top ?? 10
  switch (name) {
    case 'rfm':
      return rfmReport(engine, options.lake, top, options.segment)
    case 'clv':
      return clvReport(engine, options.lake, top, options.segment)
    case 'fraud':
      return fraudReport(engine, options.lake, top, since)
    case 'kpi':
      return kpiReport(engine, options.lake, top, since)
    case 'funnel':
      return funnelReport(engine, options.lake, top)
    case 'cohort':
      return cohortReport(engine, options.lake, top, since)
    case 'summary':
      return summaryReport(engine, options.lake, since)
  }
}

function checkFlags(name: ReportName, options: ReportOptions): void {
  const takes = REPORT_FLAGS[name]
  const takers = (flag: 'segment' | 'since' | 'top') =>
    REPORTS.filter((r) => (flag === 'top' ? REPORT_FLAGS[r].top !== null : REPORT_FLAGS[r][flag])).join(', ')
  const refuse = (flag: 'segment' | 'since' | 'top') => {
    throw new UsageError('REPORT_FLAG_UNSUPPORTED', `ecap report ${name} does not take --${flag}.`, {
      hints: [`--${flag} works with: ${takers(flag)}`],
    })
  }
  if (options.segment !== undefined && !takes.segment) refuse('segment')
  if (options.since !== undefined && !takes.since) refuse('since')
  if (options.top !== undefined && takes.top === null) refuse('top')
  if (options.top !== undefined && !(Number.isInteger(options.top) && options.top >= 1)) {
    throw new UsageError('TOP_INVALID', `--top must be a whole number of at least 1, not ${options.top}.`, {
      hints: ['--top 10'],
    })
  }
}

function parseDay(text: string): string {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text) ? new Date(`${text}T00:00:00Z`) : null
  if (!day || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== text) {
    throw new UsageError('SINCE_INVALID', `--since must be a day as YYYY-MM-DD, not "${text}".`, {
      hints: ['--since 2026-01-01'],
    })
  }
  return text
}

function meta(run: RunInfo): RunMeta {
  return {
    asOf: run.asOf,
    ranAt: run.ranAt,
    eventsVersion: run.eventsVersion,
    duplicateEvents: run.duplicateEvents ?? 0,
    parameters: run.parameters,
  }
}

async function rows(engine: Engine, sql: string, values?: DuckDBValue[]): Promise<Record<string, Json>[]> {
  return engine.rows(sql, values)
}

const num = (x: Json | undefined): number => (x === null || x === undefined ? 0 : Number(x))
const numOrNull = (x: Json | undefined): number | null => (x === null || x === undefined ? null : Number(x))

/** The saved segment whose name matches `wanted`, ignoring case and `-`/`_` for spaces; exit 2 naming them all. */
async function resolveSegment(engine: Engine, wanted: string): Promise<string> {
  const names = (await rows(engine, `SELECT segment FROM ${RFM_SEGMENTS_RESULT} ORDER BY segment_order`)).map((r) =>
    String(r.segment),
  )
  const key = (s: string) =>
    s
      .toLowerCase()
      .replace(/[-_\s]+/g, ' ')
      .trim()
  const found = names.find((n) => key(n) === key(wanted))
  if (found === undefined) {
    throw new UsageError('SEGMENT_UNKNOWN', `No RFM segment "${wanted}"; the segments are: ${names.join(', ')}.`, {
      hints: names.slice(0, 3).map((n) => `--segment "${n}"`),
    })
  }
  return found
}

async function rfmReport(engine: Engine, lake: string, top: number, segment?: string): Promise<RfmReportData> {
  const run = await loadResult(engine, lake, RFM_SEGMENTS_RESULT, 'rfm')
  const segments = (
    await rows(
      engine,
      `SELECT segment, description, customers, customer_share, CAST(revenue AS DOUBLE) AS revenue, revenue_share,
              mean_recency_days, mean_frequency, mean_monetary
       FROM ${RFM_SEGMENTS_RESULT} ORDER BY segment_order`,
    )
  ).map(
    (r): RfmSegmentRow => ({
      segment: String(r.segment),
      description: String(r.description),
      customers: num(r.customers),
      customerShare: num(r.customer_share),
      revenue: num(r.revenue),
      revenueShare: num(r.revenue_share),
      meanRecencyDays: numOrNull(r.mean_recency_days),
      meanFrequency: numOrNull(r.mean_frequency),
      meanMonetary: numOrNull(r.mean_monetary),
    }),
  )
  let selected: RfmReportData['selected'] = null
  if (segment !== undefined) {
    const name = await resolveSegment(engine, segment)
    await loadResult(engine, lake, RFM_RESULT, 'rfm')
    const customers = await rows(
      engine,
      `SELECT customer_id, segment, rfm_cell, recency_days, frequency, CAST(monetary AS DOUBLE) AS monetary,
              CAST(last_order_date AS VARCHAR) AS last_order_date
       FROM ${RFM_RESULT} WHERE segment = $1 ORDER BY monetary DESC, customer_id LIMIT $2`,
      [name, top],
    )
    selected = {
      segment: name,
      customers: segments.find((s) => s.segment === name)?.customers ?? 0,
      top: customers.map((r) => ({
        customerId: String(r.customer_id),
        segment: String(r.segment),
        rfmCell: String(r.rfm_cell),
        recencyDays: num(r.recency_days),
        frequency: num(r.frequency),
        monetary: num(r.monetary),
        lastOrderDate: String(r.last_order_date),
      })),
    }
  }
  return {
    report: 'rfm',
    run: meta(run),
    customers: segments.reduce((n, s) => n + s.customers, 0),
    revenue: segments.reduce((n, s) => n + s.revenue, 0),
    segments,
    selected,
  }
}

interface SavedFit {
  model?: string
  parameters?: Record<string, number>
  standardErrors?: Record<string, number | null>
  logLikelihood?: number
}

function fitOf(saved: SavedFit | undefined): ClvModelFit | null {
  if (!saved?.model) return null
  return {
    model: saved.model,
    parameters: saved.parameters ?? {},
    standardErrors: saved.standardErrors ?? {},
    logLikelihood: saved.logLikelihood ?? null,
  }
}

async function clvReport(engine: Engine, lake: string, top: number, segment?: string): Promise<ClvReportData> {
  const run = await loadResult(engine, lake, CLV_RESULT, 'clv')
  let from = CLV_RESULT
  let segmentName: string | null = null
  if (segment !== undefined) {
    await loadResult(engine, lake, RFM_SEGMENTS_RESULT, 'rfm')
    await loadResult(engine, lake, RFM_RESULT, 'rfm')
    segmentName = await resolveSegment(engine, segment)
    await engine.run(
      `CREATE OR REPLACE TEMP TABLE clv_selected AS
       SELECT c.* FROM ${CLV_RESULT} c JOIN ${RFM_RESULT} r USING (customer_id) WHERE r.segment = $1`,
      [segmentName],
    )
    from = 'clv_selected'
  }
  const [t] = await rows(
    engine,
    `SELECT count(*)::INTEGER AS customers, count(*) FILTER (WHERE frequency > 0)::INTEGER AS with_repeats,
            coalesce(sum(frequency), 0)::BIGINT AS repeat_purchases, coalesce(sum(clv), 0) AS total_clv,
            avg(clv) AS mean_clv, coalesce(sum(expected_purchases), 0) AS expected_purchases,
            avg(probability_alive) AS mean_alive
     FROM ${from}`,
  )
  const deciles = await rows(
    engine,
    `WITH ranked AS (SELECT clv, ntile(10) OVER (ORDER BY clv DESC, customer_id) AS decile FROM ${from}),
          total AS (SELECT sum(clv) AS total FROM ${from})
     SELECT decile, count(*)::INTEGER AS customers, sum(clv) AS clv,
            coalesce(sum(clv) / nullif(any_value(total.total), 0), 0) AS share
     FROM ranked, total GROUP BY decile ORDER BY decile`,
  )
  const customers = await rows(engine, `SELECT * FROM ${from} ORDER BY clv DESC, customer_id LIMIT $1`, [top])
  const summary = (run.summary ?? {}) as {
    purchaseModel?: SavedFit
    spendModel?: SavedFit
    calibrationEnd?: string
    timeUnit?: string
    holdout?: {days: number; actualRepeatPurchases: number; predictedRepeatPurchases: number} | null
  }
  const p = run.parameters as {horizonMonths?: number; discountRate?: number}
  return {
    report: 'clv',
    run: meta(run),
    segment: segmentName,
    timeUnit: summary.timeUnit ?? null,
    horizonMonths: p.horizonMonths ?? null,
    discountRate: p.discountRate ?? null,
    calibrationEnd: summary.calibrationEnd ?? null,
    purchaseModel: fitOf(summary.purchaseModel),
    spendModel: fitOf(summary.spendModel),
    totals: {
      customers: num(t?.customers),
      withRepeatPurchases: num(t?.with_repeats),
      repeatPurchases: num(t?.repeat_purchases),
      totalClv: num(t?.total_clv),
      meanClv: numOrNull(t?.mean_clv),
      expectedPurchases: num(t?.expected_purchases),
      meanProbabilityAlive: numOrNull(t?.mean_alive),
    },
    deciles: deciles.map((d) => ({
      decile: num(d.decile),
      customers: num(d.customers),
      clv: num(d.clv),
      share: num(d.share),
    })),
    holdout: summary.holdout
      ? {
          days: summary.holdout.days,
          actualRepeatPurchases: summary.holdout.actualRepeatPurchases,
          predictedRepeatPurchases: summary.holdout.predictedRepeatPurchases,
        }
      : null,
    topCustomers: customers.map((c) => ({
      customerId: String(c.customer_id),
      frequency: num(c.frequency),
      recency: num(c.recency),
      T: num(c.t),
      monetary: num(c.monetary),
      probabilityAlive: num(c.probability_alive),
      expectedPurchases: num(c.expected_purchases),
      expectedOrderValue: num(c.expected_order_value),
      clv: num(c.clv),
    })),
  }
}

async function fraudReport(engine: Engine, lake: string, top: number, since: string | null): Promise<FraudReportData> {
  const run = await loadResult(engine, lake, FRAUD_RESULT, 'fraud')
  // Every query reads the orders from --since on; with no --since the bound is the earliest day there can be.
  const day = since ?? '0001-01-01'
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE fraud_shown AS SELECT * FROM ${FRAUD_RESULT} WHERE order_date >= CAST($1 AS DATE)`,
    [day],
  )
  const [c] = await rows(
    engine,
    `SELECT count(*)::INTEGER AS orders, count(*) FILTER (WHERE flagged)::INTEGER AS flagged,
            coalesce(sum(total) FILTER (WHERE flagged), 0) AS flagged_amount FROM fraud_shown`,
  )
  const bands = await rows(
    engine,
    `SELECT band, count(risk_score)::INTEGER AS orders
     FROM (VALUES (0, '0-10', 0, 10), (1, '10-30', 10, 30), (2, '30-50', 30, 50), (3, '50-70', 50, 70),
                  (4, '70-90', 70, 90), (5, '90-100', 90, 101)) b(i, band, lo, hi)
     LEFT JOIN fraud_shown ON risk_score >= lo AND risk_score < hi
     GROUP BY i, band ORDER BY i`,
  )
  const reasons = await rows(
    engine,
    `SELECT reason, count(*)::INTEGER AS orders FROM (SELECT unnest(reasons) AS reason FROM fraud_shown WHERE flagged)
     GROUP BY reason ORDER BY orders DESC, reason`,
  )
  const daily = await rows(
    engine,
    `SELECT CAST(order_date AS VARCHAR) AS day, count(*)::INTEGER AS orders, count(*) FILTER (WHERE flagged)::INTEGER AS flagged
     FROM fraud_shown GROUP BY order_date ORDER BY order_date`,
  )
  const flaggedOrders = await rows(
    engine,
    `SELECT order_id, customer_id, strftime(order_time, '%Y-%m-%dT%H:%M:%SZ') AS order_time, total, risk_score, reasons
     FROM fraud_shown WHERE flagged ORDER BY risk_score DESC, order_time, order_id LIMIT $1`,
    [top],
  )
  const orders = num(c?.orders)
  const flagged = num(c?.flagged)
  const summary = (run.summary ?? {}) as {metrics?: FraudMetrics | null}
  return {
    report: 'fraud',
    run: meta(run),
    threshold: Number((run.parameters as {threshold?: number}).threshold ?? 0),
    since,
    orders,
    flagged,
    flaggedShare: orders > 0 ? flagged / orders : null,
    flaggedAmount: num(c?.flagged_amount),
    scoreBands: bands.map((b) => ({band: String(b.band), orders: num(b.orders)})),
    reasons: reasons.map((r) => ({reason: String(r.reason), orders: num(r.orders)})),
    daily: daily.map((d) => ({day: String(d.day), orders: num(d.orders), flagged: num(d.flagged)})),
    flaggedOrders: flaggedOrders.map((o) => ({
      orderId: String(o.order_id),
      customerId: o.customer_id === null ? null : String(o.customer_id),
      orderTime: String(o.order_time),
      total: num(o.total),
      score: num(o.risk_score),
      reasons: Array.isArray(o.reasons) ? o.reasons.map(String) : [],
    })),
    metrics: summary.metrics ?? null,
  }
}

const PERIOD_COLUMNS = `CAST(period AS VARCHAR) AS period, days, CAST(revenue AS DOUBLE) AS revenue,
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
  const [t] = await rows(
    engine,
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

async function kpiReport(engine: Engine, lake: string, top: number, since: string | null): Promise<KpiReportData> {
  const run = await loadResult(engine, lake, KPI_RESULTS.daily, 'kpi')
  await loadResult(engine, lake, KPI_RESULTS.weekly, 'kpi')
  await loadResult(engine, lake, KPI_RESULTS.topProducts, 'kpi')
  await loadResult(engine, lake, KPI_RESULTS.topCategories, 'kpi')
  const day = since ?? '0001-01-01'
  const daily = (
    await rows(
      engine,
      `SELECT ${PERIOD_COLUMNS} FROM ${KPI_RESULTS.daily} WHERE period >= CAST($1 AS DATE) ORDER BY period`,
      [day],
    )
  ).map(toPeriod)
  // A week is shown when it holds a day from --since on; its figures are the whole week's.
  const weekly = (
    await rows(
      engine,
      `SELECT ${PERIOD_COLUMNS} FROM ${KPI_RESULTS.weekly}
       WHERE period >= CAST(date_trunc('week', CAST($1 AS DATE)) AS DATE) ORDER BY period`,
      [day],
    )
  ).map(toPeriod)
  const summary = (run.summary ?? {}) as {from?: string; totals?: KpiPeriod}
  const totals = since === null && summary.totals ? summary.totals : await kpiTotals(engine, day)
  const products = await rows(
    engine,
    `SELECT rank, product_id, category, orders, units, CAST(revenue AS DOUBLE) AS revenue
     FROM ${KPI_RESULTS.topProducts} WHERE rank <= $1 ORDER BY rank`,
    [top],
  )
  const categories = await rows(
    engine,
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

async function funnelReport(engine: Engine, lake: string, top: number): Promise<FunnelReportData> {
  const run = await loadResult(engine, lake, FUNNEL_RESULT, 'funnel')
  const all = await rows(
    engine,
    `SELECT dimension, value, step, sessions, step_conversion, overall_conversion, drop_off,
            max(sessions) OVER (PARTITION BY dimension, value) AS group_sessions
     FROM ${FUNNEL_RESULT} ORDER BY dimension, group_sessions DESC, value, step_index`,
  )
  const groups = (dimension: string): FunnelGroupRow[] => {
    const out: FunnelGroupRow[] = []
    for (const r of all.filter((x) => x.dimension === dimension)) {
      const value = String(r.value)
      let group = out.at(-1)
      if (!group || group.value !== value) {
        group = {value, steps: []}
        out.push(group)
      }
      group.steps.push({
        step: String(r.step),
        sessions: num(r.sessions),
        stepConversion: numOrNull(r.step_conversion),
        overallConversion: numOrNull(r.overall_conversion),
        dropOff: num(r.drop_off),
      })
    }
    return out
  }
  const countries = groups('country')
  return {
    report: 'funnel',
    run: meta(run),
    overall: groups('all')[0]?.steps ?? [],
    byDevice: groups('device'),
    byCountry: countries.slice(0, top),
    countries: countries.length,
  }
}

async function cohortReport(
  engine: Engine,
  lake: string,
  top: number,
  since: string | null,
): Promise<CohortReportData> {
  const run = await loadResult(engine, lake, COHORT_RESULT, 'cohort')
  const cohortRows = await rows(
    engine,
    `WITH shown AS (
       SELECT DISTINCT cohort_month FROM ${COHORT_RESULT}
       WHERE cohort_month >= CAST(date_trunc('month', CAST($1 AS DATE)) AS DATE)
       ORDER BY cohort_month DESC LIMIT $2
     )
     SELECT CAST(cohort_month AS VARCHAR) AS cohort_month, months_since_first, cohort_size, customers, retention, orders,
            CAST(revenue AS DOUBLE) AS revenue, cumulative_revenue_per_customer, complete
     FROM ${COHORT_RESULT} JOIN shown USING (cohort_month) ORDER BY cohort_month, months_since_first`,
    [since ?? '0001-01-01', top],
  )
  const cohorts: CohortRow[] = []
  for (const r of cohortRows) {
    const month = String(r.cohort_month)
    let cohort = cohorts.at(-1)
    if (!cohort || cohort.cohortMonth !== month) {
      cohort = {cohortMonth: month, size: num(r.cohort_size), periods: []}
      cohorts.push(cohort)
    }
    cohort.periods.push({
      monthsSinceFirst: num(r.months_since_first),
      customers: num(r.customers),
      retention: num(r.retention),
      orders: num(r.orders),
      revenue: num(r.revenue),
      cumulativeRevenuePerCustomer: num(r.cumulative_revenue_per_customer),
      complete: r.complete === true,
    })
  }
  return {
    report: 'cohort',
    run: meta(run),
    since,
    customers: cohorts.reduce((n, c) => n + c.size, 0),
    cohorts,
  }
}

/** Runs `build`; a result never saved becomes null and is listed as missing, any other error goes on up. */
async function optional<T>(
  missing: SummaryReportData['missing'],
  analysis: string,
  lake: string,
  build: () => Promise<T>,
): Promise<T | null> {
  try {
    return await build()
  } catch (error) {
    if (error instanceof EcapError && error.code === 'RESULT_MISSING') {
      missing.push({analysis, command: `ecap analyze ${analysis} --lake ${lake}`})
      return null
    }
    throw error
  }
}

async function summaryReport(engine: Engine, lake: string, since: string | null): Promise<SummaryReportData> {
  const missing: SummaryReportData['missing'] = []
  const kpi = await optional(missing, 'kpi', lake, async () => {
    const k = await kpiReport(engine, lake, 1, since)
    return {
      run: k.run,
      from: k.from,
      to: k.to,
      since: k.since,
      totals: k.totals,
      daily: k.daily.map((d) => ({day: d.period, revenue: d.revenue})),
    }
  })
  const rfm = await optional(missing, 'rfm', lake, async () => {
    const r = await rfmReport(engine, lake, 1)
    return {run: r.run, customers: r.customers, revenue: r.revenue, segments: r.segments}
  })
  const clv = await optional(missing, 'clv', lake, async () => {
    const c = await clvReport(engine, lake, 1)
    return {
      run: c.run,
      totals: c.totals,
      purchaseModel: c.purchaseModel,
      spendModel: c.spendModel,
      horizonMonths: c.horizonMonths,
      holdout: c.holdout,
    }
  })
  const fraud = await optional(missing, 'fraud', lake, async () => {
    const f = await fraudReport(engine, lake, 1, since)
    return {
      run: f.run,
      threshold: f.threshold,
      orders: f.orders,
      flagged: f.flagged,
      flaggedShare: f.flaggedShare,
      metrics: f.metrics,
    }
  })
  const funnel = await optional(missing, 'funnel', lake, async () => {
    const f = await funnelReport(engine, lake, 1)
    return {run: f.run, overall: f.overall}
  })
  const cohort = await optional(missing, 'cohort', lake, async () => {
    const c = await cohortReport(engine, lake, 6, since)
    return {run: c.run, customers: c.customers, cohorts: c.cohorts}
  })
  if (missing.length === 6) {
    throw new DataError('RESULT_MISSING', `No saved analysis result in ${lake}.`, {
      hints: [`ecap analyze all --lake ${lake}`],
    })
  }
  return {report: 'summary', lake, missing, kpi, rfm, clv, fraud, funnel, cohort}
}
