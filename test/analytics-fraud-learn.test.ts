import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {FEATURES_TABLE, featuresFromRow} from '../src/lib/analytics/fraud/features.js'
import {bestF1Threshold, learnFraud} from '../src/lib/analytics/fraud/learn.js'
import {fitLogistic} from '../src/lib/analytics/fraud/logistic.js'
import {
  type FraudModelInfo,
  fraudModelPath,
  loadScorecard,
  missingRules,
  saveFraudModel,
} from '../src/lib/analytics/fraud/model.js'
import {
  FRAUD_RULES,
  type FraudRule,
  HAND_SCORECARD,
  type Scorecard,
  scoreOrder,
} from '../src/lib/analytics/fraud/rules.js'
import {loadResult} from '../src/lib/analytics/store.js'
import {Engine} from '../src/lib/engine/engine.js'
import {appendEvents} from '../src/lib/lake/lake.js'
import {ecap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {ensurePythonTools, PYTHON} from './helpers/python.js'

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'fraud', 'logistic-fit.csv')

let dir: string
let engine: Engine

beforeAll(async () => {
  ensurePythonTools()
  dir = mkdtempSync(join(tmpdir(), 'ecap-fraud-learn-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

/** scikit-learn's fit of the fixture, as {intercept, coefficients}. */
function sklearnFit(l2: number): {intercept: number; coefficients: number[]} {
  const script = [
    'import json, sys',
    'import numpy as np',
    'from sklearn.linear_model import LogisticRegression',
    'data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)',
    'x, y = data[:, :-1], data[:, -1]',
    // Newton-Cholesky with a tolerance far below the comparison's, so the reference is the optimum itself.
    'm = LogisticRegression(C=1 / float(sys.argv[2]), solver="newton-cholesky", tol=1e-14, max_iter=1000).fit(x, y)',
    'print(json.dumps({"intercept": float(m.intercept_[0]), "coefficients": [float(c) for c in m.coef_[0]]}))',
  ].join('\n')
  return JSON.parse(execFileSync(PYTHON, ['-c', script, FIXTURE, String(l2)], {encoding: 'utf8'}))
}

function fixture(): {x: number[][]; y: number[]} {
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n').slice(1)
  const rows = lines.map((line) => line.split(',').map(Number))
  return {x: rows.map((r) => r.slice(0, -1)), y: rows.map((r) => r[r.length - 1] as number)}
}

describe('analytics-fraud-learn logistic regression', () => {
  for (const l2 of [1, 0.01, 10]) {
    it(`matches scikit-learn's LogisticRegression (C = ${1 / l2}) to 1e-6 on the fixture`, () => {
      const {x, y} = fixture()
      const ours = fitLogistic(x, y, {l2})
      const reference = sklearnFit(l2)
      expect(ours.converged).toBe(true)
      expect(Math.abs(ours.intercept - reference.intercept)).toBeLessThan(1e-6)
      expect(ours.coefficients).toHaveLength(reference.coefficients.length)
      for (const [i, c] of reference.coefficients.entries()) {
        expect(Math.abs((ours.coefficients[i] as number) - c), `coefficient ${i}`).toBeLessThan(1e-6)
      }
    })
  }
})

describe('analytics-fraud-learn logistic regression with a prior', () => {
  it('stops where numpy finds the penalised gradient zero, pulled toward the prior rather than toward zero', () => {
    const {x, y} = fixture()
    const prior = (x[0] as number[]).map((_, i) => (i % 2 === 0 ? 1.5 : -0.5))
    const l2 = 3
    const ours = fitLogistic(x, y, {l2, prior})
    expect(ours.converged).toBe(true)
    // The optimum of sum log(1 + e^z) - y z + l2/2 |w - prior|^2: its gradient, computed apart from the fit.
    const script = [
      'import json, sys',
      'import numpy as np',
      'data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)',
      'x, y = data[:, :-1], data[:, -1]',
      'fit = json.loads(sys.argv[2])',
      'w, b, m = np.array(fit["w"]), fit["b"], np.array(fit["prior"])',
      'p = 1 / (1 + np.exp(-(b + x @ w)))',
      'g = np.concatenate([[np.sum(p - y)], x.T @ (p - y) + fit["l2"] * (w - m)])',
      'print(json.dumps(float(np.max(np.abs(g)))))',
    ].join('\n')
    const payload = JSON.stringify({w: ours.coefficients, b: ours.intercept, prior, l2})
    const gradient = JSON.parse(execFileSync(PYTHON, ['-c', script, FIXTURE, payload], {encoding: 'utf8'}))
    expect(gradient).toBeLessThan(1e-7)
    // Without the prior the same penalty gives another answer; with a very strong one the prior itself.
    const ridge = fitLogistic(x, y, {l2})
    expect(
      Math.max(...ridge.coefficients.map((c, i) => Math.abs(c - (ours.coefficients[i] as number)))),
    ).toBeGreaterThan(0.01)
    const pinned = fitLogistic(x, y, {l2: 1e9, prior})
    for (const [i, c] of pinned.coefficients.entries()) expect(c).toBeCloseTo(prior[i] as number, 6)
  })
})

describe('analytics-fraud-learn threshold', () => {
  it('picks the score with the best F1, flagging tied scores together', () => {
    // >= 80: 2 of 2 flagged are fraud, 2 of 3 found (F1 0.8); >= 50 flags two legit orders more (0.57); >= 10 0.75.
    expect(bestF1Threshold([90, 80, 50, 50, 10, 5], [1, 1, 0, 0, 1, 0])).toBe(80)
    // >= 50: 3 of 4 flagged, all 3 found (F1 0.86), though one of the tied 50s is legit.
    expect(bestF1Threshold([90, 80, 50, 50, 10, 5], [1, 0, 1, 1, 0, 0])).toBe(50)
  })
})

/** Reads `<lake>/models/fraud` with delta-rs: version, rows, and the model description in the table's metadata. */
function modelWithDeltaRs(table: string): {
  version: number
  rows: number
  rules: string[]
  run: Record<string, unknown>
} {
  const script = [
    'import json, os, sys',
    'from deltalake import DeltaTable',
    't = DeltaTable(sys.argv[1])',
    'data = t.to_pyarrow_table()',
    'run = json.loads(t.metadata().configuration["ecap.run"])',
    'print(json.dumps({"version": t.version(), "rows": data.num_rows, "rules": sorted(set(data.column("rule_id").to_pylist())), "run": run}), flush=True)',
    'os._exit(0)',
  ].join('\n')
  return JSON.parse(execFileSync(PYTHON, ['-c', script, table], {encoding: 'utf8'}))
}

describe('ecap analyze fraud --learn', () => {
  it('keeps the rules with too few chargebacks, then learns, validates later, saves a model delta-rs reads and scores with it', async () => {
    const lake = join(dir, 'lake')
    const labels = join(dir, 'labels.ndjson')
    const generated = ecap(
      [
        'generate',
        '--to',
        'lake',
        '--lake',
        lake,
        '--fraud-rate',
        '0.03',
        '--days',
        '240',
        '--customers',
        '2000',
      ].concat(['--seed', '16', '--labels', labels, '--json', '-q']),
      {timeoutMs: 240_000},
    )
    expect(generated.status, generated.stderr).toBe(0)
    const table = fraudModelPath(lake)

    // Too few chargebacks for the minimum: exit 0, a warning, no model, the rules score.
    const few = ecap(['analyze', 'fraud', '--lake', lake, '--learn', '--min-chargebacks', '100000', '--json'])
    expect(few.status, few.stderr).toBe(0)
    const fewJson = JSON.parse(few.stdout)
    expect(fewJson.result.learn).toMatchObject({learned: false, model: null, threshold: null})
    expect(fewJson.result.learn.skipped).toMatch(/fewer than the 100000/)
    expect(fewJson.warnings.join('\n')).toMatch(/hand-set rules stay in use/)
    expect(fewJson.result.model).toEqual({kind: 'rules', table: null, version: null, threshold: null, missingRules: []})
    expect(fewJson.result.threshold).toBe(50)
    expect(existsSync(table)).toBe(false)

    const run = ecap(['analyze', 'fraud', '--lake', lake, '--learn', '--labels', labels, '--json'])
    expect(run.status, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout).result
    const learn = result.learn
    expect(learn.learned).toBe(true)
    expect(learn.fit.chargebacks).toBeGreaterThanOrEqual(30)
    expect(learn.validation.chargebacks).toBeGreaterThan(0)
    // The validation window starts strictly after the fit window ends, and both end before the label delay.
    expect(Date.parse(learn.validation.from)).toBeGreaterThan(Date.parse(learn.fit.to))
    expect(Date.parse(learn.validation.to)).toBeLessThan(Date.parse(learn.matureBefore))
    for (const m of [learn.validationMetrics, learn.rulesValidationMetrics, learn.validationMetricsLabels]) {
      expect(m.orders).toBe(learn.validation.orders)
      expect(m.prAuc).toBeGreaterThan(0)
      expect(m.rocAuc).toBeGreaterThan(0.5)
      expect(m.precision).not.toBeNull()
      expect(m.recall).not.toBeNull()
    }
    expect(learn.validationMetrics.fraudOrders).toBe(learn.validation.chargebacks)
    expect(learn.validationMetrics.threshold).toBe(learn.threshold)
    // Scoring used the model just saved, at its threshold.
    expect(result.model).toEqual({kind: 'learned', table, version: 0, threshold: learn.threshold, missingRules: []})
    expect(result.threshold).toBe(learn.threshold)

    const steps = FRAUD_RULES.reduce((n, rule) => n + rule.steps.length, 0)
    const saved = modelWithDeltaRs(table)
    expect(saved).toMatchObject({version: 0, rows: steps + 1})
    expect(saved.rules).toEqual(['(base)', ...FRAUD_RULES.map((r) => r.id)].sort())
    expect(saved.run).toMatchObject({
      kind: 'fraud-model',
      threshold: learn.threshold,
      fit: learn.fit,
      validation: learn.validation,
    })

    // Batch scores with the saved model are scoreOrder's with that model, score and reasons, on every order.
    const loaded = await loadScorecard(engine, lake, 'learned')
    expect(loaded.version).toBe(0)
    await loadResult(engine, lake, 'fraud', 'fraud')
    const rows = await engine.rows('SELECT * FROM fraud')
    expect(rows.length).toBe(result.orders)
    let positives = 0
    for (const row of rows) {
      const expected = scoreOrder(featuresFromRow(row), loaded.scorecard)
      expect(
        {score: Number(row.risk_score), reasons: (row.reasons as string[]).map(String)},
        String(row.order_id),
      ).toEqual({
        score: expected.score,
        reasons: expected.reasons,
      })
      positives += expected.reasons.length
    }
    expect(positives).toBeGreaterThan(0)
    expect(FEATURES_TABLE).toBe('fraud_features')

    // The report of the saved run says what scored it.
    const report = ecap(['report', 'fraud', '--lake', lake])
    expect(report.status, report.stderr).toBe(0)
    expect(report.stdout).toContain('Scored by the learned model (models/fraud version 0)')

    // Each --learn is a new version: the table's history is the models'. --model rules scores with the rules still.
    const again = ecap([
      'analyze',
      'fraud',
      '--lake',
      lake,
      '--learn',
      '--split-date',
      learn.validation.from.slice(0, 10),
      '--json',
    ])
    expect(again.status, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).result.model.version).toBe(1)
    expect(modelWithDeltaRs(table).version).toBe(1)
    const rules = ecap(['analyze', 'fraud', '--lake', lake, '--model', 'rules', '--json'])
    expect(rules.status, rules.stderr).toBe(0)
    expect(JSON.parse(rules.stdout).result).toMatchObject({model: {kind: 'rules', version: null}, threshold: 50})
  }, 300_000)
})

describe('analytics-fraud-learn labels', () => {
  it('learns as fraud the orders on the account or card of a charged-back order within --link-days, on its side of the split, no others', async () => {
    const day = 86_400_000
    const t0 = Date.UTC(2026, 0, 10, 12)
    let n = 0
    const order = (at: number, customer: string, card: string) => {
      const common = {customer_id: customer, session_id: `s-link-${++n}`, device: 'mobile' as const, ip_country: 'DE'}
      const orderId = `o-link-${n}`
      return {
        orderId,
        events: [
          makeEvent('page_view', {...common, event_time: new Date(at - 60_000).toISOString(), page: '/'}),
          makeEvent('purchase', {
            ...common,
            event_time: new Date(at).toISOString(),
            order_id: orderId,
            items: [{product_id: 'p00001', quantity: 1, unit_price: 30}],
            total: 30,
            card_fingerprint: card,
            billing_country: 'DE',
            shipping_country: 'DE',
          }),
        ],
      }
    }
    const bad = order(t0, 'c-bad', 'aaaaaaaaaaaaaa01')
    const sameCard = order(t0 + 3 * day, 'c-other', 'aaaaaaaaaaaaaa01')
    const sameAccount = order(t0 + 5 * day, 'c-bad', 'aaaaaaaaaaaaaa02')
    const tooLate = order(t0 + 10 * day, 'c-late', 'aaaaaaaaaaaaaa01')
    const unrelated = order(t0 + 1 * day, 'c-fine', 'aaaaaaaaaaaaaa03')
    const chargeback = makeEvent('refund', {
      customer_id: 'c-bad',
      session_id: 's-link-cb',
      device: 'desktop',
      ip_country: 'DE',
      event_time: new Date(t0 + 40 * day).toISOString(),
      order_id: bad.orderId,
      amount: 30,
      reason: 'chargeback',
    })
    // Something long after, so every order is mature (older than the 60-day label delay).
    const later = order(t0 + 120 * day, 'c-fine', 'aaaaaaaaaaaaaa03')
    const file = join(dir, 'links.ndjson')
    const events = [bad, sameCard, sameAccount, tooLate, unrelated, later].flatMap((o) => o.events)
    writeFileSync(file, `${[...events, chargeback].map((e) => JSON.stringify(e)).join('\n')}\n`)
    const lake = join(dir, 'links-lake')
    await appendEvents(engine, lake, file)
    // Every mature order in the fit window unless a split date says otherwise.
    const learnedAs = async (linkDays: number, splitDate = '2027-01-01') => {
      const result = await learnFraud(engine, {lake, linkDays, minChargebacks: 1000, splitDate})
      expect(result.learned).toBe(false)
      return result.fit.chargebacks + result.validation.chargebacks
    }
    // The charged-back order, the other customer's order on its card 3 days later and the account's order on
    // another card 5 days later; not the card's order 10 days later nor the unrelated one.
    expect(await learnedAs(7)).toBe(3)
    expect(await learnedAs(0)).toBe(1)
    expect(await learnedAs(12)).toBe(4)
    // Links never cross the split: with the validation window from day 2 on, the charged-back order (fit window)
    // labels none of the later ones.
    expect(await learnedAs(12, new Date(t0 + 2 * day).toISOString().slice(0, 10))).toBe(1)
  })
})

describe('analytics-fraud-learn model table', () => {
  it('refuses a saved model whose ids, comparisons or numbers could not be scored safely, naming the fix', async () => {
    const base = HAND_SCORECARD.rules[0] as FraudRule
    const tampered: [string, Scorecard][] = [
      ['a quote in a rule id', {baseLogOdds: -5, rules: [{...base, id: "x' || 1 || '"}]}],
      ['a comparison that is not one', {baseLogOdds: -5, rules: [{...base, op: '= 0 OR 1 >=' as FraudRule['op']}]}],
      ['points that are not a number', {baseLogOdds: -5, rules: [{...base, steps: [{at: 1, points: Number.NaN}]}]}],
      ['an infinite base', {baseLogOdds: Number.POSITIVE_INFINITY, rules: [base]}],
      // A null would read back as Number(null), a finite 0.
      ['null points', {baseLogOdds: -5, rules: [{...base, steps: [{at: 1, points: null as unknown as number}]}]}],
    ]
    for (const [what, scorecard] of tampered) {
      const lake = join(dir, `tampered-${tampered.findIndex(([w]) => w === what)}`)
      await saveFraudModel(engine, lake, scorecard, {} as FraudModelInfo)
      await expect(loadScorecard(engine, lake, 'auto'), what).rejects.toMatchObject({code: 'FRAUD_MODEL_INVALID'})
    }
    // A model learned before a rule existed loads, and names the rule it lacks (analyze fraud warns with it).
    const older = join(dir, 'model-without-card-ring')
    await saveFraudModel(
      engine,
      older,
      {baseLogOdds: -5, rules: HAND_SCORECARD.rules.filter((r) => r.id !== 'card_ring')},
      {} as FraudModelInfo,
    )
    expect(missingRules((await loadScorecard(engine, older, 'auto')).scorecard)).toEqual(['card_ring'])
    expect(missingRules(HAND_SCORECARD)).toEqual([])
    // The same rule untouched loads.
    const fine = join(dir, 'tampered-fine')
    await saveFraudModel(engine, fine, {baseLogOdds: -4, rules: [base]}, {} as FraudModelInfo)
    expect((await loadScorecard(engine, fine, 'auto')).scorecard).toMatchObject({
      baseLogOdds: -4,
      rules: [{id: base.id}],
    })
  })
})
