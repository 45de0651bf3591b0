import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {fitBgNbd} from '../src/lib/analytics/clv/bgnbd.js'
import type {CustomerSummary} from '../src/lib/analytics/clv/customer-summary.js'
import {fitGammaGamma} from '../src/lib/analytics/clv/gamma-gamma.js'
import {fitParetoNbd} from '../src/lib/analytics/clv/pareto-nbd.js'
import {runClv} from '../src/lib/analytics/clv/run.js'
import {hyp2f1, logHyp2f1} from '../src/lib/analytics/clv/special.js'
import {withEngine} from '../src/lib/engine/engine.js'
import {InterruptedError} from '../src/lib/errors.js'
import {Random} from '../src/lib/generate/random.js'
import {cdnowCalibrationSummary} from './helpers/cdnow.js'
import {ecap, startEcap, untilStderr} from './helpers/cli.js'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecap-clv-fit-'))
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

interface Population {
  /** Purchase rate per day ~ Gamma(r, alpha); drop-out rate per day ~ Gamma(s, beta) (Pareto/NBD). */
  r: number
  alpha: number
  s: number
  beta: number
}

/**
 * A seeded Pareto/NBD population over `days` days, customers joining uniformly over the first `joinDays`: each one's
 * purchase times (in days, continuous) up to their drop-out or the end.
 */
function simulate(seed: number, customers: number, days: number, joinDays: number, p: Population): number[][] {
  const random = new Random(seed)
  return Array.from({length: customers}, () => {
    const first = random.uniform() * joinDays
    const lambda = random.gamma(p.r, p.alpha)
    const dropOut = first + random.exponential(random.gamma(p.s, p.beta))
    const times = [first]
    for (let t = first + random.exponential(lambda); t < Math.min(dropOut, days); t += random.exponential(lambda)) {
      times.push(t)
    }
    return times
  })
}

/** Summaries in continuous time, with recency and T rounded to whole days (fewer distinct times: a faster fit). */
function summaries(histories: number[][], days: number): Pick<CustomerSummary, 'frequency' | 'recency' | 'T'>[] {
  return histories.map((times) => ({
    frequency: times.length - 1,
    recency: Math.round((times.at(-1) as number) - (times[0] as number)),
    T: Math.round(days - (times[0] as number)),
  }))
}

/** The histories as a CSV of transactions (customer_id, date, amount) from 2024-01-01. */
async function transactionsFile(name: string, histories: number[][], seed: number): Promise<string> {
  const random = new Random(seed)
  const start = Date.UTC(2024, 0, 1)
  const lines = ['customer_id,date,amount']
  histories.forEach((times, id) => {
    for (const t of times) {
      const date = new Date(start + Math.floor(t) * 86_400_000).toISOString().slice(0, 10)
      lines.push(`${id},${date},${(10 + 50 * random.uniform()).toFixed(2)}`)
    }
  })
  const path = join(dir, name)
  await writeFile(path, `${lines.join('\n')}\n`)
  return path
}

describe('2F1 for every z in [0, 1)', () => {
  it('matches closed forms up to z = 1 - 1e-10', () => {
    for (const z of [0, 0.3, 0.9, 0.95, 0.99, 0.999, 0.9999, 1 - 1e-6, 1 - 1e-10]) {
      // 2F1(a, b; b; z) = (1 - z)^-a, 2F1(1, 1; 2; z) = -ln(1 - z)/z.
      expect(logHyp2f1(2.5, 3.2, 3.2, z)).toBeCloseTo(-2.5 * Math.log1p(-z), 11)
      expect(logHyp2f1(0.7, 40.3, 40.3, z)).toBeCloseTo(-0.7 * Math.log1p(-z), 11)
      if (z > 0) expect(logHyp2f1(1, 1, 2, z)).toBeCloseTo(Math.log(-Math.log1p(-z) / z), 12)
    }
    expect(hyp2f1(1, 1, 2, 0.5)).toBeCloseTo(2 * Math.log(2), 14)
  })

  it('matches mpmath near z = 1, where the power series needs 37 / (1 - z) terms', () => {
    // mpmath.log(mpmath.hyp2f1(a, b, c, z)) at 40 digits. The Pareto/NBD takes 2F1(r+s+x, b; r+s+x+1; z); the last
    // rows have c - a - b = -2, a whole number (where the 1 - z connection formula has its special case).
    const reference: [number, number, number, number, number][] = [
      [0.8, 2.3, 2.8, 0.99, 2.375916750186269],
      [0.8, 2.3, 2.8, 0.999, 3.229721085362245],
      [0.8, 2.3, 2.8, 0.9999, 3.996994936617289],
      [1.9, 0.7, 2.9, 0.99, 1.2351955953536018],
      [1.9, 0.7, 2.9, 0.999, 1.4284745585213416],
      [1.9, 0.7, 2.9, 0.9999, 1.5179427243686383],
      [25.3, 24.6, 26.3, 0.99, 108.75082251686457],
      [25.3, 24.6, 26.3, 0.999, 163.0925070530138],
      [25.3, 24.6, 26.3, 0.9999, 217.43358294028428],
      [300.4, 1.6, 301.4, 0.99, 7.0053110441883115],
      [300.4, 1.6, 301.4, 0.999, 9.624789038266767],
      [300.4, 1.6, 301.4, 0.9999, 11.516487119254318],
      [0.25, 3.0, 1.25, 0.99, 7.149313491848348],
      [0.25, 3.0, 1.25, 0.999, 11.737831322357941],
      [0.25, 3.0, 1.25, 0.9999, 16.341414355730812],
    ]
    for (const [a, b, c, z, expected] of reference) {
      const relative = Math.abs(logHyp2f1(a, b, c, z) - expected) / Math.abs(expected)
      expect(relative, `ln 2F1(${a}, ${b}; ${c}; ${z})`).toBeLessThan(1e-13)
    }
  })
})

describe('Pareto/NBD where beta / alpha is large', () => {
  it('fits a population with beta / alpha = 600 (the 2F1 at z up to 0.998) and recovers it', async () => {
    const truth = {r: 0.6, alpha: 0.5, s: 1.2, beta: 300}
    const fit = await fitParetoNbd(summaries(simulate(1, 2000, 400, 200, truth), 400))
    expect(fit.parameters.beta / fit.parameters.alpha).toBeGreaterThan(500)
    expect(fit.poorlyDetermined).toEqual([])
    for (const name of ['r', 'alpha', 's', 'beta'] as const) {
      const se = fit.standardErrors[name] as number
      expect(Math.abs(fit.parameters[name] - truth[name]), `${name} = ${fit.parameters[name]} ± ${se}`).toBeLessThan(
        3 * se,
      )
    }
  })
})

describe('fits the data do not pin down', () => {
  // A shop 7 days old: few repeat purchases and no time to see anyone drop out.
  const shortShop = {r: 0.9, alpha: 10, s: 0.7, beta: 200}

  it('are reported with their parameters and what to do, as warnings in --json', async () => {
    const file = await transactionsFile('seven-days.csv', simulate(3, 5000, 7, 7, shortShop), 3)
    for (const model of ['bgnbd', 'pareto-nbd']) {
      const run = ecap(['analyze', 'clv', '--transactions', file, '--model', model, '--json'], {
        cwd: dir,
        xdgHome: dir,
        timeoutMs: 120_000,
      })
      expect(run.status, run.stderr + run.stdout).toBe(0)
      const envelope = JSON.parse(run.stdout)
      expect(envelope.result.purchaseModel.poorlyDetermined.length, model).toBeGreaterThan(0)
      const warning = (envelope.warnings as string[]).find((w) => w.startsWith(`The ${model} fit does not pin down`))
      expect(warning, JSON.stringify(envelope.warnings)).toBeDefined()
      for (const name of envelope.result.purchaseModel.poorlyDetermined) expect(warning).toContain(`${name} = `)
      expect(warning).toContain('longer history')
      expect(envelope.result.warnings).toEqual(envelope.warnings)
    }
  })

  it('are not reported on CDNOW, whose parameters are all pinned down', async () => {
    const customers = await cdnowCalibrationSummary()
    expect((await fitBgNbd(customers)).poorlyDetermined).toEqual([])
    expect((await fitParetoNbd(customers)).poorlyDetermined).toEqual([])
    expect((await fitGammaGamma(customers)).poorlyDetermined).toEqual([])
  })
})

describe('interrupting a fit', () => {
  const population = {r: 0.8, alpha: 40, s: 0.7, beta: 200}

  it('stops the fit with the signal’s reason', async () => {
    const reason = new InterruptedError('SIGINT')
    const customers = summaries(simulate(5, 500, 365, 300, population), 365)
    await expect(fitParetoNbd(customers, {signal: AbortSignal.abort(reason)})).rejects.toBe(reason)
    await expect(fitBgNbd(customers, {signal: AbortSignal.abort(reason)})).rejects.toBe(reason)
  })

  it('stops a fit in the middle: the abort can only land when the fit pauses for the event loop', async () => {
    // 100,000 customers over 1,000 days: a Pareto/NBD fit of seconds. A timer cannot fire while the fit computes, so
    // the abort lands at the fit's first pause; a fit that never paused would resolve instead.
    const reason = new InterruptedError('SIGINT')
    const customers = summaries(simulate(8, 100_000, 1000, 1000, population), 1000)
    const controller = new AbortController()
    const fit = fitParetoNbd(customers, {signal: controller.signal})
    setTimeout(() => controller.abort(reason), 0)
    await expect(fit).rejects.toBe(reason)
  }, 120_000)

  it('leaves the lake without a CLV result when the run is interrupted during the fit', async () => {
    const file = await transactionsFile('interrupted.csv', simulate(6, 2000, 365, 300, population), 6)
    const lake = join(dir, 'interrupted-lake')
    const controller = new AbortController()
    const reason = new InterruptedError('SIGTERM')
    const run = withEngine((engine) =>
      runClv(engine, {
        source: {kind: 'file', path: file, customerColumn: 'customer_id', dateColumn: 'date', amountColumn: 'amount'},
        timeUnit: 'day',
        horizonMonths: 12,
        discountRate: 0.01,
        model: 'pareto-nbd',
        top: 10,
        saveTo: lake,
        parameters: {},
        signal: controller.signal,
        onProgress: (stage) => {
          if (stage.startsWith('Fitting the pareto-nbd model')) controller.abort(reason)
        },
      }),
    )
    await expect(run).rejects.toBe(reason)
    expect(existsSync(join(lake, 'analytics', 'clv'))).toBe(false)
  })

  it('ecap analyze clv exits 130 on SIGINT in the middle of a fit and saves nothing', async () => {
    // 100,000 customers over 1,000 days: a Pareto/NBD fit of several seconds (tens of thousands of distinct
    // histories), so the signal, sent as the fit starts, arrives while it runs.
    const file = await transactionsFile('large.csv', simulate(7, 100_000, 1000, 1000, population), 7)
    const lake = join(dir, 'sigint-lake')
    const run = startEcap(['analyze', 'clv', '--transactions', file, '--lake', lake, '--model', 'pareto-nbd'], {
      cwd: dir,
      xdgHome: dir,
    })
    await untilStderr(run, 'Fitting the pareto-nbd model')
    run.child.kill('SIGINT')
    const {code} = await run.exited
    expect(code, run.stderr()).toBe(130)
    expect(run.stderr()).toContain('INTERRUPTED')
    expect(run.stdout()).toBe('')
    expect(existsSync(join(lake, 'analytics', 'clv'))).toBe(false)
  }, 120_000)
})
