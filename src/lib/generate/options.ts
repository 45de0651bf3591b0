import {UsageError} from '../errors.js'
import {MAX_EVENT_TIME, MIN_EVENT_TIME} from '../events/contract.js'

/** The BG/NBD story of repeat buying: purchase rate λ ~ Gamma(r, alpha), drop-out after a repeat purchase p ~ Beta(a, b). */
export interface BgNbdParameters {
  r: number
  /** Rate of the Gamma for λ, in days (so the mean purchase rate is r/alpha per day). */
  alpha: number
  a: number
  b: number
}

/** The Gamma-Gamma spend model: order value ~ Gamma(p, ν) with ν ~ Gamma(q, gamma); mean order value p·gamma/(q-1). */
export interface GammaGammaParameters {
  p: number
  q: number
  gamma: number
}

/** The kinds of fraud the simulator can play out; each label line names one. */
export type FraudPattern =
  | 'card_testing'
  | 'account_takeover'
  | 'slow_fraud'
  | 'ring'
  | 'friendly_fraud'
  | 'outsized_first_order'
export const FRAUD_PATTERNS: readonly FraudPattern[] = [
  'card_testing',
  'account_takeover',
  'slow_fraud',
  'ring',
  'friendly_fraud',
  'outsized_first_order',
]

/**
 * Which parameter ranges and places the fraud patterns draw from: a scorer is tuned on `tune` shops and reported on
 * `holdout` shops, whose rings, card tests, baskets and countries it has never seen.
 */
export type FraudVariant = 'tune' | 'holdout'
export const FRAUD_VARIANTS: readonly FraudVariant[] = ['tune', 'holdout']

/** How often legitimate customers do things that look odd to a fraud scorer; each a share between 0 and 1. */
export interface LegitBehaviour {
  /** Share of legitimate orders shipped to another country than the billing one (gifts). */
  giftRate: number
  /** Share of customers who live or work abroad: their sessions come from another country than their billing one. */
  abroadRate: number
  /** Share of customers who hold 2-3 cards and pick one per order. */
  multiCardRate: number
  /** Share of new customers who join a household: same billing country, paying with an existing customer's card. */
  householdRate: number
  /** Share of legitimate purchase visits followed by 1-4 more small orders within the hour (forgot something). */
  burstRate: number
  /** Share of a returning customer's sessions made on another kind of device than their usual one. */
  newDeviceRate: number
}

export interface GenerateOptions extends LegitBehaviour {
  seed: number
  /** First day of the simulated period (UTC midnight), as YYYY-MM-DD. */
  start: string
  /** Length of the period in days; customers are acquired throughout it. */
  days: number
  /** Customers acquired over the period. Derived from `events` when that is given without it. */
  customers?: number
  /** Stop after exactly this many events (the period then runs as long as needed). */
  events?: number
  products: number
  /** Share of orders that are fraudulent, 0 to 0.5. */
  fraudRate: number
  /** Fraud patterns that occur (all by default); `fraudRate` is shared among them. */
  fraudPatterns: readonly FraudPattern[]
  fraudVariant: FraudVariant
  /** Share of legitimate orders refunded later. */
  refundRate: number
  currency: string
  /** Turn off daily/weekly seasonality (uniform traffic), mostly for tests of the purchase process. */
  seasonality: boolean
  bgnbd: BgNbdParameters
  gammaGamma: GammaGammaParameters
}

export const DEFAULT_BGNBD: BgNbdParameters = {r: 0.9, alpha: 30, a: 0.8, b: 2.4}
export const DEFAULT_GAMMA_GAMMA: GammaGammaParameters = {p: 6, q: 4, gamma: 25}

export const GENERATE_DEFAULTS = {
  seed: 42,
  start: '2026-01-01',
  days: 365,
  customers: 10_000,
  products: 500,
  fraudRate: 0.01,
  fraudPatterns: FRAUD_PATTERNS,
  fraudVariant: 'tune',
  refundRate: 0.05,
  giftRate: 0.05,
  abroadRate: 0.05,
  multiCardRate: 0.3,
  householdRate: 0.03,
  burstRate: 0.02,
  newDeviceRate: 0.1,
  currency: 'EUR',
  seasonality: true,
  bgnbd: DEFAULT_BGNBD,
  gammaGamma: DEFAULT_GAMMA_GAMMA,
} as const satisfies Omit<GenerateOptions, 'events'>

/** Checks values the flag parser cannot (relations, ranges of model parameters) and returns the start instant. */
export function validateGenerateOptions(options: GenerateOptions): {startMs: number} {
  const fail = (message: string, hint: string) => {
    throw new UsageError('INVALID_GENERATE_OPTION', message, {hints: [hint]})
  }
  const startMs = Date.parse(`${options.start}T00:00:00Z`)
  // Date.parse rolls 2026-02-31 over to March: only a date that formats back to itself is real.
  if (Number.isNaN(startMs) || new Date(startMs).toISOString().slice(0, 10) !== options.start) {
    fail(`--start "${options.start}" is not a calendar date.`, '--start 2026-01-01')
  }
  if (!Number.isInteger(options.days) || options.days < 1) fail(`--days must be at least 1.`, '--days 365')
  // The contract accepts event times from 2000 up to 2100; a period (plus its trailing refunds) must fit.
  const endMs = startMs + (options.days + 90) * 86_400_000
  if (startMs < Date.parse(MIN_EVENT_TIME) || endMs >= Date.parse(MAX_EVENT_TIME)) {
    fail('The period must lie between 2000 and 2100 (minus 90 days for late refunds).', '--start 2026-01-01')
  }
  if (options.customers !== undefined && (!Number.isInteger(options.customers) || options.customers < 1)) {
    fail('--customers must be at least 1.', '--customers 10000')
  }
  if (options.events !== undefined && (!Number.isInteger(options.events) || options.events < 1)) {
    fail('--events must be at least 1.', '--events 1000000')
  }
  if (!Number.isInteger(options.products) || options.products < 10)
    fail('--products must be at least 10.', '--products 500')
  if (!(options.fraudRate >= 0 && options.fraudRate <= 0.5))
    fail('--fraud-rate must be between 0 and 0.5.', '--fraud-rate 0.01')
  if (!(options.refundRate >= 0 && options.refundRate <= 0.5)) {
    fail('--refund-rate must be between 0 and 0.5.', '--refund-rate 0.05')
  }
  const shares: [string, number, number][] = [
    ['--gift-rate', options.giftRate, GENERATE_DEFAULTS.giftRate],
    ['--abroad-rate', options.abroadRate, GENERATE_DEFAULTS.abroadRate],
    ['--multi-card-rate', options.multiCardRate, GENERATE_DEFAULTS.multiCardRate],
    ['--household-rate', options.householdRate, GENERATE_DEFAULTS.householdRate],
    ['--burst-rate', options.burstRate, GENERATE_DEFAULTS.burstRate],
    ['--new-device-rate', options.newDeviceRate, GENERATE_DEFAULTS.newDeviceRate],
  ]
  for (const [flag, value, fallback] of shares) {
    if (!(value >= 0 && value <= 1)) fail(`${flag} must be between 0 and 1, not ${value}.`, `${flag} ${fallback}`)
  }
  const unknown = options.fraudPatterns.filter((p) => !FRAUD_PATTERNS.includes(p))
  if (unknown.length > 0 || options.fraudPatterns.length === 0) {
    fail(
      unknown.length > 0
        ? `--fraud-patterns names unknown patterns: ${unknown.join(', ')}.`
        : '--fraud-patterns names no pattern.',
      `--fraud-patterns ${FRAUD_PATTERNS.join(',')}`,
    )
  }
  if (!FRAUD_VARIANTS.includes(options.fraudVariant)) {
    fail(`--fraud-variant must be tune or holdout, not ${options.fraudVariant}.`, '--fraud-variant holdout')
  }
  if (!/^[A-Z]{3}$/.test(options.currency))
    fail(`--currency "${options.currency}" is not an ISO 4217 code.`, '--currency EUR')
  const positive: [string, number][] = [
    ['--bgnbd-r', options.bgnbd.r],
    ['--bgnbd-alpha', options.bgnbd.alpha],
    ['--bgnbd-a', options.bgnbd.a],
    ['--bgnbd-b', options.bgnbd.b],
    ['--spend-p', options.gammaGamma.p],
    ['--spend-q', options.gammaGamma.q],
    ['--spend-gamma', options.gammaGamma.gamma],
  ]
  for (const [flag, value] of positive) {
    if (!(value > 0 && Number.isFinite(value))) fail(`${flag} must be a positive number, not ${value}.`, `${flag} 1.5`)
  }
  if (options.gammaGamma.q <= 1) fail('--spend-q must be above 1 so the mean order value is finite.', '--spend-q 4')
  return {startMs}
}
