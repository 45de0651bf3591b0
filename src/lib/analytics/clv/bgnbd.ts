import type {CustomerSummary} from './customer-summary.js'
import {type GroupPredictions, groupSummaries, groupSummary, type SummaryGroups} from './groups.js'
import {type FitControl, type FittedModel, maximizeLikelihood} from './maximum-likelihood.js'
import {addInto, betaln, digamma, gammaln, hyp2f1, logAddExp, logHyp2f1, trigamma} from './special.js'

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
 * into it, and when `hessian` is given too, its Hessian. The same sum as bgnbdLogLikelihood over every customer: the
 * terms of a frequency (the Γ and B ratios, whose derivatives are digammas and trigammas) are taken once per
 * frequency, the logarithms once per distinct time. Each customer's ln(e^u + e^v) has the derivatives
 * w_u u' + w_v v' and w_u u'' + w_v v'' + w_u w_v (u' - v')(u' - v')ᵀ, with w the two terms' shares.
 */
export function bgnbdGroupsLogLikelihood(
  {r, alpha, a, b}: BgNbdParameters,
  groups: SummaryGroups,
  gradient?: number[],
  hessian?: number[][],
): number {
  const {frequencies, countByFrequency, times} = groups
  const logAlpha = Math.log(alpha)
  const withGradient = gradient !== undefined || hessian !== undefined
  const withHessian = hessian !== undefined
  let total = 0
  let dr = 0
  let dAlpha = 0
  let da = 0
  let db = 0
  // The Hessian's upper triangle, r, alpha, a, b in that order.
  let hrr = 0
  let hrAlpha = 0
  let hAlphaAlpha = 0
  let hra = 0
  let hrb = 0
  let hAlphaA = 0
  let hAlphaB = 0
  let haa = 0
  let hab = 0
  let hbb = 0
  const logDropOut = new Float64Array(frequencies.length)
  const psiR = withGradient ? digamma(r) : 0
  const psiB = withGradient ? digamma(b) : 0
  const psiAB = withGradient ? digamma(a + b) : 0
  const psi1R = withHessian ? trigamma(r) : 0
  const psi1B = withHessian ? trigamma(b) : 0
  const psi1AB = withHessian ? trigamma(a + b) : 0
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
    if (withHessian) {
      const psi1ABX = trigamma(a + b + x)
      hrr += n * (trigamma(r + x) - psi1R)
      hrAlpha += n / alpha
      hAlphaAlpha -= (n * r) / (alpha * alpha)
      haa += n * (psi1AB - psi1ABX)
      hab += n * (psi1AB - psi1ABX)
      hbb += n * (trigamma(b + x) - psi1B - psi1ABX + psi1AB)
    }
  }
  const logTime = new Float64Array(times.length)
  const inverseTime = new Float64Array(times.length)
  for (let j = 0; j < times.length; j++) {
    logTime[j] = Math.log(alpha + (times[j] as number))
    inverseTime[j] = 1 / (alpha + (times[j] as number))
  }
  // Per frequency, sums the a and b derivatives need: the customers' total share of the dropped-out term, and of
  // w_u w_v, w_u w_v (u - v)_r and w_u w_v (u - v)_alpha.
  const droppedShare = new Float64Array(frequencies.length)
  const bothShare = new Float64Array(frequencies.length)
  const bothR = new Float64Array(frequencies.length)
  const bothAlpha = new Float64Array(frequencies.length)
  const {count, frequencyIndex, TIndex, recencyIndex} = groups
  for (let g = 0; g < count.length; g++) {
    const n = count[g] as number
    const k = frequencyIndex[g] as number
    const rx = r + (frequencies[k] as number)
    const atT = TIndex[g] as number
    const stillAlive = -rx * (logTime[atT] as number)
    const logDrop = logDropOut[k] as number
    if (logDrop === Number.NEGATIVE_INFINITY) {
      // Without a repeat purchase there is no dropping out after one: only the first term.
      total += n * stillAlive
      if (withGradient) {
        dr -= n * (logTime[atT] as number)
        dAlpha -= n * rx * (inverseTime[atT] as number)
      }
      if (withHessian) {
        const inverseT = inverseTime[atT] as number
        hrAlpha -= n * inverseT
        hAlphaAlpha += n * rx * inverseT * inverseT
      }
      continue
    }
    const atRecency = recencyIndex[g] as number
    const droppedOut = logDrop - rx * (logTime[atRecency] as number)
    const difference = stillAlive - droppedOut
    const e = Math.exp(-Math.abs(difference))
    total += n * ((difference >= 0 ? stillAlive : droppedOut) + Math.log1p(e))
    if (withGradient) {
      // The shares of the two terms in their sum.
      const wAlive = difference >= 0 ? 1 / (1 + e) : e / (1 + e)
      const wDropped = 1 - wAlive
      dr -= n * (wAlive * (logTime[atT] as number) + wDropped * (logTime[atRecency] as number))
      dAlpha -= n * rx * (wAlive * (inverseTime[atT] as number) + wDropped * (inverseTime[atRecency] as number))
      droppedShare[k] = (droppedShare[k] as number) + n * wDropped
      if (withHessian) {
        const inverseT = inverseTime[atT] as number
        const inverseRecency = inverseTime[atRecency] as number
        const both = n * wAlive * wDropped
        // (u - v)' for r and alpha; for a and b it is -1/a and 1/(b + x - 1), applied per frequency below.
        const differenceR = (logTime[atRecency] as number) - (logTime[atT] as number)
        const differenceAlpha = rx * (inverseRecency - inverseT)
        hrr += both * differenceR * differenceR
        hrAlpha += both * differenceR * differenceAlpha - n * (wAlive * inverseT + wDropped * inverseRecency)
        hAlphaAlpha +=
          both * differenceAlpha * differenceAlpha +
          n * rx * (wAlive * inverseT * inverseT + wDropped * inverseRecency * inverseRecency)
        bothShare[k] = (bothShare[k] as number) + both
        bothR[k] = (bothR[k] as number) + both * differenceR
        bothAlpha[k] = (bothAlpha[k] as number) + both * differenceAlpha
      }
    }
  }
  if (withGradient) {
    for (let k = 0; k < frequencies.length; k++) {
      const share = droppedShare[k] as number
      // Nothing at frequency 0, where b + x - 1 may be 0.
      if (share === 0) continue
      const inverseB = 1 / (b + (frequencies[k] as number) - 1)
      da += share / a
      db -= share * inverseB
      if (withHessian) {
        const both = bothShare[k] as number
        hra -= (bothR[k] as number) / a
        hrb += (bothR[k] as number) * inverseB
        hAlphaA -= (bothAlpha[k] as number) / a
        hAlphaB += (bothAlpha[k] as number) * inverseB
        haa += (both - share) / (a * a)
        hab -= (both * inverseB) / a
        hbb += (share + both) * inverseB * inverseB
      }
    }
  }
  if (gradient) addInto(gradient, [dr, dAlpha, da, db])
  if (hessian) {
    addInto(hessian, [
      [hrr, hrAlpha, hra, hrb],
      [hrAlpha, hAlphaAlpha, hAlphaA, hAlphaB],
      [hra, hAlphaA, haa, hab],
      [hrb, hAlphaB, hab, hbb],
    ])
  }
  return total
}

/** Maximum-likelihood fit; starts from a purchase rate that matches the data's mean, so any time unit works. */
export function fitBgNbd(
  customers: readonly Summary[] | SummaryGroups,
  control: FitControl = {},
): Promise<FittedModel<keyof BgNbdParameters>> {
  const groups = 'countByFrequency' in customers ? customers : groupSummaries(customers)
  let repeats = 0
  let exposure = 0
  for (let g = 0; g < groups.count.length; g++) {
    repeats += (groups.count[g] as number) * (groups.frequency[g] as number)
    exposure += (groups.count[g] as number) * (groups.T[g] as number)
  }
  return maximizeLikelihood(
    {
      names: BGNBD_NAMES,
      start: {r: 1, alpha: Math.max(exposure / Math.max(repeats, 1), 1e-3), a: 1, b: 1},
      customers: groups.customers,
      derivatives: 2,
      logLikelihood: (params, gradient, hessian) => bgnbdGroupsLogLikelihood(params, groups, gradient, hessian),
    },
    control,
  )
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
  params: BgNbdParameters,
  {frequency: x, recency, T}: Summary,
  t: number,
): number {
  if (t <= 0) return 0
  return expectedNumerator(params, x, T, t) / expectedDenominator(params, x, recency, T)
}

/** The numerator of eq. 10: it depends on the frequency, T and t only (the 2F1 is here). */
function expectedNumerator({r, alpha, a, b}: BgNbdParameters, x: number, T: number, t: number): number {
  const z = t / (alpha + T + t)
  const scaled = Math.exp(logHyp2f1(r + x, b + x, a + b + x - 1, z) + (r + x) * Math.log((alpha + T) / (alpha + T + t)))
  return ((a + b + x - 1) / (a - 1)) * (1 - scaled)
}

/** The denominator of eq. 10, 1 / P(alive). */
function expectedDenominator({r, alpha, a, b}: BgNbdParameters, x: number, recency: number, T: number): number {
  return 1 + (x > 0 ? (a / (b + x - 1)) * ((alpha + T) / (alpha + recency)) ** (r + x) : 0)
}

/** Per group: P(alive), and expected repeat purchases over each of `lengths` (as bgnbdExpectedPurchases). */
export function bgnbdGroupPredictions(
  params: BgNbdParameters,
  groups: SummaryGroups,
  lengths: readonly number[],
): GroupPredictions {
  const n = groups.count.length
  const alive = new Float64Array(n)
  const denominator = new Float64Array(n)
  for (let g = 0; g < n; g++) {
    const c = groupSummary(groups, g)
    alive[g] = bgnbdProbabilityAlive(params, c)
    denominator[g] = expectedDenominator(params, c.frequency, c.recency, c.T)
  }
  const times = groups.times.length
  const expected = lengths.map((t) => {
    const values = new Float64Array(n)
    if (t <= 0) return values
    // The numerator, with its 2F1, once per (frequency, T): far fewer of those than groups.
    const numerators = new Float64Array(groups.frequencies.length * times).fill(Number.NaN)
    for (let g = 0; g < n; g++) {
      const key = (groups.frequencyIndex[g] as number) * times + (groups.TIndex[g] as number)
      let numerator = numerators[key] as number
      if (Number.isNaN(numerator)) {
        numerator = expectedNumerator(params, groups.frequency[g] as number, groups.T[g] as number, t)
        numerators[key] = numerator
      }
      values[g] = numerator / (denominator[g] as number)
    }
    return values
  })
  return {alive, expected}
}

/** Expected repeat purchases of a new customer in the `t` time units after the first purchase (FHL 2005, eq. 9). */
export function bgnbdExpectedRepeatsOfNew({r, alpha, a, b}: BgNbdParameters, t: number): number {
  const hyp = hyp2f1(r, b, a + b - 1, t / (alpha + t))
  return ((a + b - 1) / (a - 1)) * (1 - (alpha / (alpha + t)) ** r * hyp)
}
