import type {FraudFeatureName, FraudFeatures} from './features.js'

/**
 * One line of the points table: when a feature passes a cut, the order earns points (log-odds of fraud). Steps are
 * tried in order and the first that matches wins, so list the strongest first. A null feature earns nothing.
 */
export interface FraudRule {
  /** Stable reason code, saved with each order and shown to investigators. */
  id: string
  feature: FraudFeatureName
  /** `>=`: the feature at or above `at` earns `points`; `<`: below `at`. Booleans count as 1 (true) or 0. */
  op: '>=' | '<'
  steps: readonly {at: number; points: number}[]
  /** What the reason means, for docs and terminal output. */
  label: string
}

/**
 * Log-odds of an order that earns no points: about 0.7 % risk, near the share of fraud a shop sees. Every point
 * adds one unit of log-odds (+0.7 doubles the odds, +2.3 multiplies them by ten).
 */
export const BASE_LOG_ODDS = -5

/** Orders scoring at least this (0-100) are flagged unless --threshold says otherwise. */
export const DEFAULT_THRESHOLD = 50

/** Reasons kept per order: the rules that gave it the most points. */
export const MAX_REASONS = 3

/**
 * The points table. Weights were set by hand from what each signal means to a fraud analyst and checked on
 * generated shops (seeds 1-3); docs/fraud.md explains each line. Velocity and card counts catch card testing,
 * amount and "new for this customer" signals catch account takeover, and amount against the shop plus country
 * signals catch large first orders shipped abroad.
 */
export const FRAUD_RULES: readonly FraudRule[] = [
  {
    id: 'customer_velocity',
    feature: 'customer_orders_1h',
    op: '>=',
    steps: [
      {at: 5, points: 3.5},
      {at: 3, points: 1.5},
      {at: 1, points: 0.5},
    ],
    label: 'other orders by this customer in the last hour',
  },
  {
    id: 'customer_burst',
    feature: 'customer_orders_10m',
    op: '>=',
    steps: [{at: 1, points: 0.5}],
    label: 'another order by this customer in the last 10 minutes',
  },
  {
    id: 'many_cards',
    feature: 'customer_cards_24h',
    op: '>=',
    steps: [
      {at: 4, points: 4},
      {at: 3, points: 2.5},
      {at: 2, points: 0.5},
    ],
    label: 'distinct cards used by this customer in 24 hours',
  },
  {
    id: 'new_card',
    feature: 'new_card',
    op: '>=',
    steps: [{at: 1, points: 0.3}],
    label: 'a returning customer pays with a card never used before',
  },
  {
    id: 'card_velocity',
    feature: 'card_orders_1h',
    op: '>=',
    steps: [
      {at: 4, points: 1},
      {at: 2, points: 0.3},
    ],
    label: 'other orders on this card in the last hour',
  },
  {
    id: 'shared_card',
    feature: 'card_other_customers_30d',
    op: '>=',
    steps: [
      {at: 2, points: 2},
      {at: 1, points: 0.5},
    ],
    label: 'the card was used by other customers in 30 days',
  },
  {
    id: 'card_ring',
    feature: 'card_new_accounts_7d',
    op: '>=',
    steps: [
      {at: 2, points: 5},
      {at: 1, points: 1.5},
    ],
    label: 'the card was used in the last week by other accounts under a week old',
  },
  {
    id: 'ip_country_surge',
    feature: 'ip_country_surge',
    op: '>=',
    steps: [{at: 3, points: 1}],
    label: "orders from this IP country in the last hour, against the country's usual rate",
  },
  {
    id: 'rare_ip_country',
    feature: 'ip_country_share_30d',
    op: '<',
    steps: [
      {at: 0.002, points: 2},
      {at: 0.005, points: 1.5},
    ],
    label: "the shop rarely sees orders from this IP country (share of 30 days' orders)",
  },
  {
    id: 'rare_shipping_country',
    feature: 'shipping_country_share_30d',
    op: '<',
    steps: [
      {at: 0.002, points: 2},
      {at: 0.005, points: 1.5},
    ],
    label: "the shop rarely ships to this country (share of 30 days' orders)",
  },
  {
    id: 'first_order',
    feature: 'customer_prior_orders',
    op: '<',
    steps: [{at: 1, points: 0.5}],
    label: "the customer's first order",
  },
  {
    id: 'young_account',
    feature: 'account_age_hours',
    op: '<',
    steps: [{at: 1, points: 0.3}],
    label: 'the account was first seen less than an hour ago',
  },
  {
    id: 'amount_vs_customer',
    feature: 'amount_vs_customer',
    op: '>=',
    steps: [
      {at: 6, points: 3},
      {at: 3, points: 2},
      {at: 2, points: 0.5},
    ],
    label: "order total against the customer's own mean order",
  },
  {
    id: 'amount_vs_shop',
    feature: 'amount_vs_shop',
    op: '>=',
    steps: [
      {at: 8, points: 2.5},
      {at: 4, points: 1.5},
      {at: 2.5, points: 0.5},
    ],
    label: "order total against the shop's mean order over 30 days",
  },
  {
    id: 'billing_shipping_mismatch',
    feature: 'billing_shipping_mismatch',
    op: '>=',
    steps: [{at: 1, points: 1.5}],
    label: 'billing and shipping countries differ',
  },
  {
    id: 'ip_billing_mismatch',
    feature: 'ip_billing_mismatch',
    op: '>=',
    steps: [{at: 1, points: 1.5}],
    label: 'the IP country is not the billing country',
  },
  {
    id: 'new_device',
    feature: 'new_device',
    op: '>=',
    steps: [{at: 1, points: 0.5}],
    label: 'a known customer on a kind of device never seen for them',
  },
  {
    id: 'new_ip_country',
    feature: 'new_ip_country',
    op: '>=',
    steps: [{at: 1, points: 1}],
    label: 'a known customer connecting from a country never seen for them',
  },
  {
    id: 'hurried_visit',
    feature: 'visit_seconds',
    op: '<',
    steps: [{at: 20, points: 1.5}],
    label: 'the order came seconds after the visit began',
  },
  {
    id: 'new_shipping_country',
    feature: 'new_shipping_country',
    op: '>=',
    steps: [{at: 1, points: 0.5}],
    label: 'a returning customer ships to a country never shipped to before',
  },
]

/**
 * A points table with its base: what scores orders. The hand-set one is HAND_SCORECARD; `ecap analyze fraud --learn`
 * fits one of the same shape from chargebacks (learn.ts), so a learned score keeps its reasons.
 */
export interface Scorecard {
  /** Log-odds of an order that earns no points. */
  baseLogOdds: number
  rules: readonly FraudRule[]
}

/** The hand-set points table. */
export const HAND_SCORECARD: Scorecard = {baseLogOdds: BASE_LOG_ODDS, rules: FRAUD_RULES}

/**
 * Index of the step a rule's first match picks for these features, or -1 when none does (a null or missing feature
 * matches nothing). Scoring and the learner's indicator features both go through here, so they cannot disagree.
 */
export function stepIndex(rule: FraudRule, features: Partial<FraudFeatures>): number {
  const raw = features[rule.feature]
  if (raw === null || raw === undefined) return -1
  const value = typeof raw === 'boolean' ? Number(raw) : raw
  return rule.steps.findIndex((s) => (rule.op === '>=' ? value >= s.at : value < s.at))
}

/** One rule's share of an order's score. */
export interface Contribution {
  reason: string
  feature: FraudFeatureName
  value: number | boolean
  points: number
}

export interface OrderScore {
  /** The scorecard's base plus every rule's points. */
  logOdds: number
  /** 0-100, one decimal: 100 / (1 + e^-logOdds). */
  score: number
  /** Rules that earned positive points, most points first (ties in table order); a learned step can take points off. */
  contributions: Contribution[]
  /** The ids of the first MAX_REASONS contributions. */
  reasons: string[]
}

/**
 * Scores one order from its features with the points table: the same rules the batch SQL applies (scoreSql), for
 * explaining a saved score or scoring one order from per-customer state as it arrives.
 */
export function scoreOrder(features: Partial<FraudFeatures>, scorecard: Scorecard = HAND_SCORECARD): OrderScore {
  const contributions: Contribution[] = []
  let logOdds = scorecard.baseLogOdds
  for (const rule of scorecard.rules) {
    const step = rule.steps[stepIndex(rule, features)]
    if (!step) continue
    // Added in table order, as the SQL sums them, so both give the same double.
    logOdds += step.points
    // Reasons say why an order looks risky: a step that lowers the risk is not one (scoreSql filters the same way).
    if (step.points > 0) {
      contributions.push({
        reason: rule.id,
        feature: rule.feature,
        value: features[rule.feature] as number | boolean,
        points: step.points,
      })
    }
  }
  // Stable sort: equal points keep table order, as the SQL's tie-break does.
  contributions.sort((a, b) => b.points - a.points)
  return {
    logOdds,
    score: roundScore(100 / (1 + Math.exp(-logOdds))),
    contributions,
    reasons: contributions.slice(0, MAX_REASONS).map((c) => c.reason),
  }
}

function roundScore(score: number): number {
  return Math.round(score * 10) / 10
}

/**
 * A number as a DOUBLE literal: a bare decimal literal is a DECIMAL in DuckDB, whose sum would not be the double that
 * scoreOrder adds up (learned points have 17 digits).
 */
function doubleSql(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`Scorecard value ${x} is not a finite number.`)
  return `CAST(${x} AS DOUBLE)`
}

/** SQL for the points one rule gives a row of the features table. */
function pointsSql(rule: FraudRule): string {
  const value = `CAST(${rule.feature} AS DOUBLE)`
  const cases = rule.steps.map((s) => `WHEN ${value} ${rule.op} ${s.at} THEN ${doubleSql(s.points)}`).join(' ')
  return `(CASE ${cases} ELSE CAST(0 AS DOUBLE) END)`
}

/**
 * SQL select-list items computing `log_odds`, `risk_score` and `reasons` from the feature columns, generated from
 * the same table as scoreOrder so batch and per-order scoring cannot drift apart. Into the text go only this module's
 * constants or a saved model's values, which loadScorecard (model.ts) admits only as plain ids, the two comparisons
 * and finite numbers; the user's threshold is bound as a parameter where it is used.
 */
export function scoreSql(scorecard: Scorecard = HAND_SCORECARD): {
  logOdds: string
  /** The risk score from a column (or expression) holding the log-odds. */
  riskScoreOf: (logOdds: string) => string
  reasons: string
} {
  const rules = scorecard.rules
  const logOdds = `(${doubleSql(scorecard.baseLogOdds)} + ${rules.map(pointsSql).join(' + ')})`
  // The negative table position breaks ties in a descending sort so earlier rules come first, as in scoreOrder.
  const items = rules.map((rule, i) => `{'points': ${pointsSql(rule)}, 'order': ${-i}, 'reason': '${rule.id}'}`)
  const reasons = `list_transform(list_slice(list_sort(list_filter([${items.join(', ')}], x -> x.points > 0), 'DESC'), 1, ${MAX_REASONS}), x -> x.reason)`
  return {
    logOdds,
    riskScoreOf: (x) => `round(100 / (1 + exp(-${x})), 1)`,
    reasons,
  }
}
