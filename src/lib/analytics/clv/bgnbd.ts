import type {CustomerSummary} from './customer-summary.js'
import {groupSummaries, type SummaryGroups} from './groups.js'
import {type FittedModel, maximizeLikelihood} from './maximum-likelihood.js'
import {betaln, digamma, gammaln, hyp2f1, logAddExp} from './special.js'

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

/**
 * The total log-likelihood of grouped customers and, when `gradient` is given, its gradient (r, alpha, a, b) added
 * into it. The same sum as bgnbdLogLikelihood over every customer: the terms of a frequency (the Γ and B ratios, whose
 * derivatives are digammas) are taken once per frequency, the logarithms once per distinct time.
 */
export function bgnbdGroupsLogLikelihood(
  {r, alpha, a, b}: BgNbdParameters,
  groups: SummaryGroups,
  gradient?: number[],
): number {
  const {frequencies, countByFrequency, times} = groups
  const logAlpha = Math.log(alpha)
  const withGradient = gradient !== undefined
  let total = 0
  let dr = 0
  let dAlpha = 0
  let da = 0
  let db = 0
  const logDropOut = new Float64Array(frequencies.length)
  const psiR = withGradient ? digamma(r) : 0
  const psiB = withGradient ? digamma(b) : 0
  const psiAB = withGradient ? digamma(a + b) : 0
  const gammalnR = gammaln(r)
  const gammalnB = gammaln(b)
  const gammalnAB = gammaln(a + b)
  for (let k = 0; k < frequencies.length; k++) {
    const x = frequencies[k] as number
    const n = countByFrequency[k] as number
    // ln Γ(r+x)/Γ(r) + r ln α + ln B(a, b+x)/B(a, b), as in bgnbdLogLikelihood.
    total += n * (gammaln(r + x) - gammalnR + r * logAlpha + gammaln(b + x) - gammalnB - gammaln(a + b + x) + gammalnAB)
    logDropOut[k] = x > 0 ? Math.log(a) - Math.log(b + x - 1) : Number.NEGATIVE_INFINITY
    if (withGradient) {
      const psiABX = digamma(a + b + x)
      dr += n * (digamma(r + x) - psiR + logAlpha)
      dAlpha += (n * r) / alpha
      da += n * (psiAB - psiABX)
      db += n * (digamma(b + x) - psiB - psiABX + psiAB)
    }
  }
  const logTime = times.map((t) => Math.log(alpha + t))
  const count = groups.count
  for (let g = 0; g < count.length; g++) {
    const n = count[g] as number
    const k = groups.frequencyIndex[g] as number
    const x = frequencies[k] as number
    const rx = r + x
    const logT = logTime[groups.TIndex[g] as number] as number
    const stillAlive = -rx * logT
    if (x === 0) {
      // Without a repeat purchase there is no dropping out after one: only the first term.
      total += n * stillAlive
      if (withGradient) {
        dr -= n * logT
        dAlpha -= (n * rx) / (alpha + (groups.T[g] as number))
      }
      continue
    }
    const ti = groups.recencyIndex[g] as number
    const logRecency = logTime[ti] as number
    const droppedOut = (logDropOut[k] as number) - rx * logRecency
    const e = Math.exp(-Math.abs(stillAlive - droppedOut))
    total += n * (Math.max(stillAlive, droppedOut) + Math.log1p(e))
    if (withGradient) {
      // The shares of the two terms in their sum.
      const wAlive = stillAlive >= droppedOut ? 1 / (1 + e) : e / (1 + e)
      const wDropped = 1 - wAlive
      dr -= n * (wAlive * logT + wDropped * logRecency)
      dAlpha -=
        n * rx * (wAlive / (alpha + (groups.T[g] as number)) + wDropped / (alpha + (groups.recency[g] as number)))
      da += (n * wDropped) / a
      db -= (n * wDropped) / (b + x - 1)
    }
  }
  if (gradient) {
    gradient[0] = (gradient[0] ?? 0) + dr
    gradient[1] = (gradient[1] ?? 0) + dAlpha
    gradient[2] = (gradient[2] ?? 0) + da
    gradient[3] = (gradient[3] ?? 0) + db
  }
  return total
}

/** Maximum-likelihood fit; starts from a purchase rate that matches the data's mean, so any time unit works. */
export function fitBgNbd(customers: readonly Summary[] | SummaryGroups): FittedModel<keyof BgNbdParameters> {
  const groups = 'groupOf' in customers ? customers : groupSummaries(customers)
  let repeats = 0
  let exposure = 0
  for (let g = 0; g < groups.count.length; g++) {
    repeats += (groups.count[g] as number) * (groups.frequency[g] as number)
    exposure += (groups.count[g] as number) * (groups.T[g] as number)
  }
  return maximizeLikelihood({
    names: BGNBD_NAMES,
    start: {r: 1, alpha: Math.max(exposure / Math.max(repeats, 1), 1e-3), a: 1, b: 1},
    customers: groups.customers,
    logLikelihood: (params) => bgnbdGroupsLogLikelihood(params, groups),
    gradient: (params) => {
      const gradient = [0, 0, 0, 0]
      bgnbdGroupsLogLikelihood(params, groups, gradient)
      return gradient
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
