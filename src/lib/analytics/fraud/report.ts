import type {Engine} from '../../engine/engine.js'
import type {ReportDocument, ReportSection, TableBlock} from '../../report/document.js'
import {col, incompleteDayOf, isWholeDay, meta, num, type RunMeta, runLine, table} from '../report-common.js'
import {loadResult} from '../store.js'
import {FRAUD_RESULT} from './analyze.js'
import type {FraudMetrics} from './metrics.js'

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
  /** What scored the run: the hand-set rules or a learned model (its models/fraud version). */
  model: {kind: 'rules' | 'learned'; version: number | null}
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
  /**
   * The as-of day when the data ends before that day does, else null (also for runs saved before ecap recorded
   * it): left out of the flagged-per-day chart, where a day cut short would draw a fall. `daily` keeps it.
   */
  incompleteDay: string | null
}

export interface FraudReportOptions {
  lake: string
  /** Flagged orders listed, highest score first. */
  top: number
  /** First day shown (YYYY-MM-DD), or null for all. */
  since: string | null
}

/** The fraud report from the saved scores of every order. */
export async function buildFraudReport(
  engine: Engine,
  {lake, top, since}: FraudReportOptions,
): Promise<FraudReportData> {
  const run = await loadResult(engine, lake, FRAUD_RESULT, 'fraud')
  // Every query reads the orders from --since on; with no --since the bound is the earliest day there can be.
  const day = since ?? '0001-01-01'
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE fraud_shown AS SELECT * FROM ${FRAUD_RESULT} WHERE order_date >= CAST($1 AS DATE)`,
    [day],
  )
  const [c] =
    await engine.rows(`SELECT count(*)::INTEGER AS orders, count(*) FILTER (WHERE flagged)::INTEGER AS flagged,
            coalesce(sum(total) FILTER (WHERE flagged), 0) AS flagged_amount FROM fraud_shown`)
  const bands = await engine.rows(`SELECT band, count(risk_score)::INTEGER AS orders
     FROM (VALUES (0, '0-10', 0, 10), (1, '10-30', 10, 30), (2, '30-50', 30, 50), (3, '50-70', 50, 70),
                  (4, '70-90', 70, 90), (5, '90-100', 90, 101)) b(i, band, lo, hi)
     LEFT JOIN fraud_shown ON risk_score >= lo AND risk_score < hi
     GROUP BY i, band ORDER BY i`)
  const reasons =
    await engine.rows(`SELECT reason, count(*)::INTEGER AS orders FROM (SELECT unnest(reasons) AS reason FROM fraud_shown WHERE flagged)
     GROUP BY reason ORDER BY orders DESC, reason`)
  // Every day from the first order to the last, a day without orders as 0: the chart's x axis is time, not rows.
  const daily = await engine.rows(`WITH span AS (SELECT min(order_date) AS lo, max(order_date) AS hi FROM fraud_shown),
       days AS (SELECT CAST(d AS DATE) AS order_date FROM span, generate_series(lo, hi, INTERVAL 1 DAY) t(d) WHERE lo IS NOT NULL)
     SELECT CAST(days.order_date AS VARCHAR) AS day, count(f.order_id)::INTEGER AS orders,
            count(f.order_id) FILTER (WHERE f.flagged)::INTEGER AS flagged
     FROM days LEFT JOIN fraud_shown f ON f.order_date = days.order_date
     GROUP BY days.order_date ORDER BY days.order_date`)
  const flaggedOrders = await engine.rows(
    `SELECT order_id, customer_id, strftime(order_time, '%Y-%m-%dT%H:%M:%SZ') AS order_time, total, risk_score, reasons
     FROM fraud_shown WHERE flagged ORDER BY risk_score DESC, order_time, order_id LIMIT $1`,
    [top],
  )
  const orders = num(c?.orders)
  const flagged = num(c?.flagged)
  const summary = (run.summary ?? {}) as {metrics?: FraudMetrics | null; latestEventTime?: string | null}
  return {
    report: 'fraud',
    run: meta(run),
    threshold: Number((run.parameters as {threshold?: number}).threshold ?? 0),
    // Runs saved before learned models existed were scored by the rules.
    model: (run.parameters as {model?: FraudReportData['model']}).model ?? {kind: 'rules', version: null},
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
    incompleteDay: incompleteDayOf(run.asOf, summary.latestEventTime) ?? null,
  }
}

export function metricsTable(m: NonNullable<FraudReportData['metrics']>): TableBlock {
  return table(
    'metrics',
    [col('metric', 'metric'), col('value', 'value', 'fixed3')],
    [
      ['fraud orders (labels)', m.fraudOrders],
      [`precision at ${m.threshold}`, m.precision],
      [`recall at ${m.threshold}`, m.recall],
      [`F1 at ${m.threshold}`, m.f1],
      ['PR-AUC', m.prAuc],
      ['ROC-AUC', m.rocAuc],
      [`precision of top ${m.topKPerDay.k} per day`, m.topKPerDay.precision],
    ],
  )
}

/** Flagged orders, highest score first, with the reasons that scored them: the list someone reviews. */
export function flaggedOrdersTable(orders: FraudOrderRow[]): TableBlock {
  return table(
    'flagged',
    [
      col('order_id', 'order'),
      col('customer_id', 'customer'),
      col('order_time', 'time'),
      col('total', 'total', 'money'),
      col('risk_score', 'score', 'fixed1'),
      col('reasons', 'top reasons'),
    ],
    orders.map((o) => [o.orderId, o.customerId, o.orderTime, o.total, o.score, o.reasons.join(' ')]),
    true,
  )
}

export function fraudDocument(d: FraudReportData): ReportDocument {
  const sections: ReportSection[] = [
    {
      title: 'Flagged orders',
      blocks: [
        {
          kind: 'metrics',
          items: [
            {label: 'orders', value: d.orders, format: 'int'},
            {label: 'flagged', value: d.flagged, format: 'int'},
            {label: 'flagged share', value: d.flaggedShare, format: 'pct'},
            {label: 'flagged amount', value: d.flaggedAmount, format: 'money'},
            {label: 'threshold', value: d.threshold, format: 'fixed1'},
          ],
        },
        {
          kind: 'sparkline',
          title: 'Flagged orders per day',
          format: 'int',
          points: d.daily
            .filter((x) => isWholeDay(x.day, d.incompleteDay))
            .map((x) => ({label: x.day, value: x.flagged})),
        },
        ...(d.incompleteDay
          ? [
              {
                kind: 'text',
                tone: 'note',
                text: `${d.incompleteDay}${d.incompleteDay < d.run.asOf ? ` to ${d.run.asOf} are` : ' is'} left out of the chart: the data ends inside ${d.incompleteDay}.`,
              } as const,
            ]
          : []),
        {
          kind: 'bars',
          title: 'Orders by risk score',
          series: ['orders'],
          format: 'int',
          groups: d.scoreBands.map((b) => ({label: b.band, values: [b.orders]})),
        },
        flaggedOrdersTable(d.flaggedOrders),
      ],
    },
  ]
  if (d.reasons.length > 0) {
    sections.push({
      title: 'Reasons among flagged orders',
      blocks: [
        table(
          'reasons',
          [col('reason', 'reason'), col('orders', 'flagged orders', 'int')],
          d.reasons.map((r) => [r.reason, r.orders]),
        ),
      ],
    })
  }
  sections.push({
    title: 'Against labels',
    blocks: d.metrics
      ? [
          metricsTable(d.metrics),
          ...(d.since
            ? [{kind: 'text', tone: 'note', text: 'Metrics cover the whole run, not only --since.'} as const]
            : []),
        ]
      : [{kind: 'text', tone: 'note', text: 'No labels: run ecap analyze fraud --labels FILE to measure the scores.'}],
  })
  return {
    title: 'Fraud scores',
    subtitle: [
      runLine(d.run, `${d.orders.toLocaleString('en-US')} orders`),
      d.model.kind === 'learned'
        ? `Scored by the learned model (models/fraud version ${d.model.version})`
        : 'Scored by the hand-set rules',
      ...(d.since ? [`Orders from ${d.since}`] : []),
    ],
    sections,
  }
}
