import type {CustomerSummary} from './customer-summary.js'
import {type FittedModel, maximizeLikelihood} from './maximum-likelihood.js'
import {gammaln, hyp2f1, logAddExp, logSubExp} from './special.js'

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
  const p1 = hyp2f1(rsx, b, rsx + 1, (high - low) / (high + recency))
  const p2 = hyp2f1(rsx, b, rsx + 1, (high - low) / (high + T))
  const q1 = high + recency
  const q2 = high + T
  return logSubExp(Math.log(p1) + rsx * Math.log(q2), Math.log(p2) + rsx * Math.log(q1)) - rsx * Math.log(q1 * q2)
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

export function fitParetoNbd(customers: readonly Summary[]): FittedModel<keyof ParetoNbdParameters> {
  const repeats = customers.reduce((sum, c) => sum + c.frequency, 0)
  const exposure = customers.reduce((sum, c) => sum + c.T, 0)
  const meanT = exposure / Math.max(customers.length, 1)
  return maximizeLikelihood({
    names: PARETO_NBD_NAMES,
    start: {
      r: 1,
      alpha: Math.max(exposure / Math.max(repeats, 1), 1e-3),
      s: 1,
      beta: Math.max(meanT, 1e-3),
    },
    customers: customers.length,
    logLikelihood: (params) => {
      let total = 0
      for (const c of customers) total += paretoNbdLogLikelihood(params, c)
      return total
    },
  })
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
  const {r, alpha, s, beta} = params
  const x = c.frequency
  // E[X(t)] = P(alive) · (r + x)(beta + T) / ((alpha + T)(s - 1)) · [1 - ((beta + T)/(beta + T + t))^(s-1)]; the
  // bracket over (s - 1) tends to ln((beta + T + t)/(beta + T)) as s -> 1.
  const ratio = (beta + c.T) / (beta + c.T + t)
  const bracket = Math.abs(s - 1) < 1e-9 ? -Math.log(ratio) : (1 - ratio ** (s - 1)) / (s - 1)
  return paretoNbdProbabilityAlive(params, c) * (((r + x) * (beta + c.T)) / (alpha + c.T)) * bracket
}
