/**
 * The per-customer summary the CLV models take, in the lifetimes convention and in the run's time unit:
 * `frequency` is the number of repeat purchase periods (days with a purchase, minus the first), `recency` the time from
 * the first to the last purchase, `T` the time from the first purchase to the end of the calibration period, and
 * `monetary` the mean value of the repeat purchases (0 without any).
 */
export interface CustomerSummary {
  customerId: string
  frequency: number
  recency: number
  T: number
  monetary: number
}
