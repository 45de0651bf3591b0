import type {Engine} from '../../engine/engine.js'
import type {HeatmapBlock, ReportDocument} from '../../report/document.js'
import {col, meta, num, type RunMeta, runLine, table} from '../report-common.js'
import {loadResult} from '../store.js'
import {COHORT_RESULT, type Cohort} from './cohort.js'

export type CohortRow = Cohort

export interface CohortReportData {
  report: 'cohort'
  run: RunMeta
  since: string | null
  customers: number
  cohorts: CohortRow[]
}

export interface CohortReportOptions {
  lake: string
  /** The latest cohorts listed. */
  top: number
  /** First month shown (a day of it, YYYY-MM-DD), or null for all. */
  since: string | null
}

/** The cohort report from the saved (cohort, month) rows. */
export async function buildCohortReport(
  engine: Engine,
  {lake, top, since}: CohortReportOptions,
): Promise<CohortReportData> {
  const run = await loadResult(engine, lake, COHORT_RESULT, 'cohort')
  const cohortRows = await engine.rows(
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

export function retentionHeatmap(cohorts: CohortReportData['cohorts'], maxMonths?: number): HeatmapBlock {
  const months = Math.min(maxMonths ?? Number.POSITIVE_INFINITY, Math.max(0, ...cohorts.map((c) => c.periods.length)))
  const columns = Array.from({length: months}, (_, i) => `M${i}`)
  return {
    kind: 'heatmap',
    title: 'Retention: share of each cohort ordering n months after its first purchase',
    rowTitle: 'cohort',
    rows: cohorts.map((c) => `${c.cohortMonth.slice(0, 7)} (${c.size})`),
    columns,
    cells: cohorts.map((c) =>
      columns.map((_, m) => {
        const p = c.periods[m]
        return p ? {value: p.retention, partial: !p.complete} : null
      }),
    ),
    legend: '* month not over yet: its figure will still grow.',
  }
}

/** `months`: the months since the first purchase the heat map shows (all when absent; the table lists every one). */
export function cohortDocument(d: CohortReportData, months?: number): ReportDocument {
  return {
    title: 'Acquisition cohorts',
    subtitle: [
      runLine(d.run, `${d.customers.toLocaleString('en-US')} customers in ${d.cohorts.length} monthly cohorts`),
      ...(d.since ? [`Cohorts from ${d.since.slice(0, 7)}`] : []),
    ],
    sections: [
      {
        title: 'Retention',
        blocks: [
          retentionHeatmap(d.cohorts, months),
          table(
            'cohort',
            [
              col('cohort_month', 'cohort'),
              col('cohort_size', 'size', 'int'),
              col('months_since_first', 'month', 'int'),
              col('customers', 'customers', 'int'),
              col('retention', 'retention', 'pct'),
              col('orders', 'orders', 'int'),
              col('revenue', 'revenue', 'money'),
              col('cumulative_revenue_per_customer', 'cum. rev./customer', 'money'),
              col('complete', 'complete'),
            ],
            d.cohorts.flatMap((c) =>
              c.periods.map((p) => [
                c.cohortMonth,
                c.size,
                p.monthsSinceFirst,
                p.customers,
                p.retention,
                p.orders,
                p.revenue,
                p.cumulativeRevenuePerCustomer,
                p.complete,
              ]),
            ),
            true,
          ),
        ],
      },
    ],
  }
}
