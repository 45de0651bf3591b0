import type {Engine} from '../../engine/engine.js'
import {DataError, EcapError} from '../../errors.js'
import type {MetricsBlock, ReportDocument, ReportSection, TableBlock} from '../../report/document.js'
import {buildClvReport, type ClvReportData, clvCustomersTable, clvDecileBars, unvaluedNote} from '../clv/report.js'
import {buildCohortReport, type CohortReportData, retentionHeatmap} from '../cohort/report.js'
import {buildFraudReport, type FraudReportData, flaggedOrdersTable} from '../fraud/report.js'
import {buildFunnelReport, type FunnelReportData, funnelBlock} from '../funnel/report.js'
import {
  buildKpiReport,
  changesSection,
  dailyRevenueChart,
  type KpiReportData,
  kpiMetrics,
  wholeDaysNote,
} from '../kpi/report.js'
import {col, table} from '../report-common.js'
import {actionsTable, buildRfmReport, type RfmReportData} from '../rfm/report.js'

export interface SummaryReportData {
  report: 'summary'
  lake: string
  /** Analyses never run on this lake, with the command that would run each. */
  missing: {analysis: string; command: string}[]
  kpi:
    | (Pick<
        KpiReportData,
        'run' | 'from' | 'to' | 'since' | 'totals' | 'latestEventTime' | 'incompleteDay' | 'changes'
      > & {daily: {day: string; revenue: number}[]})
    | null
  /** Each segment with its size, revenue share and suggested action. */
  rfm: Pick<RfmReportData, 'run' | 'customers' | 'revenue' | 'segments'> | null
  /** The CLV distribution (deciles) and the top customers by CLV with their P(alive). */
  clv: Pick<
    ClvReportData,
    | 'run'
    | 'totals'
    | 'unvalued'
    | 'purchaseModel'
    | 'spendModel'
    | 'horizonMonths'
    | 'holdout'
    | 'deciles'
    | 'topCustomers'
  > | null
  /** With the top flagged orders, highest score first, and their reasons. */
  fraud: Pick<
    FraudReportData,
    'run' | 'threshold' | 'orders' | 'flagged' | 'flaggedShare' | 'metrics' | 'flaggedOrders'
  > | null
  funnel: Pick<FunnelReportData, 'run' | 'overall'> | null
  /** The latest cohorts (at most six) and their first months. */
  cohort: Pick<CohortReportData, 'run' | 'customers' | 'cohorts'> | null
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

export interface SummaryReportOptions {
  lake: string
  /** First day shown (YYYY-MM-DD), or null for all. */
  since: string | null
}

/** Flagged orders and top customers the overview lists: enough to act on today, few enough to read. */
export const SUMMARY_TOP = {flaggedOrders: 10, customers: 5} as const

/** The overview of the shop: whatever analyses were saved, naming those still to run. */
export async function buildSummaryReport(
  engine: Engine,
  {lake, since}: SummaryReportOptions,
): Promise<SummaryReportData> {
  const missing: SummaryReportData['missing'] = []
  const kpi = await optional(missing, 'kpi', lake, async () => {
    const k = await buildKpiReport(engine, {lake, top: 1, since})
    return {
      run: k.run,
      from: k.from,
      to: k.to,
      since: k.since,
      totals: k.totals,
      latestEventTime: k.latestEventTime,
      incompleteDay: k.incompleteDay,
      changes: k.changes,
      daily: k.daily.map((d) => ({day: d.period, revenue: d.revenue})),
    }
  })
  const rfm = await optional(missing, 'rfm', lake, async () => {
    const r = await buildRfmReport(engine, {lake, top: 1})
    return {run: r.run, customers: r.customers, revenue: r.revenue, segments: r.segments}
  })
  const clv = await optional(missing, 'clv', lake, async () => {
    const c = await buildClvReport(engine, {lake, top: SUMMARY_TOP.customers})
    return {
      run: c.run,
      totals: c.totals,
      unvalued: c.unvalued,
      deciles: c.deciles,
      topCustomers: c.topCustomers,
      purchaseModel: c.purchaseModel,
      spendModel: c.spendModel,
      horizonMonths: c.horizonMonths,
      holdout: c.holdout,
    }
  })
  const fraud = await optional(missing, 'fraud', lake, async () => {
    const f = await buildFraudReport(engine, {lake, top: SUMMARY_TOP.flaggedOrders, since})
    return {
      run: f.run,
      threshold: f.threshold,
      orders: f.orders,
      flagged: f.flagged,
      flaggedShare: f.flaggedShare,
      metrics: f.metrics,
      flaggedOrders: f.flaggedOrders,
    }
  })
  const funnel = await optional(missing, 'funnel', lake, async () => {
    const f = await buildFunnelReport(engine, {lake, top: 1})
    return {run: f.run, overall: f.overall}
  })
  const cohort = await optional(missing, 'cohort', lake, async () => {
    const c = await buildCohortReport(engine, {lake, top: 6, since})
    return {run: c.run, customers: c.customers, cohorts: c.cohorts}
  })
  if (missing.length === 6) {
    throw new DataError('RESULT_MISSING', `No saved analysis result in ${lake}.`, {
      hints: [`ecap analyze all --lake ${lake}`],
    })
  }
  return {report: 'summary', lake, missing, kpi, rfm, clv, fraud, funnel, cohort}
}

export function summaryDocument(d: SummaryReportData): ReportDocument {
  const sections: ReportSection[] = []
  const headline: TableBlock['rows'] = []
  if (d.kpi) {
    const t = d.kpi.totals
    const dayData = {...d.kpi, daily: d.kpi.daily.map((p) => ({period: p.day, revenue: p.revenue}))}
    headline.push(['revenue', t.revenue], ['orders', t.orders], ['AOV', t.aov], ['conversion', t.conversionRate])
    sections.push({
      title: `Shop, ${d.kpi.from} to ${d.kpi.to}`,
      blocks: [kpiMetrics(t), dailyRevenueChart(dayData), wholeDaysNote(dayData)],
    })
    sections.push(changesSection(d.kpi.changes))
  }
  if (d.rfm) {
    headline.push(['customers (RFM)', d.rfm.customers])
    sections.push({
      title: `Customers: ${d.rfm.customers.toLocaleString('en-US')} in RFM segments`,
      // The table holds each segment's share of customers and of revenue beside what to do: bars of the same
      // shares would only repeat it (ecap report rfm draws them).
      blocks: [{...actionsTable(d.rfm.segments), title: 'Size, revenue share and what to do'}],
    })
  }
  if (d.clv) {
    const c = d.clv
    headline.push(['total CLV', c.totals.totalClv])
    const fit = c.purchaseModel
    // A fit can hold NaN (a degenerate fit on a short history); a reader sees n/a, never NaN.
    const shown = (v: number | null | undefined, text: (v: number) => string) =>
      v === null || v === undefined ? '-' : Number.isFinite(v) ? text(v) : 'n/a'
    const params = fit
      ? `${fit.model} ${Object.entries(fit.parameters)
          .map(([k, v]) => `${k}=${shown(v, (x) => x.toPrecision(3))}`)
          .join(' ')}, log-likelihood ${shown(fit.logLikelihood, (x) => x.toFixed(1))}`
      : 'no fit recorded'
    const na = (value: number | null) => (value === null && c.unvalued ? 'n/a' : value)
    sections.push({
      title: 'Customer lifetime value',
      blocks: [
        {
          kind: 'metrics',
          items: [
            {label: `total CLV (${c.horizonMonths ?? '?'} months)`, value: na(c.totals.totalClv), format: 'money'},
            {label: 'mean', value: na(c.totals.meanClv), format: 'money'},
            {label: 'customers', value: c.totals.customers, format: 'int'},
            {label: 'mean P(alive)', value: c.totals.meanProbabilityAlive, format: 'pct'},
          ],
        },
        {
          kind: 'text',
          text: `Fit: ${params}${c.holdout ? `; holdout ${c.holdout.actualRepeatPurchases} repeat purchases, ${shown(c.holdout.predictedRepeatPurchases, (x) => x.toFixed(1))} predicted` : ''}`,
        },
        ...unvaluedNote(c),
        clvDecileBars(c),
        {
          ...clvCustomersTable(c.topCustomers),
          name: 'top_customers',
          title: `Top ${c.topCustomers.length} customers by CLV, with their chance of still being active`,
        },
      ],
    })
  }
  if (d.fraud) {
    const f = d.fraud
    headline.push(['flagged orders', f.flagged])
    const m = f.metrics
    const items: MetricsBlock['items'] = [
      {label: 'orders scored', value: f.orders, format: 'int'},
      {label: `flagged (score ≥ ${f.threshold})`, value: f.flagged, format: 'int'},
      {label: 'share', value: f.flaggedShare, format: 'pct'},
    ]
    if (m) {
      items.push(
        {label: 'precision', value: m.precision, format: 'fixed3'},
        {label: 'recall', value: m.recall, format: 'fixed3'},
        {label: 'PR-AUC', value: m.prAuc, format: 'fixed3'},
      )
    }
    sections.push({
      title: 'Fraud',
      blocks: [
        {kind: 'metrics', items},
        f.flaggedOrders.length === 0
          ? {kind: 'text', text: 'No order scored at or above the threshold.'}
          : {
              ...flaggedOrdersTable(f.flaggedOrders),
              primary: false,
              title: `Top ${f.flaggedOrders.length} flagged orders, highest score first, with their reasons`,
            },
      ],
    })
  }
  if (d.funnel) sections.push({title: 'Funnel', blocks: [funnelBlock('Sessions reaching each step', d.funnel.overall)]})
  if (d.cohort) {
    sections.push({title: 'Cohorts', blocks: [retentionHeatmap(d.cohort.cohorts, 6)]})
  }
  if (d.missing.length > 0) {
    sections.push({
      title: 'Not analysed yet',
      blocks: d.missing.map((m) => ({
        kind: 'text',
        tone: 'warning',
        text: `No ${m.analysis} result: run ${m.command}`,
      })),
    })
  }
  // The page's headline figures in one table, for --format csv; the page shows them already.
  const figures = table('summary', [col('metric', 'metric'), col('value', 'value', 'fixed2')], headline, true)
  sections[0]?.blocks.push({...figures, dataOnly: true})
  const asOf = d.kpi?.run.asOf ?? d.rfm?.run.asOf ?? d.clv?.run.asOf ?? d.fraud?.run.asOf ?? d.funnel?.run.asOf
  return {
    title: 'Shop summary',
    subtitle: [`Lake ${d.lake}${asOf ? `, as of ${asOf}` : ''}`],
    sections,
  }
}
