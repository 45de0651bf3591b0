import type {Engine} from '../../engine/engine.js'
import type {CustomerSummary} from './customer-summary.js'
import {TRANSACTIONS_TABLE} from './transactions.js'

/** A customer's calibration summary and what they did in the holdout period after it. */
export interface CustomerRecord extends CustomerSummary {
  /** Repeat purchase periods after the end of calibration, up to the as-of day (0 without a holdout). */
  holdoutPurchases: number
}

/**
 * The lifetimes summary, per customer who bought by `calibrationEnd`, from `clv_transactions`: a purchase period is a
 * UTC day with at least one purchase; its value is the day's net amount, never below zero (so refunds and returns can
 * lower a customer's spend to zero but never make it negative). Recency and T are whole days divided by
 * `daysPerUnit` (lifetimes' `freq='D'` with `freq_multiplier`, which reproduces Fader and Hardie's CDNOW summary).
 */
export async function customerRecords(
  engine: Engine,
  calibrationEnd: string,
  asOf: string,
  daysPerUnit: number,
): Promise<CustomerRecord[]> {
  const rows = await engine.rows(
    // Sums in DECIMAL: exact whatever order DuckDB's threads add the rows in, so a rerun fits the same numbers.
    `WITH daily AS (
       SELECT customer_id, day, greatest(sum(CAST(amount AS DECIMAL(18, 6))), 0) AS value
       FROM ${TRANSACTIONS_TABLE} WHERE day <= CAST($2 AS DATE)
       GROUP BY customer_id, day HAVING bool_or(is_purchase)
     ),
     calibration AS (
       SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) - 1 AS frequency
       FROM daily WHERE day <= CAST($1 AS DATE) GROUP BY customer_id
     ),
     repeats AS (
       SELECT d.customer_id, avg(d.value) AS monetary
       FROM daily d JOIN calibration c USING (customer_id)
       WHERE d.day > c.first_day AND d.day <= CAST($1 AS DATE) GROUP BY d.customer_id
     ),
     holdout AS (
       SELECT customer_id, count(*) AS purchases FROM daily WHERE day > CAST($1 AS DATE) GROUP BY customer_id
     )
     SELECT c.customer_id, c.frequency,
            datediff('day', c.first_day, c.last_day) / $3 AS recency,
            datediff('day', c.first_day, CAST($1 AS DATE)) / $3 AS t,
            coalesce(r.monetary, 0) AS monetary, coalesce(h.purchases, 0) AS holdout_purchases
     FROM calibration c LEFT JOIN repeats r USING (customer_id) LEFT JOIN holdout h USING (customer_id)
     ORDER BY c.customer_id`,
    [calibrationEnd, asOf, daysPerUnit],
  )
  return rows.map((row) => ({
    customerId: String(row.customer_id),
    frequency: Number(row.frequency),
    recency: Number(row.recency),
    T: Number(row.t),
    monetary: Number(row.monetary),
    holdoutPurchases: Number(row.holdout_purchases),
  }))
}
