import type {CustomerSummary} from './customer-summary.js'
import {type FittedModel, maximizeLikelihood} from './maximum-likelihood.js'
import {gammaln} from './special.js'

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

/** Fits on customers with frequency > 0 and positive monetary value only (the others carry no spend information). */
export function fitGammaGamma(customers: readonly Summary[]): FittedModel<keyof GammaGammaParameters> {
  const fit = spendsToFit(customers)
  const mean = fit.reduce((sum, c) => sum + c.monetary, 0) / Math.max(fit.length, 1)
  return maximizeLikelihood({
    names: GAMMA_GAMMA_NAMES,
    // q = 2 and v = mean/p give the data's mean order value: a start in the right units whatever the currency.
    start: {p: 1, q: 2, v: Math.max(mean, 1e-6)},
    customers: fit.length,
    logLikelihood: (params) => {
      let total = 0
      for (const c of fit) total += gammaGammaLogLikelihood(params, c)
      return total
    },
  })
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
