import type {CustomerSummary} from './customer-summary.js'

/** What the purchase models see of a customer. */
export type PurchaseSummary = Pick<CustomerSummary, 'frequency' | 'recency' | 'T'>

/**
 * Customers with the same (frequency, recency, T) counted once, with their number, as lifetimes' fitters do with
 * `weights`: the purchase models' likelihoods and predictions depend on nothing else. A shop's customers share far
 * fewer tuples than there are customers (whole days up to a year), and fewer frequencies and times still, so the
 * terms of each are indexed and computed once per evaluation.
 */
export interface SummaryGroups {
  /** Customers in all groups. */
  customers: number
  /** Per group, in the order of first appearance. */
  count: Float64Array
  frequency: Float64Array
  recency: Float64Array
  T: Float64Array
  /** Per group: its frequency's index in `frequencies`, and its recency's and T's index in `times`. */
  frequencyIndex: Int32Array
  recencyIndex: Int32Array
  TIndex: Int32Array
  /** Distinct frequencies, with the customers at each. */
  frequencies: Float64Array
  countByFrequency: Float64Array
  /** Distinct values of recency and T together. */
  times: Float64Array
}

/** Groups customers by their summary; deterministic for a given order of customers. */
export function groupSummaries(customers: readonly PurchaseSummary[]): SummaryGroups {
  const groupIds = new Map<string, number>()
  const first: PurchaseSummary[] = []
  const counts: number[] = []
  for (const c of customers) {
    const key = `${c.frequency},${c.recency},${c.T}`
    let group = groupIds.get(key)
    if (group === undefined) {
      group = first.length
      groupIds.set(key, group)
      first.push(c)
      counts.push(0)
    }
    counts[group] = (counts[group] as number) + 1
  }
  return summaryGroups(
    first.map((c) => c.frequency),
    first.map((c) => c.recency),
    first.map((c) => c.T),
    counts,
  )
}

/** Groups from their distinct summaries and the customers in each (as a GROUP BY returns them). */
export function summaryGroups(
  frequency: readonly number[],
  recency: readonly number[],
  T: readonly number[],
  count: readonly number[],
): SummaryGroups {
  const frequencyIds = new Map<number, number>()
  const timeIds = new Map<number, number>()
  const id = (ids: Map<number, number>, value: number) => {
    let found = ids.get(value)
    if (found === undefined) {
      found = ids.size
      ids.set(value, found)
    }
    return found
  }
  const frequencyIndex = Int32Array.from(frequency, (x) => id(frequencyIds, x))
  const recencyIndex = new Int32Array(frequency.length)
  const TIndex = new Int32Array(frequency.length)
  for (let g = 0; g < frequency.length; g++) {
    recencyIndex[g] = id(timeIds, recency[g] as number)
    TIndex[g] = id(timeIds, T[g] as number)
  }
  const countByFrequency = new Float64Array(frequencyIds.size)
  let customers = 0
  for (let g = 0; g < frequency.length; g++) {
    const k = frequencyIndex[g] as number
    countByFrequency[k] = (countByFrequency[k] as number) + (count[g] as number)
    customers += count[g] as number
  }
  return {
    customers,
    count: Float64Array.from(count),
    frequency: Float64Array.from(frequency),
    recency: Float64Array.from(recency),
    T: Float64Array.from(T),
    frequencyIndex,
    recencyIndex,
    TIndex,
    frequencies: Float64Array.from(frequencyIds.keys()),
    countByFrequency,
    times: Float64Array.from(timeIds.keys()),
  }
}

/** A group's summary as the per-customer functions take it. */
export function groupSummary(groups: SummaryGroups, g: number): PurchaseSummary {
  return {frequency: groups.frequency[g] as number, recency: groups.recency[g] as number, T: groups.T[g] as number}
}

/** A purchase model's predictions per group. */
export interface GroupPredictions {
  /** P(alive) at the end of calibration. */
  alive: Float64Array
  /** Expected repeat purchases over each of the lengths asked for, per group. */
  expected: Float64Array[]
}
