import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ClvCommandResult} from '../src/commands/analyze/clv.js'
import {loadResult} from '../src/lib/analytics/store.js'
import {withEngine} from '../src/lib/engine/engine.js'
import {ecap} from './helpers/cli.js'

/**
 * A generated shop with the simulator's defaults (seasonality, 1% fraud, 5% refunds): 5,000 customers over a year,
 * drawn from BG/NBD (r 0.9, alpha 30 per day, a 0.8, b 2.4) and Gamma-Gamma (p 6, q 4, gamma 25).
 */
let dir: string
let lake: string
let truth: {bgnbd: {r: number; alpha: number; a: number; b: number}; gamma_gamma: {p: number; q: number; gamma: number}}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecap-clv-shop-'))
  lake = join(dir, 'lake')
  const truthPath = join(dir, 'truth.json')
  const run = ecap(
    ['generate', '--to', 'lake', '--lake', lake, '--customers', '5000', '--days', '365', '--seed', '11'].concat([
      '--truth',
      truthPath,
    ]),
    {cwd: dir, xdgHome: dir, timeoutMs: 180_000},
  )
  expect(run.status, run.stderr).toBe(0)
  truth = JSON.parse(await readFile(truthPath, 'utf8'))
}, 200_000)

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

function clv(args: string[]): ClvCommandResult {
  const run = ecap(['analyze', 'clv', '--lake', lake, ...args, '--json'], {cwd: dir, xdgHome: dir, timeoutMs: 120_000})
  expect(run.status, run.stderr + run.stdout).toBe(0)
  return JSON.parse(run.stdout).result as ClvCommandResult
}

/**
 * Tolerance: the truth within three of the fit's own standard errors (a seeded draw of 5,000 customers misses by more
 * with probability about 0.3% per parameter if the fit is right) and within a relative band (20% for r and alpha,
 * 35% for a and b, which 5,000 customers over a year pin down less well), so a wrong standard error cannot widen it.
 */
function expectRecovered(name: string, estimate: number, se: number | null, true_: number, relative: number): void {
  expect(se, `${name} has a standard error`).not.toBeNull()
  expect(Math.abs(estimate - true_), `${name} = ${estimate} ± ${se} vs ${true_}`).toBeLessThan(3 * (se as number))
  expect(Math.abs(estimate / true_ - 1), `${name} = ${estimate} vs ${true_}`).toBeLessThan(relative)
}

describe('ecap analyze clv on a generated shop', () => {
  it('recovers the simulator’s BG/NBD and Gamma-Gamma parameters, in days', () => {
    const r = clv([])
    const p = r.purchaseModel.parameters as Record<string, number>
    const se = r.purchaseModel.standardErrors as Record<string, number | null>
    expectRecovered('r', p.r!, se.r!, truth.bgnbd.r, 0.2)
    expectRecovered('alpha', p.alpha!, se.alpha!, truth.bgnbd.alpha, 0.2)
    expectRecovered('a', p.a!, se.a!, truth.bgnbd.a, 0.35)
    expectRecovered('b', p.b!, se.b!, truth.bgnbd.b, 0.35)
    // Gamma-Gamma: the simulator fills each basket from catalogue prices towards a Gamma(p, ν) target, which adds
    // spread within a customer's orders, so p comes out low and v high (about 3.8 and 38 here) while what CLV uses,
    // the mean order value p·v/(q-1), and the spread between customers, q, are recovered. The simulator's own test
    // allows its mean order value 10% off p·gamma/(q-1); so does this one.
    const gg = r.spendModel.parameters
    const ggSe = r.spendModel.standardErrors
    const trueMean = (truth.gamma_gamma.p * truth.gamma_gamma.gamma) / (truth.gamma_gamma.q - 1)
    expect(Math.abs((gg.p * gg.v) / (gg.q - 1) / trueMean - 1)).toBeLessThan(0.1)
    expectRecovered('q', gg.q, ggSe.q, truth.gamma_gamma.q, 0.15)
    expect(r.saved).toBe(`${lake}/analytics/clv`)
  })

  it('gives the same model in weeks, with rates per week (alpha / 7)', () => {
    const days = clv([]).purchaseModel.parameters as Record<string, number>
    const weeks = clv(['--time-unit', 'week']).purchaseModel.parameters as Record<string, number>
    expect(weeks.alpha! / (days.alpha! / 7)).toBeCloseTo(1, 4)
    expect(weeks.r! / days.r!).toBeCloseTo(1, 4)
    expect(weeks.a! / days.a!).toBeCloseTo(1, 4)
    expect(weeks.b! / days.b!).toBeCloseTo(1, 4)
    expect(Math.abs(weeks.alpha! - truth.bgnbd.alpha / 7) / (truth.bgnbd.alpha / 7)).toBeLessThan(0.2)
  })

  it('saves a CLV for every customer, none negative, with the fitted models in the run summary', async () => {
    const r = clv(['--model', 'pareto-nbd'])
    await withEngine(async (engine) => {
      const run = await loadResult(engine, lake, 'clv', 'clv')
      const summary = run.summary as {purchaseModel: {model: string; parameters: Record<string, number>}}
      expect(summary.purchaseModel.model).toBe('pareto-nbd')
      expect(summary.purchaseModel.parameters.s).toBeGreaterThan(0)
      const [row] = await engine.rows(
        'SELECT count(*)::INTEGER AS n, min(clv) AS low, count(*) FILTER (WHERE isnan(clv))::INTEGER AS nan FROM clv',
      )
      expect(row).toMatchObject({n: r.customers.total, nan: 0})
      expect(Number(row?.low)).toBeGreaterThanOrEqual(0)
    })
  })

  it('predicts the repeat purchases of a 60-day holdout within 10%', () => {
    // The holdout total is a sum over 4,000+ customers (Poisson-like spread about 2% of ~2,700 purchases) plus the
    // parameters' own uncertainty; 10% is a band a correct model meets and a unit mix-up (days vs weeks) does not.
    const r = clv(['--holdout', '60'])
    const h = r.holdout!
    expect(h.days).toBe(60)
    expect(r.calibrationEnd < r.asOf).toBe(true)
    expect(h.actualRepeatPurchases).toBeGreaterThan(1000)
    expect(Math.abs(h.predictedRepeatPurchases / h.actualRepeatPurchases - 1)).toBeLessThan(0.1)
    // Customers who bought more often in calibration buy more in the holdout, as predicted.
    const buckets = h.byCalibrationFrequency
    expect(buckets.at(-1)!.predictedMean).toBeGreaterThan(buckets[1]!.predictedMean)
    expect(buckets.at(-1)!.actualMean).toBeGreaterThan(buckets[1]!.actualMean)
  })
})
