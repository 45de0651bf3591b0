import type {Engine} from '../../engine/engine.js'
import {DataError, EcapError} from '../../errors.js'
import type {MetricsBlock, ReportDocument, ReportSection, TableBlock} from '../../report/document.js'
import {buildClvReport, type ClvReportData} from '../clv/report.js'
import {buildCohortReport, type CohortReportData, retentionHeatmap} from '../cohort/report.js'
import {buildFraudReport, type FraudReportData} from '../fraud/report.js'
import {buildFunnelReport, type FunnelReportData, funnelBlock} from '../funnel/report.js'
import {buildKpiReport, type KpiReportData, kpiMetrics} from '../kpi/report.js'
import {col, table} from '../report-common.js'
import {buildRfmReport, type RfmReportData} from '../rfm/report.js'

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

/** The one-screen overview: whatever analyses were saved, naming those still to run. */
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
      daily: k.daily.map((d) => ({day: d.period, revenue: d.revenue})),
    }
  })
  const rfm = await optional(missing, 'rfm', lake, async () => {
    const r = await buildRfmReport(engine, {lake, top: 1})
    return {run: r.run, customers: r.customers, revenue: r.revenue, segments: r.segments}
  })
  const clv = await optional(missing, 'clv', lake, async () => {
    const c = await buildClvReport(engine, {lake, top: 1})
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
    const f = await buildFraudReport(engine, {lake, top: 1, since})
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
    headline.push(['revenue', t.revenue], ['orders', t.orders], ['AOV', t.aov], ['conversion', t.conversionRate])
    sections.push({
      title: `Shop, ${d.kpi.from} to ${d.kpi.to}`,
      blocks: [
        kpiMetrics(t),
        {
          kind: 'sparkline',
          title: 'Daily revenue',
          format: 'money',
          points: d.kpi.daily.map((p) => ({label: p.day, value: p.revenue})),
        },
      ],
    })
  }
  if (d.rfm) {
    headline.push(['customers (RFM)', d.rfm.customers])
    sections.push({
      title: `Customers: ${d.rfm.customers.toLocaleString('en-US')} in RFM segments`,
      // One bar per segment keeps the overview on one screen; ecap report rfm has revenue beside it.
      blocks: [
        {
          kind: 'bars',
          title: 'Share of customers by segment',
          series: ['customers'],
          format: 'pct',
          groups: d.rfm.segments
            .filter((s) => s.customers > 0)
            .map((s) => ({label: s.segment, values: [s.customerShare]})),
        },
      ],
    })
  }
  if (d.clv) {
    const c = d.clv
    headline.push(['total CLV', c.totals.totalClv])
    const fit = c.purchaseModel
    const params = fit
      ? `${fit.model} ${Object.entries(fit.parameters)
          .map(([k, v]) => `${k}=${v.toPrecision(3)}`)
          .join(' ')}, log-likelihood ${fit.logLikelihood?.toFixed(1) ?? '-'}`
      : 'no fit recorded'
    sections.push({
      title: 'Customer lifetime value',
      blocks: [
        {
          kind: 'metrics',
          items: [
            {label: `total CLV (${c.horizonMonths ?? '?'} months)`, value: c.totals.totalClv, format: 'money'},
            {label: 'mean', value: c.totals.meanClv, format: 'money'},
            {label: 'customers', value: c.totals.customers, format: 'int'},
            {label: 'mean P(alive)', value: c.totals.meanProbabilityAlive, format: 'pct'},
          ],
        },
        {
          kind: 'text',
          text: `Fit: ${params}${c.holdout ? `; holdout ${c.holdout.actualRepeatPurchases} repeat purchases, ${c.holdout.predictedRepeatPurchases.toFixed(1)} predicted` : ''}`,
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
    sections.push({title: 'Fraud', blocks: [{kind: 'metrics', items}]})
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
