import type {Engine} from '../../engine/engine.js'
import {DataError} from '../../errors.js'
import {
  type BgNbdParameters,
  bgnbdExpectedPurchases,
  bgnbdExpectedRepeatsOfNew,
  bgnbdProbabilityAlive,
  fitBgNbd,
} from './bgnbd.js'
import type {CustomerSummary} from './customer-summary.js'
import {fitGammaGamma, type GammaGammaParameters, gammaGammaExpectedValue, spendsToFit} from './gamma-gamma.js'
import {groupSummaries, groupSummary, type PurchaseSummary, type SummaryGroups} from './groups.js'
import {customerLifetimeValue, type TimeUnit, UNITS_PER_MONTH} from './lifetime-value.js'
import {FitError, type FittedModel} from './maximum-likelihood.js'
import {
  fitParetoNbd,
  type ParetoNbdParameters,
  paretoNbdExpectedPurchases,
  paretoNbdProbabilityAlive,
} from './pareto-nbd.js'
import {type CustomerRecord, customerRecords} from './summary.js'
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
  source: {kind: 'lake'; lake: string; eventsVersion: number} | {kind: 'file'; path: string}
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
}

/** Fits the models and values every customer. The per-customer values go into `clvCustomers` (see saveClvRows). */
export async function analyzeClv(
  engine: Engine,
  options: ClvOptions,
): Promise<{result: ClvResult; values: CustomerValue[]}> {
  const registered = await registerTransactions(engine, options.source, options.asOf)
  const asOf = registered.lastDay
  const holdoutDays = options.holdoutDays ?? 0
  const calibrationEnd = shiftDay(asOf, -holdoutDays)
  const daysPerUnit = options.timeUnit === 'week' ? 7 : 1
  const records = await customerRecords(engine, calibrationEnd, asOf, daysPerUnit)
  const withRepeats = records.filter((c) => c.frequency > 0).length
  if (records.length === 0 || withRepeats === 0) {
    throw new DataError(
      'CLV_TOO_FEW_REPEATS',
      records.length === 0
        ? `No customer bought by ${calibrationEnd}: nothing to fit.`
        : `None of the ${records.length} customers bought again by ${calibrationEnd}: the purchase models cannot be fitted.`,
      {hints: ['--as-of <a later day>', '--holdout <fewer days>']},
    )
  }
  const groups = groupSummaries(records)
  const purchaseModel = fitPurchaseModel(options.model, groups)
  const spendModel = fitSpend(records)
  const unitsPerMonth = UNITS_PER_MONTH[options.timeUnit]
  const horizon = options.horizonMonths * unitsPerMonth
  const predict = predictor(purchaseModel)
  // Predictions depend on the (frequency, recency, T) group only: each is computed once per group. The discounted
  // value of one unit of spend per expected purchase times a customer's expected order value is their CLV.
  const holdoutLength = holdoutDays / daysPerUnit
  const byGroup = Array.from({length: groups.count.length}, (_, g) => {
    const c = groupSummary(groups, g)
    return {
      alive: predict.alive(c),
      expected: predict.expected(c, horizon),
      holdout: holdoutDays > 0 ? predict.expected(c, holdoutLength) : 0,
      discounted: customerLifetimeValue(
        (t) => predict.expected(c, t),
        1,
        options.horizonMonths,
        options.discountRate,
        unitsPerMonth,
      ),
    }
  })
  const values: CustomerValue[] = records.map(({holdoutPurchases: _, ...c}, i) => {
    const group = byGroup[groups.groupOf[i] as number]!
    const expectedOrderValue = gammaGammaExpectedValue(spendModel.parameters, c)
    return {
      ...c,
      probabilityAlive: group.alive,
      expectedPurchases: group.expected,
      expectedOrderValue,
      // Expected purchases and values are never negative; the max only absorbs rounding below zero.
      clv: Math.max(group.discounted * expectedOrderValue, 0),
    }
  })
  // Ties broken by the id's code units, as the saved table orders them (localeCompare is far slower).
  const ranked = [...values].sort(
    (x, y) => y.clv - x.clv || (x.customerId < y.customerId ? -1 : x.customerId > y.customerId ? 1 : 0),
  )
  const result: ClvResult = {
    source:
      options.source.kind === 'lake'
        ? {kind: 'lake', lake: options.source.lake, eventsVersion: registered.eventsVersion}
        : {kind: 'file', path: options.source.path},
    asOf,
    calibrationEnd,
    timeUnit: options.timeUnit,
    horizonMonths: options.horizonMonths,
    discountRate: options.discountRate,
    customers: {total: records.length, withRepeatPurchases: withRepeats, usedForSpendModel: spendModel.customers},
    purchaseModel,
    spendModel,
    fit: {
      actualRepeatPurchases: records.reduce((sum, c) => sum + c.frequency, 0),
      expectedRepeatPurchases:
        purchaseModel.model === 'bgnbd' ? expectedRepeatsOfNew(purchaseModel.parameters, groups) : null,
    },
    holdout:
      holdoutDays > 0
        ? compareHoldout(
            records,
            records.map((_, i) => byGroup[groups.groupOf[i] as number]!.holdout),
            holdoutDays,
            holdoutLength,
          )
        : null,
    totalClv: values.reduce((sum, c) => sum + c.clv, 0),
    topCustomers: options.top === 0 ? ranked : ranked.slice(0, options.top),
  }
  return {result, values}
}

/** In-sample: the repeat purchases expected of new customers over each one's T (FHL 2005, eq. 9), once per group. */
function expectedRepeatsOfNew(parameters: BgNbdParameters, groups: SummaryGroups): number {
  let sum = 0
  for (let g = 0; g < groups.count.length; g++) {
    sum += (groups.count[g] as number) * bgnbdExpectedRepeatsOfNew(parameters, groups.T[g] as number)
  }
  return sum
}

function fitPurchaseModel(model: PurchaseModelName, groups: SummaryGroups): PurchaseModelFit {
  try {
    return model === 'bgnbd' ? {model: 'bgnbd', ...fitBgNbd(groups)} : {model: 'pareto-nbd', ...fitParetoNbd(groups)}
  } catch (error) {
    throw fitFailed(model, error)
  }
}

function fitSpend(records: readonly CustomerRecord[]): SpendModelFit {
  // Two customers at least: one mean value cannot separate the spread within customers from that between them.
  if (spendsToFit(records).length < 2) {
    throw new DataError('CLV_TOO_FEW_SPENDS', 'Fewer than two customers have repeat purchases of positive value.', {
      hints: ['--as-of <a later day>', '--amount-column <the order value column>'],
    })
  }
  try {
    return {model: 'gamma-gamma', ...fitGammaGamma(records)}
  } catch (error) {
    throw fitFailed('gamma-gamma', error)
  }
}

function fitFailed(model: string, error: unknown): DataError {
  const reason = error instanceof FitError ? error.message : String(error)
  return new DataError('CLV_FIT_FAILED', `The ${model} fit did not converge: ${reason}.`, {
    cause: error,
    hints: ['--time-unit week', '--as-of <a later day>'],
  })
}

interface Predictor {
  alive: (c: PurchaseSummary) => number
  expected: (c: PurchaseSummary, t: number) => number
}

function predictor(fit: PurchaseModelFit): Predictor {
  if (fit.model === 'bgnbd') {
    return {
      alive: (c) => bgnbdProbabilityAlive(fit.parameters, c),
      expected: (c, t) => bgnbdExpectedPurchases(fit.parameters, c, t),
    }
  }
  return {
    alive: (c) => paretoNbdProbabilityAlive(fit.parameters, c),
    expected: (c, t) => paretoNbdExpectedPurchases(fit.parameters, c, t),
  }
}

/** `expectedByCustomer` holds each customer's expected repeat purchases over the holdout, in the order of `records`. */
function compareHoldout(
  records: readonly CustomerRecord[],
  expectedByCustomer: readonly number[],
  days: number,
  length: number,
): HoldoutComparison {
  const buckets = new Map<string, {customers: number; actual: number; predicted: number}>()
  let actual = 0
  let predicted = 0
  for (const [i, c] of records.entries()) {
    const expected = expectedByCustomer[i] as number
    actual += c.holdoutPurchases
    predicted += expected
    const key = c.frequency >= 7 ? '7+' : String(c.frequency)
    const bucket = buckets.get(key) ?? {customers: 0, actual: 0, predicted: 0}
    bucket.customers++
    bucket.actual += c.holdoutPurchases
    bucket.predicted += expected
    buckets.set(key, bucket)
  }
  const order = ['0', '1', '2', '3', '4', '5', '6', '7+']
  return {
    days,
    length,
    customers: records.length,
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
