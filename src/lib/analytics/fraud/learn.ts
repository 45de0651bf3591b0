import type {Engine} from '../../engine/engine.js'
import {UsageError} from '../../errors.js'
import {registerShopViews, type ShopViews} from '../../shop/views.js'
import {lastEventTimeMs} from '../sessions.js'
import {computeFeatures, FEATURES_TABLE, featuresFromRow} from './features.js'
import {fitLogistic} from './logistic.js'
import {computeMetrics, type FraudMetrics, loadLabels} from './metrics.js'
import {type FraudModelInfo, saveFraudModel, type WindowSummary} from './model.js'
import {
  DEFAULT_THRESHOLD,
  FRAUD_RULES,
  HAND_SCORECARD,
  type Scorecard,
  scoreOrder,
  scoreSql,
  stepIndex,
} from './rules.js'

export const LEARN_DEFAULTS = {
  labelDelayDays: 60,
  validationShare: 0.3,
  minChargebacks: 30,
  l2: 1,
  topKPerDay: 10,
  linkDays: 7,
  prior: 'rules',
} as const

export interface FraudLearnOptions {
  lake: string
  /** Shop views already registered in this engine. */
  views?: ShopViews
  asOf?: string
  /** Orders placed less than this many days before the end of history are left out: their chargebacks may still come. */
  labelDelayDays?: number
  /** First day of the validation window (YYYY-MM-DD); default: the last `validationShare` of the mature orders. */
  splitDate?: string
  validationShare?: number
  /** Fewer chargebacks than this in the fit window: no model is saved. */
  minChargebacks?: number
  /** L2 penalty on the points (scikit-learn's 1 / C). */
  l2?: number
  /**
   * Orders on the account or card of a charged-back order within this many days of it count as fraud too: the card
   * network reports one order, the shop then knows the account and card were bad. 0: only charged-back orders.
   */
  linkDays?: number
  /** Where the penalty pulls the points: the hand-set rules' points (`rules`), or zero (`none`, plain ridge). */
  prior?: 'rules' | 'none'
  /** Ground-truth labels: the validation window is also measured against them. */
  labels?: string
  topKPerDay?: number
  onProgress?: (message: string) => void
}

export interface FraudLearnResult {
  /** Whether a model was fitted and saved. */
  learned: boolean
  /** Why not, when not: the hand-set rules stay in use. */
  skipped: string | null
  labelDelayDays: number
  /** Orders before this time (ISO) are mature: old enough for their chargebacks to have arrived. */
  matureBefore: string
  fit: WindowSummary
  validation: WindowSummary
  minChargebacks: number
  l2: number
  linkDays: number
  prior: 'rules' | 'none'
  iterations: number | null
  /** The threshold chosen on the fit window (best F1 against chargebacks). */
  threshold: number | null
  baseLogOdds: number | null
  points: {rule: string; step: number; at: number; points: number}[]
  validationMetrics: FraudMetrics | null
  validationMetricsLabels: FraudMetrics | null
  /** The hand-set rules at their default threshold on the same validation window. */
  rulesValidationMetrics: FraudMetrics | null
  model: {table: string; version: number; rows: number} | null
}

const LEARN_ORDERS = 'fraud_learn_orders'
const LEARN_SCORES = 'fraud_learn_scores'
const LEARN_CHARGEBACKS = 'fraud_learn_chargebacks'
const DAY_MS = 86_400_000

/**
 * Fits the points of the points table to the shop's own chargebacks: one indicator per (rule, step) that the rule's
 * first match picks, an L2 logistic regression on the earlier mature orders, a threshold chosen there, and metrics on
 * the later ones. Saves the model as a new version of `<lake>/models/fraud` unless the fit window holds too few
 * chargebacks.
 */
export async function learnFraud(engine: Engine, options: FraudLearnOptions): Promise<FraudLearnResult> {
  const labelDelayDays = options.labelDelayDays ?? LEARN_DEFAULTS.labelDelayDays
  const validationShare = options.validationShare ?? LEARN_DEFAULTS.validationShare
  const minChargebacks = options.minChargebacks ?? LEARN_DEFAULTS.minChargebacks
  const l2 = options.l2 ?? LEARN_DEFAULTS.l2
  const linkDays = options.linkDays ?? LEARN_DEFAULTS.linkDays
  const prior = options.prior ?? LEARN_DEFAULTS.prior
  const topKPerDay = options.topKPerDay ?? LEARN_DEFAULTS.topKPerDay
  const progress = options.onProgress ?? (() => {})
  if (!(validationShare > 0 && validationShare < 1)) {
    throw new UsageError(
      'VALIDATION_SHARE_INVALID',
      `The validation share must be between 0 and 1, not ${validationShare}.`,
    )
  }
  const views = options.views ?? (await registerShopViews(engine, options.lake, {asOf: options.asOf}))
  progress('Computing order features')
  await computeFeatures(engine)

  const matureBeforeMs = (await lastEventTimeMs(engine)) - labelDelayDays * DAY_MS
  // `chargeback` is the label: charged back, or (linkDays > 0) on the account or card of a charged-back order within
  // linkDays of it. The mature orders are split in time first; then come the links, each from a chargeback on the
  // same side of the split, so no validation-window chargeback labels an order the fit learns from.
  // Chargebacks of orders too young to learn from still link the validation window's orders.
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${LEARN_ORDERS} AS
     SELECT f.order_id, f.order_date, f.customer_id, f.card_fingerprint, epoch_ms(f.order_time)::DOUBLE AS t_ms,
            coalesce(o.chargeback, false) AS charged_back, coalesce(o.chargeback, false) AS chargeback,
            epoch_ms(f.order_time) < $1 AS mature
     FROM ${FEATURES_TABLE} f LEFT JOIN orders o USING (order_id)`,
    [matureBeforeMs],
  )
  const splitMs = await splitTime(engine, options.splitDate, validationShare)
  await engine.run(
    `UPDATE ${LEARN_ORDERS} SET chargeback = true WHERE order_id IN (
       -- Two equality joins rather than one on an OR, which DuckDB could only run as a nested loop.
       SELECT a.order_id FROM ${LEARN_ORDERS} a JOIN ${LEARN_ORDERS} b USING (customer_id)
       WHERE b.charged_back AND abs(a.t_ms - b.t_ms) <= $1 AND (a.t_ms < $2) = (b.t_ms < $2)
       UNION
       SELECT a.order_id FROM ${LEARN_ORDERS} a JOIN ${LEARN_ORDERS} b USING (card_fingerprint)
       WHERE b.charged_back AND abs(a.t_ms - b.t_ms) <= $1 AND (a.t_ms < $2) = (b.t_ms < $2))`,
    [linkDays * DAY_MS, Number.isFinite(splitMs) ? splitMs : Number.MAX_VALUE],
  )
  await engine.run(`DELETE FROM ${LEARN_ORDERS} WHERE NOT mature`)
  const fit = await windowSummary(engine, 't_ms < $1', splitMs)
  const validation = await windowSummary(engine, 't_ms >= $1', splitMs)
  const base: FraudLearnResult = {
    learned: false,
    skipped: null,
    labelDelayDays,
    matureBefore: new Date(matureBeforeMs).toISOString(),
    fit,
    validation,
    minChargebacks,
    l2,
    linkDays,
    prior,
    iterations: null,
    threshold: null,
    baseLogOdds: null,
    points: [],
    validationMetrics: null,
    validationMetricsLabels: null,
    rulesValidationMetrics: null,
    model: null,
  }
  if (fit.chargebacks < minChargebacks) {
    return {
      ...base,
      skipped: `The fit window holds ${fit.chargebacks} chargebacks, fewer than the ${minChargebacks} a fit needs: no model saved, the hand-set rules stay in use.`,
    }
  }
  if (validation.orders === 0) {
    throw new UsageError(
      'VALIDATION_WINDOW_EMPTY',
      `No mature order falls on or after the split date ${options.splitDate}.`,
      {
        hints: [`--split-date earlier than ${new Date(matureBeforeMs).toISOString().slice(0, 10)}`, '--label-delay 30'],
      },
    )
  }

  progress(`Fitting the points on ${fit.orders} orders (${fit.chargebacks} chargebacks)`)
  const rows = await engine.rows(
    // Only the features the rules read: the fit window can hold hundreds of thousands of orders.
    `SELECT ${[...new Set(FRAUD_RULES.map((r) => `f.${r.feature}`))].join(', ')}, l.chargeback
     FROM ${FEATURES_TABLE} f JOIN ${LEARN_ORDERS} l USING (order_id) WHERE l.t_ms < $1
     -- A fixed order: the fit's sums then run the same way each time, and the same lake gives the same model to the bit.
     ORDER BY l.t_ms, l.order_id`,
    [splitMs],
  )
  // Columns are generated from whatever FRAUD_RULES holds: one per (rule, step).
  const columns = FRAUD_RULES.flatMap((rule, r) => rule.steps.map((_, s) => ({r, s})))
  const columnOf = FRAUD_RULES.map((rule, r) =>
    rule.steps.map((_, s) => columns.findIndex((c) => c.r === r && c.s === s)),
  )
  const features = rows.map(featuresFromRow)
  const x = features.map((f) => {
    const row = new Float64Array(columns.length)
    for (const [r, rule] of FRAUD_RULES.entries()) {
      const s = stepIndex(rule, f)
      if (s >= 0) row[columnOf[r]?.[s] as number] = 1
    }
    return row
  })
  const y = rows.map((row) => (row.chargeback === true ? 1 : 0))
  // The hand-set points as the prior: a step the chargebacks say little about keeps about its hand-set weight.
  const priorPoints = columns.map(({r, s}) => FRAUD_RULES[r]?.steps[s]?.points as number)
  const fitted = fitLogistic(x, y, prior === 'rules' ? {l2, prior: priorPoints} : {l2})
  if (!fitted.converged) {
    return {
      ...base,
      skipped: `The fit did not converge in ${fitted.iterations} Newton steps: no model saved, the scoring model stays as it was.`,
    }
  }
  const scorecard: Scorecard = {
    baseLogOdds: fitted.intercept,
    rules: FRAUD_RULES.map((rule, r) => ({
      ...rule,
      steps: rule.steps.map((step, s) => ({
        at: step.at,
        points: fitted.coefficients[columnOf[r]?.[s] as number] as number,
      })),
    })),
  }
  const threshold = bestF1Threshold(
    features.map((f) => scoreOrder(f, scorecard).score),
    y,
  )

  progress(`Validating on ${validation.orders} later orders (${validation.chargebacks} chargebacks)`)
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${LEARN_CHARGEBACKS} AS
     SELECT order_id, 'chargeback' AS pattern, CAST(NULL AS VARCHAR) AS incident FROM ${LEARN_ORDERS} WHERE chargeback AND t_ms >= $1`,
    [splitMs],
  )
  await scoreValidation(engine, scorecard, splitMs)
  const validationMetrics = await computeMetrics(engine, LEARN_SCORES, {
    labels: 'chargebacks',
    labelsTable: LEARN_CHARGEBACKS,
    threshold,
    topKPerDay,
  })
  let validationMetricsLabels: FraudMetrics | null = null
  if (options.labels !== undefined) {
    await loadLabels(engine, options.labels)
    validationMetricsLabels = await computeMetrics(engine, LEARN_SCORES, {
      labels: options.labels,
      threshold,
      topKPerDay,
    })
  }
  await scoreValidation(engine, HAND_SCORECARD, splitMs)
  const rulesValidationMetrics = await computeMetrics(engine, LEARN_SCORES, {
    labels: 'chargebacks',
    labelsTable: LEARN_CHARGEBACKS,
    threshold: DEFAULT_THRESHOLD,
    topKPerDay,
  })

  progress('Saving models/fraud')
  const info: FraudModelInfo = {
    kind: 'fraud-model',
    createdAt: new Date().toISOString(),
    asOf: views.asOf,
    eventsVersion: views.eventsVersion,
    labelDelayDays,
    fit,
    validation,
    l2,
    linkDays,
    prior,
    iterations: fitted.iterations,
    threshold,
    validationMetrics,
    validationMetricsLabels,
    rulesValidationMetrics,
  }
  const model = await saveFraudModel(engine, options.lake, scorecard, info)
  return {
    ...base,
    learned: true,
    iterations: fitted.iterations,
    threshold,
    baseLogOdds: scorecard.baseLogOdds,
    points: scorecard.rules.flatMap((rule) =>
      rule.steps.map((s, step) => ({rule: rule.id, step, at: s.at, points: s.points})),
    ),
    validationMetrics,
    validationMetricsLabels,
    rulesValidationMetrics,
    model,
  }
}

/** The first instant of the validation window, in epoch ms. */
async function splitTime(engine: Engine, splitDate: string | undefined, validationShare: number): Promise<number> {
  if (splitDate !== undefined) {
    const ms = Date.parse(`${splitDate}T00:00:00Z`)
    if (!/^\d{4}-\d{2}-\d{2}$/.test(splitDate) || Number.isNaN(ms)) {
      throw new UsageError('SPLIT_DATE_INVALID', `--split-date must be a day (YYYY-MM-DD), not ${splitDate}.`, {
        hints: ['--split-date 2026-06-01'],
      })
    }
    return ms
  }
  const [count] = await engine.rows(`SELECT count(*)::INTEGER AS n FROM ${LEARN_ORDERS} WHERE mature`)
  const n = Number(count?.n)
  if (n === 0) return Number.POSITIVE_INFINITY
  // Orders of the same instant go to the same window, so the validation window is strictly later than the fit's.
  const [at] = await engine.rows(`SELECT t_ms FROM ${LEARN_ORDERS} WHERE mature ORDER BY t_ms LIMIT 1 OFFSET $1`, [
    Math.min(n - 1, Math.floor(n * (1 - validationShare))),
  ])
  return Number(at?.t_ms)
}

async function windowSummary(engine: Engine, where: string, splitMs: number): Promise<WindowSummary> {
  const [row] = await engine.rows(
    `SELECT count(*)::INTEGER AS orders, count(*) FILTER (chargeback)::INTEGER AS chargebacks,
            min(t_ms) AS first, max(t_ms) AS last
     FROM ${LEARN_ORDERS} WHERE ${where}`,
    [Number.isFinite(splitMs) ? splitMs : Number.MAX_VALUE],
  )
  const iso = (v: unknown) => (v === null || v === undefined ? '' : new Date(Number(v)).toISOString())
  return {from: iso(row?.first), to: iso(row?.last), orders: Number(row?.orders), chargebacks: Number(row?.chargebacks)}
}

/** Scores the validation window with a scorecard, as batch scoring does (scoreSql), into LEARN_SCORES. */
async function scoreValidation(engine: Engine, scorecard: Scorecard, splitMs: number): Promise<void> {
  const score = scoreSql(scorecard)
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${LEARN_SCORES} AS
     SELECT f.order_id, f.order_date, ${score.riskScoreOf(score.logOdds)} AS risk_score
     FROM ${FEATURES_TABLE} f JOIN ${LEARN_ORDERS} l USING (order_id) WHERE l.t_ms >= $1`,
    [splitMs],
  )
}

/**
 * The score threshold with the best F1 against the labels (flagging score >= threshold); ties go to the higher
 * threshold, which flags fewer orders.
 */
export function bestF1Threshold(scores: number[], labels: number[]): number {
  const positives = labels.reduce((a, b) => a + b, 0)
  const order = scores.map((_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number))
  let best = {f1: -1, threshold: DEFAULT_THRESHOLD}
  let tp = 0
  let flagged = 0
  for (let k = 0; k < order.length; ) {
    const score = scores[order[k] as number] as number
    // Orders of one score are flagged together.
    while (k < order.length && scores[order[k] as number] === score) {
      tp += labels[order[k] as number] as number
      flagged++
      k++
    }
    const f1 = positives > 0 ? (2 * tp) / (flagged + positives) : 0
    if (f1 > best.f1) best = {f1, threshold: score}
  }
  return best.threshold
}
