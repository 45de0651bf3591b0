import type {Engine} from '../../engine/engine.js'
import {type RunInfo, saveResult} from '../store.js'
import type {CustomerValue} from './clv.js'

/** The result table's name under `<lake>/analytics/`. */
export const CLV_RESULT = 'clv'

/** Writes the per-customer values as the lake's `analytics/clv` table, replacing the last run's. */
export async function saveClvRows(
  engine: Engine,
  lake: string,
  values: readonly CustomerValue[],
  run: RunInfo,
): Promise<void> {
  await engine.run(`CREATE OR REPLACE TABLE clv_customers (
    customer_id VARCHAR, frequency INTEGER, recency DOUBLE, t DOUBLE, monetary DOUBLE, probability_alive DOUBLE,
    expected_purchases DOUBLE, expected_order_value DOUBLE, clv DOUBLE)`)
  const appender = await engine.connection.createAppender('clv_customers')
  try {
    for (const c of values) {
      appender.appendVarchar(c.customerId)
      appender.appendInteger(c.frequency)
      appender.appendDouble(c.recency)
      appender.appendDouble(c.T)
      appender.appendDouble(c.monetary)
      appender.appendDouble(c.probabilityAlive)
      appender.appendDouble(c.expectedPurchases)
      appender.appendDouble(c.expectedOrderValue)
      appender.appendDouble(c.clv)
      appender.endRow()
    }
    appender.flushSync()
  } finally {
    appender.closeSync()
  }
  await saveResult(engine, lake, CLV_RESULT, 'SELECT * FROM clv_customers ORDER BY clv DESC, customer_id', run)
}
