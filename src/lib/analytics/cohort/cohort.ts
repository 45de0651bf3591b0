import type {Engine} from '../../engine/engine.js'
import {utcMonth} from '../../engine/sql.js'
import {registerShopViews, type ShopViews} from '../../shop/views.js'
import {cacheOrders} from '../sessions.js'
import {type RunInfo, resultPath, saveResult} from '../store.js'

/** Saved result: `<lake>/analytics/cohort`, one row per (cohort month, months since first purchase). */
export const COHORT_RESULT = 'cohort'

export interface CohortPeriod {
  /** 0 is the month of the first purchase. */
  monthsSinceFirst: number
  /** Customers of the cohort who ordered in this month. */
  customers: number
  /** customers / cohort size. */
  retention: number
  orders: number
  /** Net revenue of the cohort's orders in this month (refunds up to the as-of day subtracted). */
  revenue: number
  /** Net revenue of the cohort from month 0 to this one, per customer of the cohort. */
  cumulativeRevenuePerCustomer: number
  /** False for the month of the as-of day when that month is not over yet: its figures will still grow. */
  complete: boolean
}

export interface Cohort {
  /** First day of the month of the customers' first purchase (YYYY-MM-DD). */
  cohortMonth: string
  /** Customers acquired in the month. */
  size: number
  /** Month 0 to the month of the as-of day, zero-filled. */
  periods: CohortPeriod[]
}

export interface CohortComputation {
  asOf: string
  customers: number
  cohorts: Cohort[]
}

export interface CohortResult extends CohortComputation {
  analysis: 'cohort'
  lake: string
  eventsVersion: number
  /** Copies of an event_id already seen that the shop views set aside (each event counted once). */
  duplicateEvents: number
  saved: string
}

// Not the result's name: the report registers the saved result as a view of that name in the same engine.
const COHORT_TABLE = 'cohort_rows'

/**
 * Monthly acquisition cohorts of signed-in customers (month of the first purchase) by months since the first purchase:
 * customers who ordered, orders and net revenue, over the shop views (registerShopViews). Leaves the table `cohort`.
 */
export async function computeCohorts(engine: Engine, asOf: string): Promise<CohortComputation> {
  await cacheOrders(engine)
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${COHORT_TABLE} AS
     WITH members AS (
       SELECT customer_id, ${utcMonth('first_order_time')} AS cohort_month FROM customers
     ),
     sizes AS (SELECT cohort_month, count(*) AS size FROM members GROUP BY cohort_month),
     grid AS (
       -- Every month from the cohort's to the as-of day's, so months without orders show as zero.
       SELECT cohort_month, size,
              CAST(unnest(range(0, date_diff('month', cohort_month, CAST(date_trunc('month', CAST($1 AS DATE)) AS DATE)) + 1))
                AS INTEGER) AS months_since_first
       FROM sizes
     ),
     activity AS (
       SELECT m.cohort_month,
              date_diff('month', m.cohort_month, ${utcMonth('o.order_time')}) AS months_since_first,
              count(DISTINCT o.customer_id) AS customers, count(*) AS orders, sum(o.net_total) AS revenue
       FROM orders o JOIN members m USING (customer_id)
       GROUP BY ALL
     )
     SELECT g.cohort_month, g.months_since_first, CAST(g.size AS INTEGER) AS cohort_size,
            CAST(coalesce(a.customers, 0) AS INTEGER) AS customers,
            CAST(coalesce(a.customers, 0) / g.size AS DOUBLE) AS retention,
            CAST(coalesce(a.orders, 0) AS INTEGER) AS orders,
            CAST(coalesce(a.revenue, 0) AS DECIMAL(18, 2)) AS revenue,
            CAST(sum(coalesce(a.revenue, 0)) OVER (PARTITION BY g.cohort_month ORDER BY g.months_since_first) / g.size
                 AS DOUBLE) AS cumulative_revenue_per_customer,
            -- A month is complete once its last day is not after the as-of day.
            (g.cohort_month + to_months(g.months_since_first) + INTERVAL 1 MONTH) <= (CAST($1 AS DATE) + INTERVAL 1 DAY)
              AS complete
     FROM grid g LEFT JOIN activity a USING (cohort_month, months_since_first)
     ORDER BY g.cohort_month, g.months_since_first`,
    [asOf],
  )
  const rows = await engine.rows(`SELECT * FROM ${COHORT_TABLE} ORDER BY cohort_month, months_since_first`)
  const cohorts: Cohort[] = []
  for (const row of rows) {
    const cohortMonth = String(row.cohort_month)
    let cohort = cohorts.at(-1)
    if (!cohort || cohort.cohortMonth !== cohortMonth) {
      cohort = {cohortMonth, size: Number(row.cohort_size), periods: []}
      cohorts.push(cohort)
    }
    cohort.periods.push({
      monthsSinceFirst: Number(row.months_since_first),
      customers: Number(row.customers),
      retention: Number(row.retention),
      orders: Number(row.orders),
      revenue: Number(row.revenue),
      cumulativeRevenuePerCustomer: Number(row.cumulative_revenue_per_customer),
      complete: row.complete === true,
    })
  }
  return {asOf, customers: cohorts.reduce((n, c) => n + c.size, 0), cohorts}
}

export interface RunCohortOptions {
  /**
   * Shop views already registered in this engine (by registerShopViews): used as they are, so several analyses of
   * one run read one snapshot and one as-of day. Without it the run registers them itself.
   */
  views?: ShopViews
  lake: string
  asOf?: string
}

/** Registers the shop views, computes the cohorts and saves `analytics/cohort`. */
export async function runCohorts(engine: Engine, options: RunCohortOptions): Promise<CohortResult> {
  const views = options.views ?? (await registerShopViews(engine, options.lake, {asOf: options.asOf}))
  const result = await computeCohorts(engine, views.asOf)
  const run: RunInfo = {
    analysis: 'cohort',
    parameters: {asOf: options.asOf ?? null},
    asOf: views.asOf,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ranAt: new Date().toISOString(),
    summary: {customers: result.customers, cohorts: result.cohorts.length},
  }
  await saveResult(
    engine,
    options.lake,
    COHORT_RESULT,
    `SELECT * FROM ${COHORT_TABLE} ORDER BY cohort_month, months_since_first`,
    run,
  )
  return {
    analysis: 'cohort',
    lake: options.lake,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ...result,
    saved: resultPath(options.lake, COHORT_RESULT),
  }
}
