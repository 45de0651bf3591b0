import type {Engine} from '../../engine/engine.js'
import {type RunInfo, saveResult} from '../store.js'
import {CLV_CUSTOMERS_TABLE} from './clv.js'

/** The result table's name under `<lake>/analytics/`. */
export const CLV_RESULT = 'clv'

/** Saves the per-customer values that analyzeClv left in `clv_customers` as the lake's `analytics/clv` table. */
export async function saveClvRows(engine: Engine, lake: string, run: RunInfo): Promise<void> {
  await saveResult(engine, lake, CLV_RESULT, `SELECT * FROM ${CLV_CUSTOMERS_TABLE} ORDER BY clv DESC, customer_id`, run)
}
