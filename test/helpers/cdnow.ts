import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import type {CustomerSummary} from '../../src/lib/analytics/clv/customer-summary.js'

/** The CDNOW data kept in the project with its source (fixtures/datasets/README.md). */
export const CDNOW = join(import.meta.dirname, '../../fixtures/datasets/cdnow')

/** Rows of Fader and Hardie's CDNOW calibration summary: ID, x, t_x, T (weeks), zbar (cents-rounded mean repeat spend). */
export async function cdnowCalibrationSummary(): Promise<CustomerSummary[]> {
  const text = await readFile(join(CDNOW, 'cdnow_customers_summary_with_transactions.csv'), 'utf8')
  return text
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((line) => {
      const [id, x, tx, T, zbar] = line.split(',').map(Number) as [number, number, number, number, number]
      return {customerId: String(id), frequency: x, recency: tx, T, monetary: zbar}
    })
}
