import type {Engine} from '../../engine/engine.js'
import {DataError} from '../../errors.js'
import {type BgNbdParameters, bgnbdExpectedRepeatsOfNew, bgnbdGroupPredictions, fitBgNbd} from './bgnbd.js'
import {writeColumns} from './columns.js'
import type {CustomerSummary} from './customer-summary.js'
import {fitGammaGammaSpends, type GammaGammaParameters} from './gamma-gamma.js'
import type {GroupPredictions, SummaryGroups} from './groups.js'
import {discountedValue, discountFactors, type TimeUnit, UNITS_PER_MONTH} from './lifetime-value.js'
import {FitError, type FittedModel} from './maximum-likelihood.js'
import {fitParetoNbd, type ParetoNbdParameters, paretoNbdGroupPredictions} from './pareto-nbd.js'
import {SUMMARY_TABLE, summarizeCustomers, summarizedGroups, summarizedSpends} from './summary.js'
import {type ClvSource, registerTransactions} from './transactions.js'

export type PurchaseModelName = 'bgnbd' | 'pareto-nbd'

export interface ClvOptions {
  source: ClvSource
  /** Last day of data (YYYY-MM-DD); default: the last day with a transaction (or of the lake's events). */
  asOf?: string
  timeUnit: TimeUnit
  /** Months of future value; expected purchases are reported over the same span. */
  horizonMonths: number
  /** Discount rate per month. */
  discountRate: number
  /** Days at the end kept out of the fit, to compare predicted and actual repeat purchases. */
  holdoutDays?: number
  model: PurchaseModelName
  /** How many customers, highest CLV first, the result lists (0: all). */
  top: number
  /** Once aborted, the run stops at its next safe point (between queries, or within about 50 ms of a fit). */
  signal?: AbortSignal
  /** Called as each stage starts, e.g. "Fitting the pareto-nbd model". */
  onProgress?: (stage: string) => void
}

export type PurchaseModelFit =
  | ({model: 'bgnbd'} & FittedModel<keyof BgNbdParameters>)
  | ({model: 'pareto-nbd'} & FittedModel<keyof ParetoNbdParameters>)

export type SpendModelFit = {model: 'gamma-gamma'} & FittedModel<keyof GammaGammaParameters>

export interface CustomerValue extends CustomerSummary {
  probabilityAlive: number
  /** Expected repeat purchases over the horizon. */
  expectedPurchases: number
  expectedOrderValue: number
  clv: number
}

export interface HoldoutComparison {
  days: number
  /** Length of the holdout in the run's time unit. */
  length: number
  customers: number
  actualRepeatPurchases: number
  predictedRepeatPurchases: number
  /** Mean actual and predicted purchases by repeat purchases in calibration (0 … 6, then "7+"). */
  byCalibrationFrequency: {frequency: string; customers: number; actualMean: number; predictedMean: number}[]
}

export interface ClvResult {
  /** duplicateEvents: copies of an event_id already seen that the shop views set aside (each event counted once). */
  source: {kind: 'lake'; lake: string; eventsVersion: number; duplicateEvents: number} | {kind: 'file'; path: string}
  asOf: string
  calibrationEnd: string
  timeUnit: TimeUnit
  horizonMonths: number
  discountRate: number
  customers: {total: number; withRepeatPurchases: number; usedForSpendModel: number}
  purchaseModel: PurchaseModelFit
  spendModel: SpendModelFit
  /** In-sample check: repeat purchases the fitted model expects over each customer's T, against those observed. */
  fit: {actualRepeatPurchases: number; expectedRepeatPurchases: number | null}
  holdout: HoldoutComparison | null
  totalClv: number
  topCustomers: CustomerValue[]
  /** What the user should know about the fits: parameters the data do not pin down (see FittedModel.poorlyDetermined). */
  warnings: string[]
}

/**
 * Fits the models and values every customer. The per-customer values are left in the table `clv_customers` (see
 * saveClvRows); the result lists the `top` of them.
 */
export async function analyzeClv(engine: Engine, options: ClvOptions): Promise<ClvResult> {
  const {signal} = options
  const stage = (text: string) => {
    signal?.throwIfAborted()
    options.onProgress?.(text)
  }
  stage('Summarising customers')
  const registered = await registerTransactions(engine, options.source, options.asOf)
  const asOf = registered.lastDay
  const holdoutDays = options.holdoutDays ?? 0
  const calibrationEnd = shiftDay(asOf, -holdoutDays)
  const daysPerUnit = options.timeUnit === 'week' ? 7 : 1
  await summarizeCustomers(engine, calibrationEnd, asOf, daysPerUnit)
  const {groups, holdoutPurchases} = await summarizedGroups(engine)
  let withRepeats = 0
  let repeatPurchases = 0
  for (let g = 0; g < groups.count.length; g++) {
    if ((groups.frequency[g] as number) > 0) withRepeats += groups.count[g] as number
    repeatPurchases += (groups.count[g] as number) * (groups.frequency[g] as number)
  }
  if (groups.customers === 0 || withRepeats === 0) {
    throw new DataError(
      'CLV_TOO_FEW_REPEATS',
      groups.customers === 0
        ? `No customer bought by ${calibrationEnd}: nothing to fit.`
        : `None of the ${groups.customers} customers bought again by ${calibrationEnd}: the purchase models cannot be fitted.`,
      {hints: ['--as-of <a later day>', '--holdout <fewer days>']},
    )
  }
  stage(`Fitting the ${options.model} model to ${groups.customers.toLocaleString('en-US')} customers`)
  const purchaseModel = await fitPurchaseModel(options.model, groups, signal)
  stage('Fitting the gamma-gamma model')
  const spendModel = await fitSpend(await summarizedSpends(engine), signal)
  stage('Valuing customers')
  // Predictions depend on the (frequency, recency, T) group only: they are made once per group, at the end of each
  // month of the horizon (and of the holdout). A customer's CLV is their group's discounted purchases times their
  // expected order value.
  const unitsPerMonth = UNITS_PER_MONTH[options.timeUnit]
  const months = Array.from({length: options.horizonMonths}, (_, i) => (i + 1) * unitsPerMonth)
  const holdoutLength = holdoutDays / daysPerUnit
  const predictions = predictGroups(purchaseModel, groups, holdoutDays > 0 ? [...months, holdoutLength] : months)
  const atHorizon = predictions.expected[options.horizonMonths - 1] as Float64Array
  const cumulative = new Float64Array(options.horizonMonths)
  const factors = discountFactors(options.horizonMonths, options.discountRate)
  const discounted = new Float64Array(groups.count.length)
  for (let g = 0; g < discounted.length; g++) {
    for (let m = 0; m < cumulative.length; m++) cumulative[m] = (predictions.expected[m] as Float64Array)[g] as number
    discounted[g] = discountedValue(cumulative, 1, factors)
  }
  await valueCustomers(engine, groups, [predictions.alive, atHorizon, discounted], spendModel.parameters)
  const [total] = await engine.rows(`SELECT sum(clv ORDER BY customer_id) AS total FROM ${CLV_CUSTOMERS_TABLE}`)
  return {
    source:
      options.source.kind === 'lake'
        ? {
            kind: 'lake',
            lake: options.source.lake,
            eventsVersion: registered.eventsVersion,
            duplicateEvents: registered.duplicateEvents,
          }
        : {kind: 'file', path: options.source.path},
    asOf,
    calibrationEnd,
    timeUnit: options.timeUnit,
    horizonMonths: options.horizonMonths,
    discountRate: options.discountRate,
    customers: {total: groups.customers, withRepeatPurchases: withRepeats, usedForSpendModel: spendModel.customers},
    purchaseModel,
    spendModel,
    fit: {
      actualRepeatPurchases: repeatPurchases,
      expectedRepeatPurchases:
        purchaseModel.model === 'bgnbd' ? expectedRepeatsOfNew(purchaseModel.parameters, groups) : null,
    },
    holdout:
      holdoutDays > 0
        ? compareHoldout(
            groups,
            holdoutPurchases,
            predictions.expected.at(-1) as Float64Array,
            holdoutDays,
            holdoutLength,
          )
        : null,
    totalClv: Number(total?.total ?? 0),
    topCustomers: await topCustomers(engine, options.top),
    warnings: [purchaseModel, spendModel].flatMap((fit) => poorFitWarning(fit) ?? []),
  }
}

/**
 * The warning for a fit whose parameters the data do not pin down, naming them with their estimates and standard
 * errors. On such a ridge (a shop of a few days, say) two fits whose log-likelihoods differ by 1e-4 can value the
 * same customers at 39k and 164k: the result must say so rather than print one of them as if it were known.
 */
function poorFitWarning(fit: PurchaseModelFit | SpendModelFit): string | undefined {
  const names = fit.poorlyDetermined as string[]
  if (names.length === 0) return undefined
  const parameters = fit.parameters as Record<string, number>
  const errors = fit.standardErrors as Record<string, number | null>
  const shown = names.map((name) => {
    const se = errors[name]
    return `${name} = ${significant(parameters[name] as number)} ${se === null || se === undefined ? '(no standard error)' : `± ${significant(se)}`}`
  })
  const advice =
    fit.model === 'gamma-gamma'
      ? 'fit on a longer history (a later --as-of once more customers bought again)'
      : `fit on a longer history (a later --as-of, or a lake with more days of orders)${fit.model === 'pareto-nbd' ? ', or use --model bgnbd' : ''}`
  return `The ${fit.model} fit does not pin down ${shown.join(', ')}: the likelihood is all but flat along a ridge, so parameters that fit these data equally well give very different ${fit.model === 'gamma-gamma' ? 'expected order values' : 'expected purchases'} and CLVs. Treat the values as unreliable and ${advice}.`
}

function significant(x: number): string {
  return Number(x.toPrecision(4)).toString()
}

/** The table of per-customer values: customer_id, frequency, recency, t, monetary and the columns of CustomerValue. */
export const CLV_CUSTOMERS_TABLE = 'clv_customers'

const GROUP_VALUES_TABLE = 'clv_group_values'

/**
 * Fills `clv_customers`: each customer of `clv_summary` with their group's P(alive), expected purchases and discounted
 * purchases, and the expected order value of Gamma-Gamma (as gammaGammaExpectedValue computes it), in SQL.
 */
async function valueCustomers(
  engine: Engine,
  groups: SummaryGroups,
  [alive, expected, discounted]: Float64Array[],
  {p, q, v}: GammaGammaParameters,
): Promise<void> {
  await writeColumns(engine, GROUP_VALUES_TABLE, {
    frequency: groups.frequency,
    recency: groups.recency,
    t: groups.T,
    probability_alive: alive as Float64Array,
    expected_purchases: expected as Float64Array,
    discounted_purchases: discounted as Float64Array,
  })
  await engine.run(
    `CREATE OR REPLACE TABLE ${CLV_CUSTOMERS_TABLE} AS
     WITH spend AS (SELECT CAST($1 AS DOUBLE) AS p, CAST($2 AS DOUBLE) AS q, CAST($3 AS DOUBLE) AS v),
     joined AS (
       SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary, g.probability_alive, g.expected_purchases,
              g.discounted_purchases, (p * v) / (q - 1) AS population_mean,
              (p * s.frequency) / (p * s.frequency + q - 1) AS weight
       FROM ${SUMMARY_TABLE} s CROSS JOIN spend JOIN ${GROUP_VALUES_TABLE} g
         ON s.frequency = g.frequency AND s.recency = g.recency AND s.t = g.t
     ),
     valued AS (
       SELECT *, (1 - weight) * population_mean + weight * greatest(monetary, 0) AS expected_order_value FROM joined
     )
     SELECT customer_id, frequency, recency, t, monetary, probability_alive, expected_purchases, expected_order_value,
            -- Expected purchases and values are never negative; greatest only absorbs rounding below zero.
            greatest(discounted_purchases * expected_order_value, 0) AS clv
     FROM valued`,
    [p, q, v],
  )
}

/** The `top` customers by CLV (0: all), ties in customer order, as the saved table orders them. */
async function topCustomers(engine: Engine, top: number): Promise<CustomerValue[]> {
  const [id, frequency, recency, T, monetary, alive, expected, orderValue, clv] = await engine.columns(
    `SELECT customer_id, frequency, recency, t, monetary, probability_alive, expected_purchases, expected_order_value, clv
     FROM ${CLV_CUSTOMERS_TABLE} ORDER BY clv DESC, customer_id${top === 0 ? '' : ' LIMIT $1'}`,
    top === 0 ? [] : [top],
  )
  return (id ?? []).map((customerId, i) => ({
    customerId: String(customerId),
    frequency: Number(frequency?.[i]),
    recency: Number(recency?.[i]),
    T: Number(T?.[i]),
    monetary: Number(monetary?.[i]),
    probabilityAlive: Number(alive?.[i]),
    expectedPurchases: Number(expected?.[i]),
    expectedOrderValue: Number(orderValue?.[i]),
    clv: Number(clv?.[i]),
  }))
}

/** In-sample: the repeat purchases expected of new customers over each one's T (FHL 2005, eq. 9), once per T. */
function expectedRepeatsOfNew(parameters: BgNbdParameters, groups: SummaryGroups): number {
  const byT = groups.times.map((T) => bgnbdExpectedRepeatsOfNew(parameters, T))
  let sum = 0
  for (let g = 0; g < groups.count.length; g++) {
    sum += (groups.count[g] as number) * (byT[groups.TIndex[g] as number] as number)
  }
  return sum
}

async function fitPurchaseModel(
  model: PurchaseModelName,
  groups: SummaryGroups,
  signal: AbortSignal | undefined,
): Promise<PurchaseModelFit> {
  try {
    return model === 'bgnbd'
      ? {model: 'bgnbd', ...(await fitBgNbd(groups, {signal}))}
      : {model: 'pareto-nbd', ...(await fitParetoNbd(groups, {signal}))}
  } catch (error) {
    throw fitFailed(model, error, signal)
  }
}

async function fitSpend(
  {frequency, monetary}: {frequency: number[]; monetary: number[]},
  signal: AbortSignal | undefined,
): Promise<SpendModelFit> {
  // Two customers at least: one mean value cannot separate the spread within customers from that between them.
  if (monetary.length < 2) {
    throw new DataError('CLV_TOO_FEW_SPENDS', 'Fewer than two customers have repeat purchases of positive value.', {
      hints: ['--as-of <a later day>', '--amount-column <the order value column>'],
    })
  }
  try {
    return {model: 'gamma-gamma', ...(await fitGammaGammaSpends(frequency, monetary, {signal}))}
  } catch (error) {
    throw fitFailed('gamma-gamma', error, signal)
  }
}

/** A fit's failure as bad data; an interruption passes through as itself (exit 130, not 3). */
function fitFailed(model: string, error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && error === signal.reason) return error
  const reason = error instanceof FitError ? error.message : String(error)
  return new DataError('CLV_FIT_FAILED', `The ${model} fit did not converge: ${reason}.`, {
    cause: error,
    hints: ['--time-unit week', '--as-of <a later day>'],
  })
}

function predictGroups(fit: PurchaseModelFit, groups: SummaryGroups, lengths: readonly number[]): GroupPredictions {
  return fit.model === 'bgnbd'
    ? bgnbdGroupPredictions(fit.parameters, groups, lengths)
    : paretoNbdGroupPredictions(fit.parameters, groups, lengths)
}

/** `expected` holds each group's expected repeat purchases over the holdout; `actual`, its customers' purchases. */
function compareHoldout(
  groups: SummaryGroups,
  actualByGroup: readonly number[],
  expected: Float64Array,
  days: number,
  length: number,
): HoldoutComparison {
  const buckets = new Map<string, {customers: number; actual: number; predicted: number}>()
  let actual = 0
  let predicted = 0
  for (let g = 0; g < groups.count.length; g++) {
    const customers = groups.count[g] as number
    const purchases = actualByGroup[g] as number
    const expectedPurchases = customers * (expected[g] as number)
    actual += purchases
    predicted += expectedPurchases
    const frequency = groups.frequency[g] as number
    const key = frequency >= 7 ? '7+' : String(frequency)
    const bucket = buckets.get(key) ?? {customers: 0, actual: 0, predicted: 0}
    bucket.customers += customers
    bucket.actual += purchases
    bucket.predicted += expectedPurchases
    buckets.set(key, bucket)
  }
  const order = ['0', '1', '2', '3', '4', '5', '6', '7+']
  return {
    days,
    length,
    customers: groups.customers,
    actualRepeatPurchases: actual,
    predictedRepeatPurchases: predicted,
    byCalibrationFrequency: order
      .filter((key) => buckets.has(key))
      .map((key) => {
        const b = buckets.get(key)!
        return {
          frequency: key,
          customers: b.customers,
          actualMean: b.actual / b.customers,
          predictedMean: b.predicted / b.customers,
        }
      }),
  }
}

function shiftDay(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10)
}
