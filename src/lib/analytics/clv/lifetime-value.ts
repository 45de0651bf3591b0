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
  const cumulative = Array.from({length: months}, (_, i) => expectedPurchases((i + 1) * unitsPerMonth))
  return discountedValue(cumulative, expectedValue, discountFactors(months, discountRate))
}

/** (1 + discountRate)^m for months m = 1, 2, …, months. */
export function discountFactors(months: number, discountRate: number): Float64Array {
  return Float64Array.from({length: months}, (_, i) => (1 + discountRate) ** (i + 1))
}

/** The same from the cumulative expected purchases at the end of each month and the months' discountFactors. */
export function discountedValue(
  cumulative: ArrayLike<number>,
  expectedValue: number,
  factors: ArrayLike<number>,
): number {
  let value = 0
  let before = 0
  for (let i = 0; i < cumulative.length; i++) {
    const purchases = cumulative[i] as number
    value += ((purchases - before) * expectedValue) / (factors[i] as number)
    before = purchases
  }
  return value
}
