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
  /** Per customer given, the index of their group. */
  groupOf: Int32Array
}

/** Groups customers by their summary; deterministic for a given order of customers. */
export function groupSummaries(customers: readonly PurchaseSummary[]): SummaryGroups {
  const groupIds = new Map<string, number>()
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
  const groupOf = new Int32Array(customers.length)
  const first: PurchaseSummary[] = []
  const counts: number[] = []
  customers.forEach((c, i) => {
    const key = `${c.frequency},${c.recency},${c.T}`
    let group = groupIds.get(key)
    if (group === undefined) {
      group = first.length
      groupIds.set(key, group)
      first.push(c)
      counts.push(0)
    }
    counts[group] = (counts[group] as number) + 1
    groupOf[i] = group
  })
  const n = first.length
  const groups: SummaryGroups = {
    customers: customers.length,
    count: Float64Array.from(counts),
    frequency: new Float64Array(n),
    recency: new Float64Array(n),
    T: new Float64Array(n),
    frequencyIndex: new Int32Array(n),
    recencyIndex: new Int32Array(n),
    TIndex: new Int32Array(n),
    frequencies: new Float64Array(0),
    countByFrequency: new Float64Array(0),
    times: new Float64Array(0),
    groupOf,
  }
  first.forEach((c, g) => {
    groups.frequency[g] = c.frequency
    groups.recency[g] = c.recency
    groups.T[g] = c.T
    groups.frequencyIndex[g] = id(frequencyIds, c.frequency)
    groups.recencyIndex[g] = id(timeIds, c.recency)
    groups.TIndex[g] = id(timeIds, c.T)
  })
  groups.frequencies = Float64Array.from(frequencyIds.keys())
  groups.countByFrequency = new Float64Array(frequencyIds.size)
  for (let g = 0; g < n; g++) {
    const k = groups.frequencyIndex[g] as number
    groups.countByFrequency[k] = (groups.countByFrequency[k] as number) + (groups.count[g] as number)
  }
  groups.times = Float64Array.from(timeIds.keys())
  return groups
}

/** A group's summary as the per-customer functions take it. */
export function groupSummary(groups: SummaryGroups, g: number): PurchaseSummary {
  return {frequency: groups.frequency[g] as number, recency: groups.recency[g] as number, T: groups.T[g] as number}
}
