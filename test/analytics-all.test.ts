import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {AllResult} from '../src/lib/analytics/all.js'
import {loadResult} from '../src/lib/analytics/store.js'
import {Engine} from '../src/lib/engine/engine.js'
import {ecap as runEcap, startEcap, untilStderr} from './helpers/cli.js'

function ecap(args: string[]) {
  return runEcap(args, {timeoutMs: 180_000})
}

/** Every table `analyze all` saves, with the analysis that makes it. */
const RESULT_TABLES: [string, string][] = [
  ['rfm', 'rfm'],
  ['rfm_segments', 'rfm'],
  ['clv', 'clv'],
  ['fraud', 'fraud'],
  ['kpi_daily', 'kpi'],
  ['kpi_weekly', 'kpi'],
  ['funnel', 'funnel'],
  ['cohort', 'cohort'],
]

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-analyze-all-'))
})

afterAll(() => {
  rmSync(dir, {recursive: true, force: true})
})

describe('ecap analyze all', () => {
  it('runs every analysis on one snapshot and as-of day, and saves each result', async () => {
    const lake = join(dir, 'shop')
    const generated = ecap(['generate', '--to', 'lake', '--lake', lake, '--customers', '400', '--days', '60', '-q'])
    expect(generated.status, generated.stderr).toBe(0)
    const run = ecap(['analyze', 'all', '--lake', lake, '--as-of', '2026-02-20', '--json'])
    expect(run.status, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout).result as AllResult
    expect(result.runs.map((r) => [r.analysis, r.status])).toEqual(
      ['rfm', 'clv', 'fraud', 'kpi', 'funnel', 'cohort'].map((a) => [a, 'ok']),
    )
    expect(result.asOf).toBe('2026-02-20')
    const engine = await Engine.open()
    try {
      for (const [table, analysis] of RESULT_TABLES) {
        const saved = await loadResult(engine, lake, table, analysis)
        expect(saved, table).toMatchObject({analysis, asOf: '2026-02-20', eventsVersion: result.eventsVersion})
        const [row] = await engine.rows(`SELECT count(*)::INTEGER AS n FROM "${table}"`)
        expect(Number(row?.n), table).toBeGreaterThan(0)
      }
      // The cut holds for every analysis: nothing after the as-of day reached the KPIs.
      const [last] = await engine.rows('SELECT max(period)::VARCHAR AS day FROM kpi_daily')
      expect(last?.day).toBe('2026-02-20')
    } finally {
      engine.close()
    }
  })

  it('stops with exit 3 and writes nothing when the lake is empty or missing', () => {
    const lake = join(dir, 'missing')
    const run = ecap(['analyze', 'all', '--lake', lake, '--json'])
    expect(run.status).toBe(3)
    expect(JSON.parse(run.stdout).error).toMatchObject({code: 'LAKE_EMPTY'})
    expect(existsSync(join(lake, 'analytics'))).toBe(false)
  })

  it('saves the analyses that can run when one cannot, and exits with that one’s error', () => {
    // One day of trade: nobody has bought twice yet, so the CLV models have nothing to fit.
    const lake = join(dir, 'one-day')
    const generated = ecap(['generate', '--to', 'lake', '--lake', lake, '--customers', '300', '--days', '1', '-q'])
    expect(generated.status, generated.stderr).toBe(0)
    const run = ecap(['analyze', 'all', '--lake', lake])
    expect(run.status).toBe(3)
    expect(run.stderr).toMatch(/clv failed/)
    expect(run.stderr).toMatch(/ecap analyze clv/)
    for (const table of ['rfm', 'fraud', 'kpi_daily', 'funnel', 'cohort']) {
      expect(existsSync(join(lake, 'analytics', table, '_delta_log')), table).toBe(true)
    }
    expect(existsSync(join(lake, 'analytics', 'clv'))).toBe(false)
  })

  it('passes on what an analysis warns of: a week-old shop is too short for the CLV fits to pin down', () => {
    const lake = join(dir, 'one-week')
    const generated = ecap(['generate', '--to', 'lake', '--lake', lake, '--customers', '400', '--days', '7', '-q'])
    expect(generated.status, generated.stderr).toBe(0)
    const run = ecap(['analyze', 'all', '--lake', lake, '--json'])
    expect(run.status, run.stderr).toBe(0)
    const envelope = JSON.parse(run.stdout) as {warnings: string[]; result: AllResult}
    const clv = envelope.result.runs.find((r) => r.analysis === 'clv')
    expect(clv?.warnings.length).toBeGreaterThan(0)
    expect(envelope.warnings).toEqual(clv?.warnings.map((w) => `clv: ${w}`))
    expect(envelope.warnings[0]).toMatch(/does not pin down/)
  })

  it('stops at once on SIGTERM (a cron timeout) with exit 130, leaving the analyses it did not reach unsaved', async () => {
    // A shop big enough that the run lasts seconds: the signal, sent as the run starts, lands while it works.
    const lake = join(dir, 'interrupted')
    const generated = ecap(['generate', '--to', 'lake', '--lake', lake, '--customers', '6000', '--days', '120', '-q'])
    expect(generated.status, generated.stderr).toBe(0)
    const run = startEcap(['analyze', 'all', '--lake', lake], {cwd: dir, xdgHome: dir})
    await untilStderr(run, 'Analysing')
    run.child.kill('SIGTERM')
    const {code} = await run.exited
    expect(code, run.stderr()).toBe(130)
    expect(run.stderr()).toContain('INTERRUPTED')
    expect(run.stdout()).toBe('')
    // The last analysis is never reached; whatever was saved before the signal is whole (one commit per table).
    expect(existsSync(join(lake, 'analytics', 'cohort'))).toBe(false)
  }, 180_000)
})
