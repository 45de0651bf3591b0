import type {CustomerSummary} from './customer-summary.js'
import {type GroupPredictions, groupSummaries, type SummaryGroups} from './groups.js'
import {type FitControl, type FittedModel, maximizeLikelihood} from './maximum-likelihood.js'
import {gammaln, logAddExp, logHyp2f1, logSubExp} from './special.js'

/** Pareto/NBD (Schmittlein, Morrison and Colombo 1987): λ ~ Gamma(r, alpha), drop-out rate μ ~ Gamma(s, beta). */
export interface ParetoNbdParameters {
  r: number
  alpha: number
  s: number
  beta: number
}

export const PARETO_NBD_NAMES = ['r', 'alpha', 's', 'beta'] as const

type Summary = Pick<CustomerSummary, 'frequency' | 'recency' | 'T'>

/**
 * ln A0 of Fader and Hardie's note "A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005, eq. 19
 * and 20): the 2F1 is always taken at |alpha - beta| / (max(alpha, beta) + t), which lies in [0, 1), and the
 * difference of the two terms in log space, as lifetimes' ParetoNBDFitter._log_A_0 does.
 */
function logA0({r, alpha, s, beta}: ParetoNbdParameters, {frequency: x, recency, T}: Summary): number {
  const [low, high, b] = alpha < beta ? [alpha, beta, r + x] : [beta, alpha, s + 1]
  const rsx = r + s + x
  const logP1 = logHyp2f1(rsx, b, rsx + 1, (high - low) / (high + recency))
  const logP2 = logHyp2f1(rsx, b, rsx + 1, (high - low) / (high + T))
  const q1 = high + recency
  const q2 = high + T
  return logSubExp(logP1 + rsx * Math.log(q2), logP2 + rsx * Math.log(q1)) - rsx * Math.log(q1 * q2)
}

/** One customer's log-likelihood (Fader and Hardie's note, eq. 18). */
export function paretoNbdLogLikelihood(params: ParetoNbdParameters, c: Summary): number {
  const {r, alpha, s, beta} = params
  const x = c.frequency
  const common = gammaln(r + x) - gammaln(r) + r * Math.log(alpha) + s * Math.log(beta)
  const aliveThroughout = -(r + x) * Math.log(alpha + c.T) - s * Math.log(beta + c.T)
  // With recency = T there is no time to have dropped out in: that term is zero.
  const droppedOut = c.recency < c.T ? Math.log(s) - Math.log(r + s + x) + logA0(params, c) : Number.NEGATIVE_INFINITY
  return common + logAddExp(aliveThroughout, droppedOut)
}

/**
 * Grouped customers with, per group that may have dropped out (recency < T), the index of its (frequency, recency)
 * and (frequency, T) pair: the 2F1 of ln A0 depends on nothing else, so one evaluation of the likelihood takes one
 * 2F1 per distinct pair instead of two per customer.
 */
export interface ParetoNbdGroups {
  groups: SummaryGroups
  /** Per group: its two pairs (-1 when recency = T: no dropped-out term). */
  recencyPair: Int32Array
  TPair: Int32Array
  /** Per pair: the frequency's index in groups.frequencies and the time's in groups.times. */
  pairFrequency: Int32Array
  pairTime: Int32Array
}

export function paretoNbdGroups(groups: SummaryGroups): ParetoNbdGroups {
  const ids = new Map<number, number>()
  const pairFrequency: number[] = []
  const pairTime: number[] = []
  const times = groups.times.length
  const pair = (k: number, t: number) => {
    const key = k * times + t
    let found = ids.get(key)
    if (found === undefined) {
      found = pairFrequency.length
      ids.set(key, found)
      pairFrequency.push(k)
      pairTime.push(t)
    }
    return found
  }
  const n = groups.count.length
  const recencyPair = new Int32Array(n).fill(-1)
  const TPair = new Int32Array(n).fill(-1)
  for (let g = 0; g < n; g++) {
    if (!((groups.recency[g] as number) < (groups.T[g] as number))) continue
    const k = groups.frequencyIndex[g] as number
    recencyPair[g] = pair(k, groups.recencyIndex[g] as number)
    TPair[g] = pair(k, groups.TIndex[g] as number)
  }
  return {
    groups,
    recencyPair,
    TPair,
    pairFrequency: Int32Array.from(pairFrequency),
    pairTime: Int32Array.from(pairTime),
  }
}

/** G(x, t) of every (frequency, time) pair: see paretoNbdGroupsLogLikelihood. */
function logA0Terms({r, alpha, s, beta}: ParetoNbdParameters, data: ParetoNbdGroups): Float64Array {
  const {pairFrequency, pairTime} = data
  const {frequencies, times} = data.groups
  const [low, high, bOfAlpha] = alpha < beta ? [alpha, beta, true] : [beta, alpha, false]
  const G = new Float64Array(pairFrequency.length)
  for (let i = 0; i < G.length; i++) {
    const x = frequencies[pairFrequency[i] as number] as number
    const t = times[pairTime[i] as number] as number
    const rsx = r + s + x
    const b = bOfAlpha ? r + x : s + 1
    G[i] = logHyp2f1(rsx, b, rsx + 1, (high - low) / (high + t)) - rsx * Math.log(high + t)
  }
  return G
}

/**
 * The total log-likelihood of grouped customers: the sum of paretoNbdLogLikelihood, with ln A0 written as
 * logSubExp(G(x, t_x), G(x, T)), G(x, t) = ln 2F1(r+s+x, b; r+s+x+1; |alpha-beta|/(max+t)) - (r+s+x) ln(max+t),
 * which is the note's eq. 19/20 with the common factor 1/((max+t_x)(max+T))^(r+s+x) taken into each term.
 */
export function paretoNbdGroupsLogLikelihood(params: ParetoNbdParameters, data: ParetoNbdGroups): number {
  const {r, alpha, s, beta} = params
  const {groups} = data
  const {frequencies, countByFrequency, times} = data.groups
  const G = logA0Terms(params, data)
  const logAlphaT = times.map((t) => Math.log(alpha + t))
  const logBetaT = times.map((t) => Math.log(beta + t))
  let total = 0
  const gammalnR = gammaln(r)
  const constant = r * Math.log(alpha) + s * Math.log(beta)
  const logDropOut = new Float64Array(frequencies.length)
  for (let k = 0; k < frequencies.length; k++) {
    const x = frequencies[k] as number
    total += (countByFrequency[k] as number) * (gammaln(r + x) - gammalnR + constant)
    logDropOut[k] = Math.log(s) - Math.log(r + s + x)
  }
  for (let g = 0; g < groups.count.length; g++) {
    const k = groups.frequencyIndex[g] as number
    const x = frequencies[k] as number
    const T = groups.TIndex[g] as number
    const aliveThroughout = -(r + x) * (logAlphaT[T] as number) - s * (logBetaT[T] as number)
    const recencyPair = data.recencyPair[g] as number
    const droppedOut =
      recencyPair < 0
        ? Number.NEGATIVE_INFINITY
        : (logDropOut[k] as number) + logSubExp(G[recencyPair] as number, G[data.TPair[g] as number] as number)
    total += (groups.count[g] as number) * logAddExp(aliveThroughout, droppedOut)
  }
  return total
}

export function fitParetoNbd(
  customers: readonly Summary[] | SummaryGroups,
  control: FitControl = {},
): Promise<FittedModel<keyof ParetoNbdParameters>> {
  const groups = 'countByFrequency' in customers ? customers : groupSummaries(customers)
  const data = paretoNbdGroups(groups)
  let repeats = 0
  let exposure = 0
  for (let g = 0; g < groups.count.length; g++) {
    repeats += (groups.count[g] as number) * (groups.frequency[g] as number)
    exposure += (groups.count[g] as number) * (groups.T[g] as number)
  }
  const meanT = exposure / Math.max(groups.customers, 1)
  return maximizeLikelihood(
    {
      names: PARETO_NBD_NAMES,
      start: {
        r: 1,
        alpha: Math.max(exposure / Math.max(repeats, 1), 1e-3),
        s: 1,
        beta: Math.max(meanT, 1e-3),
      },
      customers: groups.customers,
      logLikelihood: (params) => paretoNbdGroupsLogLikelihood(params, data),
    },
    control,
  )
}

/** P(alive) at the end of the calibration period (Fader and Hardie's note, eq. 21). */
export function paretoNbdProbabilityAlive(params: ParetoNbdParameters, c: Summary): number {
  if (c.recency >= c.T) return 1
  const {r, alpha, s, beta} = params
  const x = c.frequency
  const logRatio =
    Math.log(s) - Math.log(r + s + x) + (r + x) * Math.log(alpha + c.T) + s * Math.log(beta + c.T) + logA0(params, c)
  return 1 / (1 + Math.exp(logRatio))
}

/** Expected repeat purchases in the next `t` time units given the history (Fader and Hardie's note, eq. 22). */
export function paretoNbdExpectedPurchases(params: ParetoNbdParameters, c: Summary, t: number): number {
  if (t <= 0) return 0
  return expectedIfAlive(params, c.frequency, c.T, t) * paretoNbdProbabilityAlive(params, c)
}

/** Eq. 22 without its factor P(alive). */
function expectedIfAlive({r, alpha, s, beta}: ParetoNbdParameters, x: number, T: number, t: number): number {
  // E[X(t)] = P(alive) · (r + x)(beta + T) / ((alpha + T)(s - 1)) · [1 - ((beta + T)/(beta + T + t))^(s-1)]; the
  // bracket over (s - 1) tends to ln((beta + T + t)/(beta + T)) as s -> 1.
  const ratio = (beta + T) / (beta + T + t)
  const bracket = Math.abs(s - 1) < 1e-9 ? -Math.log(ratio) : (1 - ratio ** (s - 1)) / (s - 1)
  return (((r + x) * (beta + T)) / (alpha + T)) * bracket
}

/**
 * Per group: P(alive), and expected repeat purchases over each of `lengths` (as paretoNbdProbabilityAlive and
 * paretoNbdExpectedPurchases), with one 2F1 per (frequency, time) pair.
 */
export function paretoNbdGroupPredictions(
  params: ParetoNbdParameters,
  groups: SummaryGroups,
  lengths: readonly number[],
): GroupPredictions {
  const {r, alpha, s, beta} = params
  const data = paretoNbdGroups(groups)
  const G = logA0Terms(params, data)
  const n = groups.count.length
  const alive = new Float64Array(n)
  for (let g = 0; g < n; g++) {
    const recencyPair = data.recencyPair[g] as number
    if (recencyPair < 0) {
      alive[g] = 1
      continue
    }
    const x = groups.frequency[g] as number
    const T = groups.T[g] as number
    const logA0 = logSubExp(G[recencyPair] as number, G[data.TPair[g] as number] as number)
    const logRatio = Math.log(s) - Math.log(r + s + x) + (r + x) * Math.log(alpha + T) + s * Math.log(beta + T) + logA0
    alive[g] = 1 / (1 + Math.exp(logRatio))
  }
  const expected = lengths.map((t) =>
    Float64Array.from(alive, (p, g) =>
      t <= 0 ? 0 : expectedIfAlive(params, groups.frequency[g] as number, groups.T[g] as number, t) * p,
    ),
  )
  return {alive, expected}
}
