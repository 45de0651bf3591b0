import type {DuckDBValue} from '@duckdb/node-api'
import type {Engine} from '../../engine/engine.js'
import {type SummaryGroups, summaryGroups} from './groups.js'
import {TRANSACTIONS_TABLE} from './transactions.js'

/**
 * One row per customer who bought by the end of calibration: customer_id, frequency, recency, t, monetary and
 * holdout_purchases (repeat purchase periods after calibration, up to the as-of day; 0 without a holdout).
 */
export const SUMMARY_TABLE = 'clv_summary'

/**
 * Fills `clv_summary`, the lifetimes summary, from `clv_transactions`: a purchase period is a UTC day with at least one
 * purchase; its value is the day's net amount, never below zero (so refunds and returns can lower a customer's spend
 * to zero but never make it negative). Recency and T are whole days divided by `daysPerUnit` (lifetimes' `freq='D'`
 * with `freq_multiplier`, which reproduces Fader and Hardie's CDNOW summary). The customers stay in DuckDB: the fits
 * read them grouped, and their values are joined to the groups' predictions there.
 */
export async function summarizeCustomers(
  engine: Engine,
  calibrationEnd: string,
  asOf: string,
  daysPerUnit: number,
): Promise<void> {
  await engine.run(
    // Sums in DECIMAL: exact whatever order DuckDB's threads add the rows in, so a rerun fits the same numbers.
    // One pass over the customers' purchase days: the mean of the repeat days' values is the calibration total less
    // the first day's, over the repeat days.
    `CREATE OR REPLACE TEMP TABLE ${SUMMARY_TABLE} AS
     WITH daily AS (
       SELECT customer_id, day, greatest(sum(CAST(amount AS DECIMAL(18, 6))), 0) AS value
       FROM ${TRANSACTIONS_TABLE} WHERE day <= CAST($2 AS DATE)
       GROUP BY customer_id, day HAVING bool_or(is_purchase)
     ),
     customers AS (
       SELECT customer_id,
              count(*) FILTER (WHERE day <= CAST($1 AS DATE)) AS periods,
              min(day) AS first_day,
              max(day) FILTER (WHERE day <= CAST($1 AS DATE)) AS last_day,
              sum(value) FILTER (WHERE day <= CAST($1 AS DATE)) AS calibration_value,
              arg_min(value, day) AS first_value,
              count(*) FILTER (WHERE day > CAST($1 AS DATE)) AS holdout_purchases
       FROM daily GROUP BY customer_id
     )
     SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(periods - 1 AS INTEGER) AS frequency,
            CAST(datediff('day', first_day, last_day) / $3 AS DOUBLE) AS recency,
            CAST(datediff('day', first_day, CAST($1 AS DATE)) / $3 AS DOUBLE) AS t,
            CASE WHEN periods > 1 THEN CAST(calibration_value - first_value AS DOUBLE) / (periods - 1) ELSE 0 END
              AS monetary,
            CAST(holdout_purchases AS INTEGER) AS holdout_purchases
     FROM customers WHERE periods > 0`,
    [calibrationEnd, asOf, daysPerUnit],
  )
}

/** The customers of `clv_summary` grouped by (frequency, recency, T), with their holdout purchases per group. */
export async function summarizedGroups(engine: Engine): Promise<{groups: SummaryGroups; holdoutPurchases: number[]}> {
  const [frequency, recency, T, count, holdout] = await engine.columns(
    `SELECT frequency, recency, t, CAST(count(*) AS DOUBLE), CAST(sum(holdout_purchases) AS DOUBLE)
     FROM ${SUMMARY_TABLE} GROUP BY frequency, recency, t ORDER BY frequency, recency, t`,
  )
  return {
    groups: summaryGroups(numbers(frequency), numbers(recency), numbers(T), numbers(count)),
    holdoutPurchases: numbers(holdout),
  }
}

/** Frequency and monetary value of the customers the spend model learns from, in customer order. */
export async function summarizedSpends(engine: Engine): Promise<{frequency: number[]; monetary: number[]}> {
  const [frequency, monetary] = await engine.columns(
    `SELECT frequency, monetary FROM ${SUMMARY_TABLE} WHERE frequency > 0 AND monetary > 0 ORDER BY customer_id`,
  )
  return {frequency: numbers(frequency), monetary: numbers(monetary)}
}

function numbers(column: DuckDBValue[] | undefined): number[] {
  return (column ?? []).map(Number)
}
