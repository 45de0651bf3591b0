import type {Engine} from '../../engine/engine.js'
import {DataError} from '../../errors.js'
import {listCommitVersions} from '../../lake/delta-log.js'
import {childLocation, lakeLocation} from '../../lake/location.js'
import {RUN_PROPERTY, replaceTable} from '../../lake/result-table.js'
import {registerTableView} from '../../lake/views.js'
import {FEATURE_NAMES, type FraudFeatureName} from './features.js'
import type {FraudMetrics} from './metrics.js'
import {FRAUD_RULES, type FraudRule, HAND_SCORECARD, type Scorecard} from './rules.js'

/** Which scorecard scores: the latest learned model when there is one (auto), the hand-set rules, or a learned one. */
export type FraudModelChoice = 'auto' | 'rules' | 'learned'
export const FRAUD_MODEL_CHOICES: readonly FraudModelChoice[] = ['auto', 'rules', 'learned']

/** What a learned model's table records besides its points (the table's `ecap.run` property). */
export interface FraudModelInfo {
  kind: 'fraud-model'
  /** When --learn made it (ISO 8601). */
  createdAt: string
  asOf: string
  eventsVersion: number
  /** Orders placed before this (ISO) were too young for their chargebacks to have arrived, and were left out. */
  labelDelayDays: number
  fit: WindowSummary
  validation: WindowSummary
  /** The L2 penalty of the fit (scikit-learn's 1 / C). */
  l2: number
  /** Orders linked to a chargeback (same account or card) within this many days were learned as fraud too. */
  linkDays: number
  /** Where the penalty pulled the points: the hand-set rules' points or zero. */
  prior: 'rules' | 'none'
  iterations: number
  /** Chosen on the fit window (best F1 against chargebacks); a 0-100 score. */
  threshold: number
  /** The model's scores on the validation window against chargebacks (and against --labels when given). */
  validationMetrics: FraudMetrics
  validationMetricsLabels: FraudMetrics | null
  /** The hand-set rules on the same validation window, for comparison. */
  rulesValidationMetrics: FraudMetrics
}

export interface WindowSummary {
  /** First and last order time in the window (ISO). */
  from: string
  to: string
  orders: number
  chargebacks: number
}

/** The scorecard that scores a run, and where it came from. */
export interface LoadedScorecard {
  scorecard: Scorecard
  kind: 'rules' | 'learned'
  /** Delta version of <lake>/models/fraud; null for the hand rules. */
  version: number | null
  /** The learned model's threshold; null for the hand rules (they use DEFAULT_THRESHOLD). */
  threshold: number | null
  info: FraudModelInfo | null
}

const RULES: LoadedScorecard = {scorecard: HAND_SCORECARD, kind: 'rules', version: null, threshold: null, info: null}

/** The model table's location: `<lake>/models/fraud`; each --learn is a new version of it (its history is the models'). */
export function fraudModelPath(lake: string): string {
  return childLocation(lakeLocation(lake), 'models', 'fraud')
}

const ROWS_TABLE = 'fraud_model_rows'
/** Name of the model row holding the intercept (the base log-odds); every other row is one step of one rule. */
export const BASE_ROW = '(base)'

/**
 * Saves a learned scorecard as a new version of `<lake>/models/fraud`: one row per (rule, step) with its cut and
 * points, plus one row for the base log-odds, and the model's description in the table's metadata.
 */
export async function saveFraudModel(
  engine: Engine,
  lake: string,
  scorecard: Scorecard,
  info: FraudModelInfo,
): Promise<{version: number; rows: number; table: string}> {
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${ROWS_TABLE} (position INTEGER, rule_id VARCHAR, feature VARCHAR, op VARCHAR,
       step INTEGER, cut DOUBLE, points DOUBLE, label VARCHAR)`,
  )
  await engine.run(`INSERT INTO ${ROWS_TABLE} VALUES (0, $1, NULL, NULL, NULL, NULL, $2, 'base log-odds')`, [
    BASE_ROW,
    scorecard.baseLogOdds,
  ])
  let position = 1
  for (const rule of scorecard.rules) {
    for (const [step, s] of rule.steps.entries()) {
      await engine.run(`INSERT INTO ${ROWS_TABLE} VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
        position++,
        rule.id,
        rule.feature,
        rule.op,
        step,
        s.at,
        s.points,
        rule.label,
      ])
    }
  }
  const table = fraudModelPath(lake)
  const saved = await replaceTable(
    engine,
    table,
    `SELECT * FROM ${ROWS_TABLE} ORDER BY position`,
    info as unknown as Record<string, unknown>,
  )
  return {version: saved.version, rows: saved.rows, table}
}

/**
 * The scorecard to score with: `rules` the hand-set table; `learned` the latest saved model (a data error when there
 * is none); `auto` the latest saved model when there is one, else the rules.
 */
export async function loadScorecard(
  engine: Engine,
  lake: string,
  choice: FraudModelChoice = 'auto',
): Promise<LoadedScorecard> {
  if (choice === 'rules') return RULES
  const table = fraudModelPath(lake)
  if ((await listCommitVersions(table)).length === 0) {
    if (choice === 'auto') return RULES
    throw new DataError('FRAUD_MODEL_MISSING', `No learned fraud model in ${lake}.`, {
      hints: [`ecap analyze fraud --learn --lake ${lake}`, '--model rules'],
    })
  }
  // One snapshot for the points and their description, whatever --learn commits meanwhile.
  const snapshot = await registerTableView(engine, '__fraud_model', table)
  const info = JSON.parse(snapshot.metadata.configuration?.[RUN_PROPERTY] ?? '{}') as FraudModelInfo
  const rows = await engine.rows('SELECT * FROM __fraud_model ORDER BY position')
  const known = new Set<string>(FEATURE_NAMES)
  const labelOf = new Map(FRAUD_RULES.map((r) => [r.id, r.label]))
  let baseLogOdds: number | undefined
  const rules = new Map<
    string,
    {id: string; feature: FraudFeatureName; op: FraudRule['op']; label: string; steps: {at: number; points: number}[]}
  >()
  for (const row of rows) {
    if (row.rule_id === BASE_ROW) {
      baseLogOdds = numberOrNaN(row.points)
      continue
    }
    const id = String(row.rule_id)
    const feature = String(row.feature)
    if (!known.has(feature)) {
      // A model learned by another ecap whose features this one does not compute cannot score here.
      throw new DataError(
        'FRAUD_MODEL_STALE',
        `The fraud model in ${table} uses the feature ${feature}, which this ecap does not compute.`,
        {
          hints: [`ecap analyze fraud --learn --lake ${lake}`, '--model rules'],
        },
      )
    }
    // The points, cuts, ids and ops go into the scoring SQL as text: a model table edited by hand or damaged must not
    // put anything there but a plain id, one of the two comparisons and finite numbers.
    const op = String(row.op)
    const cut = numberOrNaN(row.cut)
    const points = numberOrNaN(row.points)
    if (
      !/^[a-z][a-z0-9_]{0,63}$/.test(id) ||
      (op !== '>=' && op !== '<') ||
      !Number.isFinite(cut) ||
      !Number.isFinite(points)
    ) {
      throw invalidModel(
        table,
        lake,
        `its row for ${JSON.stringify(id)} step ${String(row.step)} is not a valid rule step`,
      )
    }
    const rule = rules.get(id) ?? {
      id,
      feature: feature as FraudFeatureName,
      op,
      label: labelOf.get(id) ?? String(row.label),
      steps: [],
    }
    rule.steps.push({at: cut, points})
    rules.set(id, rule)
  }
  if (baseLogOdds === undefined || !Number.isFinite(baseLogOdds)) {
    throw invalidModel(table, lake, 'it has no finite base log-odds row')
  }
  return {
    scorecard: {baseLogOdds, rules: [...rules.values()]},
    kind: 'learned',
    version: snapshot.version,
    threshold: info.threshold,
    info,
  }
}

function invalidModel(table: string, lake: string, why: string): DataError {
  return new DataError('FRAUD_MODEL_INVALID', `The fraud model in ${table} cannot score: ${why}.`, {
    hints: [`ecap analyze fraud --learn --lake ${lake}`, '--model rules'],
  })
}

/** A model cell as a number; a null (a table written by another tool) is NaN, not Number(null)'s silent 0. */
function numberOrNaN(value: unknown): number {
  return value === null || value === undefined ? Number.NaN : Number(value)
}

/** Ids of the hand-set rules a scorecard lacks: for a learned model, the rules added since it was learned. */
export function missingRules(scorecard: Scorecard): string[] {
  const present = new Set(scorecard.rules.map((r) => r.id))
  return FRAUD_RULES.filter((r) => !present.has(r.id)).map((r) => r.id)
}
