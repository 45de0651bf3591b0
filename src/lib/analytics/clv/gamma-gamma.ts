import type {CustomerSummary} from './customer-summary.js'
import {type FitControl, type FittedModel, maximizeLikelihood} from './maximum-likelihood.js'
import {addInto, digamma, gammaln, trigamma} from './special.js'

/**
 * Gamma-Gamma spend (Fader and Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): order values ~ Gamma(p, ν),
 * ν ~ Gamma(q, v) across customers; the mean order value of the population is p·v/(q - 1).
 */
export interface GammaGammaParameters {
  p: number
  q: number
  v: number
}

export const GAMMA_GAMMA_NAMES = ['p', 'q', 'v'] as const

type Summary = Pick<CustomerSummary, 'frequency' | 'monetary'>

/** Customers the spend model learns from: with repeat purchases of positive mean value. */
export function spendsToFit<C extends Summary>(customers: readonly C[]): C[] {
  return customers.filter((c) => c.frequency > 0 && c.monetary > 0)
}

/** The log-likelihood of one customer's mean repeat order value (as lifetimes' GammaGammaFitter writes it). */
export function gammaGammaLogLikelihood({p, q, v}: GammaGammaParameters, {frequency: x, monetary: m}: Summary): number {
  const px = p * x
  return (
    gammaln(px + q) -
    gammaln(px) -
    gammaln(q) +
    q * Math.log(v) +
    (px - 1) * Math.log(m) +
    px * Math.log(x) -
    (px + q) * Math.log(x * m + v)
  )
}

/**
 * The total log-likelihood of the customers' mean order values and, when `gradient` is given, its gradient (p, q, v)
 * added into it, and when `hessian` is given too, its Hessian: the same sum as gammaGammaLogLikelihood, with the Γ
 * terms (and their digammas and trigammas) once per frequency and the terms that do not depend on the parameters
 * summed once.
 */
export function gammaGammaTotalLogLikelihood(
  {p, q, v}: GammaGammaParameters,
  spends: SpendData,
  gradient?: number[],
  hessian?: number[][],
): number {
  const {frequencies, countByFrequency} = spends
  const withGradient = gradient !== undefined || hessian !== undefined
  const withHessian = hessian !== undefined
  const logV = Math.log(v)
  let total = 0
  let dp = 0
  let dq = 0
  let dv = 0
  let hpp = 0
  let hpq = 0
  let hpv = 0
  let hqq = 0
  let hqv = 0
  let hvv = 0
  const gammalnQ = gammaln(q)
  const psiQ = withGradient ? digamma(q) : 0
  const psi1Q = withHessian ? trigamma(q) : 0
  for (let k = 0; k < frequencies.length; k++) {
    const x = frequencies[k] as number
    const n = countByFrequency[k] as number
    const px = p * x
    total += n * (gammaln(px + q) - gammaln(px) - gammalnQ + q * logV + px * Math.log(x))
    if (withGradient) {
      const psiPXQ = digamma(px + q)
      dp += n * x * (psiPXQ - digamma(px) + Math.log(x))
      dq += n * (psiPXQ - psiQ + logV)
      dv += (n * q) / v
    }
    if (withHessian) {
      const psi1PXQ = trigamma(px + q)
      hpp += n * x * x * (psi1PXQ - trigamma(px))
      hpq += n * x * psi1PXQ
      hqq += n * (psi1PXQ - psi1Q)
      hqv += n / v
      hvv -= (n * q) / (v * v)
    }
  }
  const {frequency, monetary, logMonetary} = spends
  for (let i = 0; i < frequency.length; i++) {
    const x = frequency[i] as number
    const px = p * x
    const spent = x * (monetary[i] as number) + v
    const logSpent = Math.log(spent)
    total += (px - 1) * (logMonetary[i] as number) - (px + q) * logSpent
    if (withGradient) {
      const inverse = 1 / spent
      dp += x * ((logMonetary[i] as number) - logSpent)
      dq -= logSpent
      dv -= (px + q) * inverse
      if (withHessian) {
        hpv -= x * inverse
        hqv -= inverse
        hvv += (px + q) * inverse * inverse
      }
    }
  }
  if (gradient) addInto(gradient, [dp, dq, dv])
  if (hessian) {
    addInto(hessian, [
      [hpp, hpq, hpv],
      [hpq, hqq, hqv],
      [hpv, hqv, hvv],
    ])
  }
  return total
}

/** The customers a spend model learns from, as arrays, with their frequencies counted. */
interface SpendData {
  frequency: Float64Array
  monetary: Float64Array
  logMonetary: Float64Array
  frequencies: Float64Array
  countByFrequency: Float64Array
}

function spendData(frequency: readonly number[], monetary: readonly number[]): SpendData {
  const counts = new Map<number, number>()
  for (const x of frequency) counts.set(x, (counts.get(x) ?? 0) + 1)
  return {
    frequency: Float64Array.from(frequency),
    monetary: Float64Array.from(monetary),
    logMonetary: Float64Array.from(monetary, Math.log),
    frequencies: Float64Array.from(counts.keys()),
    countByFrequency: Float64Array.from(counts.values()),
  }
}

/** Fits on customers with frequency > 0 and positive monetary value only (the others carry no spend information). */
export function fitGammaGamma(
  customers: readonly Summary[],
  control: FitControl = {},
): Promise<FittedModel<keyof GammaGammaParameters>> {
  const fit = spendsToFit(customers)
  return fitGammaGammaSpends(
    fit.map((c) => c.frequency),
    fit.map((c) => c.monetary),
    control,
  )
}

/** Fits on the frequencies and mean order values of customers who all have frequency > 0 and monetary > 0. */
export function fitGammaGammaSpends(
  frequency: readonly number[],
  monetary: readonly number[],
  control: FitControl = {},
): Promise<FittedModel<keyof GammaGammaParameters>> {
  const mean = monetary.reduce((sum, m) => sum + m, 0) / Math.max(monetary.length, 1)
  const spends = spendData(frequency, monetary)
  return maximizeLikelihood(
    {
      names: GAMMA_GAMMA_NAMES,
      // q = 2 and v = mean/p give the data's mean order value: a start in the right units whatever the currency.
      start: {p: 1, q: 2, v: Math.max(mean, 1e-6)},
      customers: monetary.length,
      derivatives: 2,
      logLikelihood: (params, gradient, hessian) => gammaGammaTotalLogLikelihood(params, spends, gradient, hessian),
    },
    control,
  )
}

/**
 * E[order value | history]: a weighted mean of the population mean and the customer's own mean (Fader and Hardie 2013,
 * eq. 5); the population mean for a customer without repeat purchases. Never negative for non-negative spend.
 */
export function gammaGammaExpectedValue({p, q, v}: GammaGammaParameters, {frequency: x, monetary: m}: Summary): number {
  const populationMean = (p * v) / (q - 1)
  const weight = (p * x) / (p * x + q - 1)
  return (1 - weight) * populationMean + weight * Math.max(m, 0)
}
