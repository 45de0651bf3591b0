import type {CustomerSummary} from './customer-summary.js'
import {type FittedModel, maximizeLikelihood} from './maximum-likelihood.js'
import {betaln, gammaln, hyp2f1, logAddExp} from './special.js'

/** BG/NBD (Fader, Hardie and Lee 2005): purchase rate λ ~ Gamma(r, alpha), drop-out after a purchase p ~ Beta(a, b). */
export interface BgNbdParameters {
  r: number
  alpha: number
  a: number
  b: number
}

export const BGNBD_NAMES = ['r', 'alpha', 'a', 'b'] as const

type Summary = Pick<CustomerSummary, 'frequency' | 'recency' | 'T'>

/** One customer's log-likelihood (FHL 2005, eq. 6, in the log-sum form of lifetimes' BetaGeoFitter). */
export function bgnbdLogLikelihood({r, alpha, a, b}: BgNbdParameters, {frequency: x, recency, T}: Summary): number {
  const common = gammaln(r + x) - gammaln(r) + r * Math.log(alpha) + betaln(a, b + x) - betaln(a, b)
  const stillAlive = -(r + x) * Math.log(alpha + T)
  // Dropped out right after the last purchase: possible only once there was a repeat purchase.
  const droppedOut =
    x > 0 ? Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + recency) : Number.NEGATIVE_INFINITY
  return common + logAddExp(stillAlive, droppedOut)
}

/** Maximum-likelihood fit; starts from a purchase rate that matches the data's mean, so any time unit works. */
export function fitBgNbd(customers: readonly Summary[]): FittedModel<keyof BgNbdParameters> {
  const repeats = customers.reduce((sum, c) => sum + c.frequency, 0)
  const exposure = customers.reduce((sum, c) => sum + c.T, 0)
  return maximizeLikelihood({
    names: BGNBD_NAMES,
    start: {r: 1, alpha: Math.max(exposure / Math.max(repeats, 1), 1e-3), a: 1, b: 1},
    customers: customers.length,
    logLikelihood: (params) => {
      let total = 0
      for (const c of customers) total += bgnbdLogLikelihood(params, c)
      return total
    },
  })
}

/** P(alive) of a customer at the end of the calibration period (FHL 2005 appendix; 1 without repeat purchases). */
export function bgnbdProbabilityAlive({r, alpha, a, b}: BgNbdParameters, {frequency: x, recency, T}: Summary): number {
  if (x === 0) return 1
  const logRatio = Math.log(a) - Math.log(b + x - 1) + (r + x) * Math.log((alpha + T) / (alpha + recency))
  return 1 / (1 + Math.exp(logRatio))
}

/**
 * Expected repeat purchases in the next `t` time units given the customer's history (FHL 2005, eq. 10), as lifetimes'
 * `conditional_expected_number_of_purchases_up_to_time` computes it.
 */
export function bgnbdExpectedPurchases(
  {r, alpha, a, b}: BgNbdParameters,
  {frequency: x, recency, T}: Summary,
  t: number,
): number {
  if (t <= 0) return 0
  const z = t / (alpha + T + t)
  const hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
  const scaled = Math.exp(Math.log(hyp) + (r + x) * Math.log((alpha + T) / (alpha + T + t)))
  const numerator = ((a + b + x - 1) / (a - 1)) * (1 - scaled)
  const denominator = 1 + (x > 0 ? (a / (b + x - 1)) * ((alpha + T) / (alpha + recency)) ** (r + x) : 0)
  return numerator / denominator
}

/** Expected repeat purchases of a new customer in the `t` time units after the first purchase (FHL 2005, eq. 9). */
export function bgnbdExpectedRepeatsOfNew({r, alpha, a, b}: BgNbdParameters, t: number): number {
  const hyp = hyp2f1(r, b, a + b - 1, t / (alpha + t))
  return ((a + b - 1) / (a - 1)) * (1 - (alpha / (alpha + t)) ** r * hyp)
}
