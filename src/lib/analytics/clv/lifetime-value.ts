/** Time units a month holds, as lifetimes' `customer_lifetime_value` counts them (30 days, 4.345 weeks). */
export const UNITS_PER_MONTH = {day: 30, week: 4.345} as const

export type TimeUnit = keyof typeof UNITS_PER_MONTH

/**
 * Discounted value of a customer's next `months` months, in lifetimes' convention: for each month m, the purchases
 * expected in that month (cumulative expectation at m minus at m - 1) times the expected order value, divided by
 * (1 + discountRate)^m. `expectedPurchases(t)` is the conditional expectation over the next t time units.
 */
export function customerLifetimeValue(
  expectedPurchases: (t: number) => number,
  expectedValue: number,
  months: number,
  discountRate: number,
  unitsPerMonth: number,
): number {
  let value = 0
  let before = 0
  for (let month = 1; month <= months; month++) {
    const cumulative = expectedPurchases(month * unitsPerMonth)
    value += ((cumulative - before) * expectedValue) / (1 + discountRate) ** month
    before = cumulative
  }
  return value
}
