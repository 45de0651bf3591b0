import {existsSync} from 'node:fs'
import type {Engine} from '../../engine/engine.js'
import {sqlString} from '../../engine/sql.js'
import {DataError, UsageError} from '../../errors.js'

/** How the scores fare against ground truth: what an investigation team would see at this threshold and budget. */
export interface FraudMetrics {
  labels: string
  /** Labelled orders found among the scored ones (fraud orders in the period). */
  fraudOrders: number
  /** Labelled orders that are not in the scored period (after --as-of) or not in the lake; ignored. */
  labelsNotScored: number
  orders: number
  /** Share of scored orders that are fraud. */
  fraudRate: number
  threshold: number
  truePositives: number
  falsePositives: number
  falseNegatives: number
  /** Null when nothing was flagged (precision) or there is no fraud (recall). */
  precision: number | null
  recall: number | null
  f1: number | null
  /** Average precision: the area under the precision-recall curve, with tied scores taken as one step. */
  prAuc: number | null
  /** Chance that a random fraud order outscores a random legitimate one (ties count half). */
  rocAuc: number | null
  topKPerDay: TopKMetrics
  /**
   * Recall at the threshold for each fraud pattern the labels name; with `incident` ids in the labels also the
   * incidents (a ring, a burst, one account's slow fraud) of which at least one order was flagged: stopping the
   * incident is what a shop needs, and some first orders look like anyone's.
   */
  byPattern: {
    pattern: string
    orders: number
    caught: number
    recall: number
    incidents: number | null
    incidentsCaught: number | null
  }[]
}

export interface TopKMetrics {
  k: number
  /** Days with at least one order. */
  days: number
  /** Orders investigated: the k highest scores of each day (fewer on days with fewer orders). */
  alerts: number
  hits: number
  precision: number | null
  /** Share of all fraud orders found by investigating only those alerts. */
  recall: number | null
}

const LABELS_TABLE = 'fraud_labels'

/**
 * Loads ground-truth labels (NDJSON, one fraudulent order per line with `order_id` and optionally `pattern`, as
 * `ecap generate --labels` writes them) into a temp table. Scoring never reads this table.
 */
export async function loadLabels(engine: Engine, path: string): Promise<void> {
  if (!existsSync(path)) {
    throw new UsageError('LABELS_MISSING', `The labels file ${path} does not exist.`, {
      hints: ['ecap generate --to lake --labels fraud-labels.ndjson', '--labels fraud-labels.ndjson'],
    })
  }
  try {
    // A table function's path cannot be a parameter: it goes through the one quoting helper.
    await engine.run(`
      CREATE OR REPLACE TEMP TABLE ${LABELS_TABLE} AS
      SELECT order_id, any_value(pattern) AS pattern, any_value(incident) AS incident
      FROM read_json(${sqlString(path)}, format = 'newline_delimited',
                     columns = {order_id: 'VARCHAR', pattern: 'VARCHAR', incident: 'VARCHAR'})
      WHERE order_id IS NOT NULL
      GROUP BY order_id`)
  } catch (error) {
    throw new DataError('LABELS_INVALID', `Cannot read ${path} as NDJSON fraud labels: ${(error as Error).message}`, {
      cause: error,
      hints: ['One JSON object per line with an order_id, e.g. {"order_id":"o000000123","pattern":"card_testing"}'],
    })
  }
}

/**
 * Compares the scores in `scoresTable` (order_id, order_date, risk_score) with the labels loaded by loadLabels.
 * Everything is counted in SQL; orders not in the labels are legitimate.
 */
export async function computeMetrics(
  engine: Engine,
  scoresTable: string,
  options: {
    labels: string
    threshold: number
    topKPerDay: number
    /** A table of (order_id, pattern, incident) to take as the fraud orders instead of the loaded labels (--learn: chargebacks). */
    labelsTable?: string
  },
): Promise<FraudMetrics> {
  const labelsTable = options.labelsTable ?? LABELS_TABLE
  const scored = `
    SELECT s.order_id, s.order_date, s.risk_score, l.order_id IS NOT NULL AS fraud, l.pattern, l.incident
    FROM ${scoresTable} s LEFT JOIN ${labelsTable} l USING (order_id)`
  const [counts] = await engine.rows(
    `SELECT count(*)::INTEGER AS orders,
            count(*) FILTER (fraud)::INTEGER AS frauds,
            count(*) FILTER (fraud AND risk_score >= $1)::INTEGER AS tp,
            count(*) FILTER (NOT fraud AND risk_score >= $1)::INTEGER AS fp,
            (SELECT count(*) FROM ${labelsTable})::INTEGER AS labels
     FROM (${scored})`,
    [options.threshold],
  )
  const orders = Number(counts?.orders)
  const frauds = Number(counts?.frauds)
  const tp = Number(counts?.tp)
  const fp = Number(counts?.fp)
  const fn = frauds - tp
  const legit = orders - frauds
  // One step of the curves per distinct score: tied orders are flagged or not together, so no order among
  // them can be ranked first.
  const [curves] = await engine.rows(
    `WITH steps AS (
       SELECT risk_score, count(*) FILTER (fraud) AS tp_at, count(*) FILTER (NOT fraud) AS fp_at
       FROM (${scored}) GROUP BY risk_score
     ), cumulative AS (
       SELECT tp_at, fp_at, sum(tp_at) OVER (ORDER BY risk_score DESC) AS tp, sum(fp_at) OVER (ORDER BY risk_score DESC) AS fp
       FROM steps
     )
     SELECT sum(tp_at / $1 * tp / (tp + fp))::DOUBLE AS ap,
            sum(tp_at * ($2 - fp + 0.5 * fp_at))::DOUBLE / ($1 * $2) AS auc
     FROM cumulative`,
    [Math.max(frauds, 1), Math.max(legit, 1)],
  )
  const [topK] = await engine.rows(
    `SELECT count(*)::INTEGER AS alerts, count(*) FILTER (fraud)::INTEGER AS hits,
            (SELECT count(DISTINCT order_date) FROM ${scoresTable})::INTEGER AS days
     FROM (SELECT fraud, row_number() OVER (PARTITION BY order_date ORDER BY risk_score DESC, order_id) AS rank
           FROM (${scored}))
     WHERE rank <= $1`,
    [options.topKPerDay],
  )
  const patterns = await engine.rows(
    `SELECT coalesce(pattern, 'unknown') AS pattern, count(*)::INTEGER AS orders,
            count(*) FILTER (risk_score >= $1)::INTEGER AS caught,
            CASE WHEN count(incident) > 0 THEN count(DISTINCT incident)::INTEGER END AS incidents,
            CASE WHEN count(incident) > 0 THEN count(DISTINCT incident) FILTER (risk_score >= $1)::INTEGER END
              AS incidents_caught
     FROM (${scored}) WHERE fraud GROUP BY ALL ORDER BY pattern`,
    [options.threshold],
  )
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null)
  const precision = ratio(tp, tp + fp)
  const recall = ratio(tp, frauds)
  const alerts = Number(topK?.alerts)
  const hits = Number(topK?.hits)
  return {
    labels: options.labels,
    fraudOrders: frauds,
    labelsNotScored: Number(counts?.labels) - frauds,
    orders,
    fraudRate: ratio(frauds, orders) ?? 0,
    threshold: options.threshold,
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    precision,
    recall,
    f1:
      precision !== null && recall !== null && precision + recall > 0
        ? (2 * precision * recall) / (precision + recall)
        : null,
    prAuc: frauds > 0 ? Number(curves?.ap) : null,
    rocAuc: frauds > 0 && legit > 0 ? Number(curves?.auc) : null,
    topKPerDay: {
      k: options.topKPerDay,
      days: Number(topK?.days),
      alerts,
      hits,
      precision: ratio(hits, alerts),
      recall: ratio(hits, frauds),
    },
    byPattern: patterns.map((p) => ({
      pattern: String(p.pattern),
      orders: Number(p.orders),
      caught: Number(p.caught),
      recall: Number(p.caught) / Number(p.orders),
      incidents: p.incidents === null ? null : Number(p.incidents),
      incidentsCaught: p.incidents_caught === null ? null : Number(p.incidents_caught),
    })),
  }
}
