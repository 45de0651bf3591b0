import type {Engine} from '../../engine/engine.js'
import {UsageError} from '../../errors.js'
import {registerShopViews, type ShopViews} from '../../shop/views.js'
import {resultPath, saveResult} from '../store.js'
import {computeFeatures, FEATURES_TABLE, featuresFromRow} from './features.js'
import {type FraudLearnOptions, type FraudLearnResult, learnFraud} from './learn.js'
import {computeMetrics, type FraudMetrics, loadLabels} from './metrics.js'
import {type FraudModelChoice, fraudModelPath, loadScorecard, missingRules} from './model.js'
import {type Contribution, DEFAULT_THRESHOLD, scoreOrder, scoreSql} from './rules.js'

/** Name of the saved result: `<lake>/analytics/fraud`. */
export const FRAUD_RESULT = 'fraud'
const SCORES_TABLE = 'fraud_scores'

export interface FraudOptions {
  lake: string
  /** Shop views already registered in this engine (one snapshot shared by several analyses). */
  views?: ShopViews
  /** Last day of data to score (YYYY-MM-DD); default the day of the latest event. */
  asOf?: string
  /** Orders scoring at least this (0-100) are flagged; default the learned model's threshold, else the rules'. */
  threshold?: number
  /** The scorecard: the latest learned model when there is one (auto, the default), the hand-set rules, or learned. */
  model?: FraudModelChoice
  /** Ground-truth labels (NDJSON) to measure the scores against; never read by scoring. */
  labels?: string
  /** Alerts an investigation team checks per day, for the top-k precision. */
  topKPerDay?: number
  /** Flagged orders returned in the result (the saved table holds them all). */
  limit?: number
  onProgress?: (message: string) => void
  /** The engine's features table already holds the features of `views` (learnFraud computed them just before). */
  featuresReady?: boolean
}

export const FRAUD_DEFAULTS = {threshold: DEFAULT_THRESHOLD, topKPerDay: 10, limit: 20, model: 'auto'} as const

/** Which scorecard scored a run. */
export interface FraudModelUsed {
  kind: 'rules' | 'learned'
  /** The learned model's table and Delta version; null for the hand-set rules. */
  table: string | null
  version: number | null
  /** The threshold the model was saved with (null for the rules), whether or not --threshold overrode it. */
  threshold: number | null
  /** Rules of this ecap the learned model lacks (learned before they existed): they give no points until re-learned. */
  missingRules: string[]
}

export interface FlaggedOrder {
  orderId: string
  customerId: string | null
  orderTime: string
  total: number
  score: number
  /** Every rule that gave points, most first; the saved `reasons` column keeps the first three ids. */
  reasons: (Contribution & {label: string})[]
}

export interface FraudResult {
  analysis: 'fraud'
  lake: string
  asOf: string
  eventsVersion: number
  /** Copies of an event_id already seen that the shop views set aside (each event counted once). */
  duplicateEvents: number
  threshold: number
  model: FraudModelUsed
  orders: number
  flagged: number
  /** Orders by score band, to see how the scores spread. */
  scoreBands: {band: string; orders: number}[]
  /** How often each reason is among the top reasons of a flagged order. */
  reasonCounts: {reason: string; label: string; orders: number}[]
  /** The highest-scoring flagged orders, at most `limit`. */
  flaggedOrders: FlaggedOrder[]
  /** Only with `labels`. */
  metrics: FraudMetrics | null
  saved: {table: string; version: number; rows: number}
}

/**
 * Scores every order of the lake up to `asOf` for fraud: features from earlier events only (features.ts), a points
 * table turned into a 0-100 score with its top reasons (rules.ts), and metrics against labels when given. The
 * per-order scores are saved as `analytics/fraud`.
 */
export async function analyzeFraud(engine: Engine, options: FraudOptions): Promise<FraudResult> {
  const topKPerDay = options.topKPerDay ?? FRAUD_DEFAULTS.topKPerDay
  const limit = options.limit ?? FRAUD_DEFAULTS.limit
  const progress = options.onProgress ?? (() => {})
  const views = options.views ?? (await registerShopViews(engine, options.lake, {asOf: options.asOf}))
  const loaded = await loadScorecard(engine, options.lake, options.model ?? FRAUD_DEFAULTS.model)
  const scorecard = loaded.scorecard
  const model: FraudModelUsed = {
    kind: loaded.kind,
    table: loaded.kind === 'learned' ? fraudModelPath(options.lake) : null,
    version: loaded.version,
    threshold: loaded.threshold,
    missingRules: missingRules(loaded.scorecard),
  }
  const threshold = options.threshold ?? loaded.threshold ?? FRAUD_DEFAULTS.threshold
  if (!(threshold >= 0 && threshold <= 100)) {
    throw new UsageError('THRESHOLD_INVALID', `--threshold must be between 0 and 100, not ${threshold}.`, {
      hints: [`--threshold ${DEFAULT_THRESHOLD}`],
    })
  }
  if (!options.featuresReady) {
    progress('Computing order features')
    await computeFeatures(engine)
  }
  progress('Scoring orders')
  const score = scoreSql(scorecard)
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${SCORES_TABLE} AS
     SELECT * EXCLUDE (reasons), reasons, risk_score >= $1 AS flagged
     FROM (SELECT *, ${score.riskScoreOf('log_odds')} AS risk_score
           -- Levels, so the sum of points is computed once per order rather than for each column that uses it.
           FROM (SELECT *, ${score.logOdds} AS log_odds, ${score.reasons} AS reasons FROM ${FEATURES_TABLE}))`,
    [threshold],
  )
  // Scores are final here: labels, when given, are loaded only now and only for the metrics.
  const [counts] = await engine.rows(
    `SELECT count(*)::INTEGER AS orders, count(*) FILTER (flagged)::INTEGER AS flagged FROM ${SCORES_TABLE}`,
  )
  const bands = await engine.rows(
    `SELECT band, count(risk_score)::INTEGER AS orders
     FROM (VALUES (0, '0-10', 0, 10), (1, '10-30', 10, 30), (2, '30-50', 30, 50), (3, '50-70', 50, 70),
                  (4, '70-90', 70, 90), (5, '90-100', 90, 101)) b(i, band, lo, hi)
     LEFT JOIN ${SCORES_TABLE} ON risk_score >= lo AND risk_score < hi
     GROUP BY i, band ORDER BY i`,
  )
  const labelOf = new Map(scorecard.rules.map((r) => [r.id, r.label]))
  const reasonRows = await engine.rows(
    `SELECT reason, count(*)::INTEGER AS orders
     FROM (SELECT unnest(reasons) AS reason FROM ${SCORES_TABLE} WHERE flagged)
     GROUP BY reason ORDER BY orders DESC, reason`,
  )
  const top = await engine.rows(
    `SELECT * EXCLUDE (order_date, reasons), strftime(order_time, '%Y-%m-%dT%H:%M:%S.%gZ') AS order_time
     FROM ${SCORES_TABLE} WHERE flagged
     ORDER BY risk_score DESC, order_time, order_id LIMIT $1`,
    [limit],
  )
  const flaggedOrders = top.map((row): FlaggedOrder => {
    const explained = scoreOrder(featuresFromRow(row), scorecard)
    return {
      orderId: String(row.order_id),
      customerId: row.customer_id === null ? null : String(row.customer_id),
      orderTime: String(row.order_time),
      total: Number(row.total),
      score: Number(row.risk_score),
      reasons: explained.contributions.map((c) => ({...c, label: labelOf.get(c.reason) ?? c.reason})),
    }
  })

  let metrics: FraudMetrics | null = null
  if (options.labels !== undefined) {
    progress('Measuring against labels')
    await loadLabels(engine, options.labels)
    metrics = await computeMetrics(engine, SCORES_TABLE, {labels: options.labels, threshold, topKPerDay})
  }

  const orders = Number(counts?.orders)
  const flagged = Number(counts?.flagged)
  progress('Saving analytics/fraud')
  // The saved table holds the order, its features, score, reasons and whether this run's threshold flagged it.
  const saved = await saveResult(
    engine,
    options.lake,
    FRAUD_RESULT,
    `SELECT * EXCLUDE (log_odds) FROM ${SCORES_TABLE} ORDER BY order_time, order_id`,
    {
      analysis: 'fraud',
      parameters: {threshold, topKPerDay, labels: options.labels ?? null, model},
      asOf: views.asOf,
      eventsVersion: views.eventsVersion,
      duplicateEvents: views.duplicateEvents,
      ranAt: new Date().toISOString(),
      // The report tells from it whether the as-of day is over in the data (see kpi/changes.ts).
      summary: {orders, flagged, metrics, latestEventTime: views.latestEventTime},
    },
  )
  return {
    analysis: 'fraud',
    lake: options.lake,
    asOf: views.asOf,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    threshold,
    model,
    orders,
    flagged,
    scoreBands: bands.map((b) => ({band: String(b.band), orders: Number(b.orders)})),
    reasonCounts: reasonRows.map((r) => ({
      reason: String(r.reason),
      label: labelOf.get(String(r.reason)) ?? String(r.reason),
      orders: Number(r.orders),
    })),
    flaggedOrders,
    metrics,
    saved: {table: resultPath(options.lake, FRAUD_RESULT), version: saved.version, rows: saved.rows},
  }
}

/**
 * `ecap analyze fraud --learn`: learns a model from the chargebacks, then scores every order with the scorecard
 * `fraud.model` picks (by default the model just saved), on one snapshot of the shop views and one computation of the
 * features.
 */
export async function learnAndAnalyzeFraud(
  engine: Engine,
  learn: Omit<FraudLearnOptions, 'views'>,
  fraud: FraudOptions,
): Promise<{learn: FraudLearnResult; fraud: FraudResult}> {
  const views = fraud.views ?? (await registerShopViews(engine, fraud.lake, {asOf: fraud.asOf}))
  const learned = await learnFraud(engine, {...learn, views})
  return {learn: learned, fraud: await analyzeFraud(engine, {...fraud, views, featuresReady: true})}
}
