import type {Json} from '@duckdb/node-api'
import type {Engine} from '../../engine/engine.js'
import type {MetricsBlock, ReportBlock, ReportDocument, TableBlock} from '../../report/document.js'
import {col, meta, num, numOrNull, type RunMeta, runLine, table} from '../report-common.js'
import {resolveSegment} from '../rfm/report.js'
import {RFM_RESULT, RFM_SEGMENTS_RESULT} from '../rfm/rfm.js'
import {loadResult, type RunInfo} from '../store.js'
import {CLV_RESULT} from './save.js'

export interface ClvCustomerRow {
  customerId: string
  frequency: number
  recency: number
  T: number
  monetary: number
  probabilityAlive: number | null
  /** Null when the fit gives no finite number for this customer (see ClvReportData.unvalued). */
  expectedPurchases: number | null
  expectedOrderValue: number | null
  clv: number | null
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
    /** Null (n/a) when some customers have no value: a total without them would understate the shop. */
    totalClv: number | null
    meanClv: number | null
    expectedPurchases: number | null
    meanProbabilityAlive: number | null
  }
  /**
   * Customers the fit could not value (CLV or expected purchases not a finite number), and why; null when all have a
   * value. The deciles and the top customers then cover the valued ones only.
   */
  unvalued: {customers: number; withoutRepeatPurchases: number; reason: string} | null
  /** Customers in ten groups by CLV, highest first, with the share of the total value each holds. */
  deciles: {decile: number; customers: number; clv: number; share: number}[]
  holdout: {days: number; actualRepeatPurchases: number; predictedRepeatPurchases: number} | null
  topCustomers: ClvCustomerRow[]
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

export interface ClvReportOptions {
  lake: string
  /** Customers listed, highest CLV first. */
  top: number
  /** Only this RFM segment's customers. */
  segment?: string
  /**
   * A fit that wrote no lake (a transactions file): its per-customer values are read from the engine's table and its
   * run from here, not from `analytics/clv`.
   */
  unsaved?: {table: string; run: RunInfo}
}

/** The clv report from the saved per-customer values and the fit saved with them. */
export async function buildClvReport(
  engine: Engine,
  {lake, top, segment, unsaved}: ClvReportOptions,
): Promise<ClvReportData> {
  const run = unsaved?.run ?? (await loadResult(engine, lake, CLV_RESULT, 'clv'))
  let from = unsaved?.table ?? CLV_RESULT
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
  // A fit can leave some customers without a finite value (NaN): they are counted, never summed or ranked, since
  // DuckDB sorts NaN above every number and a NaN in a sum makes the whole total NaN.
  const valued = 'isfinite(clv) AND isfinite(expected_purchases)'
  const [t] =
    await engine.rows(`SELECT count(*)::INTEGER AS customers, count(*) FILTER (WHERE frequency > 0)::INTEGER AS with_repeats,
            coalesce(sum(frequency), 0)::BIGINT AS repeat_purchases,
            count(*) FILTER (WHERE NOT (${valued}))::INTEGER AS unvalued,
            count(*) FILTER (WHERE NOT (${valued}) AND frequency = 0)::INTEGER AS unvalued_one_time,
            coalesce(sum(clv) FILTER (WHERE ${valued}), 0) AS total_clv,
            avg(clv) FILTER (WHERE ${valued}) AS mean_clv,
            coalesce(sum(expected_purchases) FILTER (WHERE ${valued}), 0) AS expected_purchases,
            avg(probability_alive) FILTER (WHERE isfinite(probability_alive)) AS mean_alive
     FROM ${from}`)
  const deciles =
    await engine.rows(`WITH ranked AS (SELECT clv, ntile(10) OVER (ORDER BY clv DESC, customer_id) AS decile
                          FROM ${from} WHERE ${valued}),
          total AS (SELECT sum(clv) AS total FROM ${from} WHERE ${valued})
     SELECT decile, count(*)::INTEGER AS customers, sum(clv) AS clv,
            coalesce(sum(clv) / nullif(any_value(total.total), 0), 0) AS share
     FROM ranked, total GROUP BY decile ORDER BY decile`)
  const customers = await engine.rows(
    `SELECT * FROM ${from} ORDER BY (${valued}) DESC, clv DESC, customer_id LIMIT $1`,
    [top],
  )
  const summary = (run.summary ?? {}) as {
    purchaseModel?: SavedFit
    spendModel?: SavedFit
    calibrationEnd?: string
    timeUnit?: string
    holdout?: {days: number; actualRepeatPurchases: number; predictedRepeatPurchases: number} | null
  }
  const p = run.parameters as {horizonMonths?: number; discountRate?: number}
  const unvalued = num(t?.unvalued)
  const purchaseModel = fitOf(summary.purchaseModel)
  const whole = unvalued === 0
  return {
    report: 'clv',
    run: meta(run),
    segment: segmentName,
    timeUnit: summary.timeUnit ?? null,
    horizonMonths: p.horizonMonths ?? null,
    discountRate: p.discountRate ?? null,
    calibrationEnd: summary.calibrationEnd ?? null,
    purchaseModel,
    spendModel: fitOf(summary.spendModel),
    totals: {
      customers: num(t?.customers),
      withRepeatPurchases: num(t?.with_repeats),
      repeatPurchases: num(t?.repeat_purchases),
      totalClv: whole ? num(t?.total_clv) : null,
      meanClv: whole ? numOrNull(t?.mean_clv) : null,
      expectedPurchases: whole ? num(t?.expected_purchases) : null,
      meanProbabilityAlive: numOrNull(t?.mean_alive),
    },
    unvalued: whole
      ? null
      : {
          customers: unvalued,
          withoutRepeatPurchases: num(t?.unvalued_one_time),
          reason: unvaluedReason(unvalued, num(t?.customers), num(t?.unvalued_one_time), purchaseModel),
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
      probabilityAlive: finite(c.probability_alive),
      expectedPurchases: finite(c.expected_purchases),
      expectedOrderValue: finite(c.expected_order_value),
      clv: finite(c.clv),
    })),
  }
}

/** A saved figure as a number, or null when the fit left it NaN or infinite (JSON has no NaN; a reader sees n/a). */
function finite(x: Json | undefined): number | null {
  const n = numOrNull(x)
  return n !== null && Number.isFinite(n) ? n : null
}

/** Why some customers have no CLV, in the words a reader of the report needs. */
function unvaluedReason(unvalued: number, customers: number, oneTime: number, fit: ClvModelFit | null): string {
  const who =
    oneTime === unvalued ? ' (all of them bought only once)' : oneTime > 0 ? ` (${oneTime} bought only once)` : ''
  const params = fit
    ? ` (${fit.model} ${Object.entries(fit.parameters)
        .map(([k, v]) => `${k}=${Number.isFinite(v) ? v.toPrecision(3) : 'n/a'}`)
        .join(' ')})`
    : ''
  return `The fitted model${params} gives no finite expected purchases for ${unvalued.toLocaleString('en-US')} of ${customers.toLocaleString('en-US')} customers${who}, so total and mean CLV are n/a; the deciles and the top customers cover the customers with a value. Small or short histories can do this: fit on a longer history, or read their P(alive) instead.`
}

function fitTable(models: (ClvReportData['purchaseModel'] | null)[]): TableBlock {
  const rows: TableBlock['rows'] = []
  for (const fit of models) {
    if (!fit) continue
    for (const [name, value] of Object.entries(fit.parameters)) {
      rows.push([fit.model, name, value, fit.standardErrors[name] ?? null])
    }
    rows.push([fit.model, 'log-likelihood', fit.logLikelihood, null])
  }
  return table(
    'fit',
    [
      col('model', 'model'),
      col('parameter', 'parameter'),
      col('estimate', 'estimate', 'fixed4'),
      col('std_error', 'std. error', 'fixed4'),
    ],
    rows,
  )
}

/** The CLV distribution: the share of the total value each tenth of the customers holds. */
export function clvDecileBars(d: Pick<ClvReportData, 'deciles' | 'unvalued'>): ReportBlock {
  return {
    kind: 'bars',
    title: `Share of total CLV by customer decile (highest value first${d.unvalued ? ', customers with a value' : ''})`,
    series: ['share of CLV'],
    format: 'pct',
    groups: d.deciles.map((x) => ({label: `decile ${x.decile}`, values: [x.share]})),
  }
}

/** Why some figures read n/a, as a warning a reader cannot miss; nothing when every customer has a value. */
export function unvaluedNote(d: Pick<ClvReportData, 'unvalued'>): ReportBlock[] {
  return d.unvalued ? [{kind: 'text', tone: 'warning', text: d.unvalued.reason}] : []
}

/** Customers with their chance of still being active and their expected value, highest CLV first. */
export function clvCustomersTable(rows: ClvCustomerRow[], primary = false): TableBlock {
  return table(
    'customers',
    [
      col('customer_id', 'customer'),
      col('frequency', 'repeats', 'int'),
      col('recency', 'recency', 'fixed1'),
      col('t', 'T', 'fixed1'),
      col('monetary', 'mean spend', 'money'),
      col('probability_alive', 'P(alive)', 'fixed3'),
      col('expected_purchases', 'exp. purchases', 'fixed2'),
      col('expected_order_value', 'exp. value', 'money'),
      col('clv', 'CLV', 'money'),
    ],
    rows.map((c) => [
      c.customerId,
      c.frequency,
      c.recency,
      c.T,
      c.monetary,
      c.probabilityAlive,
      // A customer the fit could not value (see the note above the table) reads n/a, not a blank.
      c.expectedPurchases ?? 'n/a',
      c.expectedOrderValue,
      c.clv ?? 'n/a',
    ]),
    primary,
  )
}

/** A total that is null because customers lack a value reads "n/a", not "-" (which means nothing to show). */
const orNa = (value: number | null, d: ClvReportData) => (value === null && d.unvalued ? 'n/a' : value)

export function clvDocument(d: ClvReportData): ReportDocument {
  const t = d.totals
  const metrics: MetricsBlock = {
    kind: 'metrics',
    items: [
      {label: 'customers', value: t.customers, format: 'int'},
      {label: 'bought again', value: t.withRepeatPurchases, format: 'int'},
      {label: `total CLV (${d.horizonMonths ?? '?'} months)`, value: orNa(t.totalClv, d), format: 'money'},
      {label: 'mean CLV', value: orNa(t.meanClv, d), format: 'money'},
      {label: 'expected purchases', value: orNa(t.expectedPurchases, d), format: 'fixed1'},
      {label: 'mean P(alive)', value: t.meanProbabilityAlive, format: 'pct'},
    ],
  }
  const fitBlocks: ReportBlock[] = [fitTable([d.purchaseModel, d.spendModel])]
  if (d.holdout) {
    fitBlocks.push({
      kind: 'text',
      text: `Holdout of ${d.holdout.days} days: ${d.holdout.actualRepeatPurchases} repeat purchases, ${d.holdout.predictedRepeatPurchases.toFixed(1)} predicted.`,
    })
  }
  return {
    title: d.segment ? `Customer lifetime value: ${d.segment}` : 'Customer lifetime value',
    subtitle: [
      runLine(d.run, `${t.customers.toLocaleString('en-US')} customers`),
      `Calibration to ${d.calibrationEnd ?? '?'}, time unit ${d.timeUnit ?? '?'}, horizon ${d.horizonMonths ?? '?'} months, discount ${d.discountRate ?? '?'} per month`,
    ],
    sections: [
      {
        title: 'Totals',
        blocks: [metrics, ...unvaluedNote(d), clvDecileBars(d)],
      },
      {title: 'Model fit', blocks: fitBlocks},
      {
        title: `Top ${d.topCustomers.length} customers by CLV`,
        blocks: [clvCustomersTable(d.topCustomers, true)],
      },
    ],
  }
}
