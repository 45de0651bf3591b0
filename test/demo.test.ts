import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ANALYSES} from '../src/lib/analytics/all.js'
import type {DemoResult} from '../src/lib/setup/demo.js'
import {ecap} from './helpers/cli.js'

const BUILT_COMMAND = fileURLToPath(new URL('../dist/commands/demo.js', import.meta.url))
/** Nothing listens here: a demo that tried Kafka would fail. */
const NO_KAFKA = {ECAP_BROKERS: '127.0.0.1:1'}

let root: string
let cwd: string
let xdgHome: string
let first: ReturnType<typeof ecap>

beforeAll(async () => {
  expect(existsSync(BUILT_COMMAND), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
  root = await mkdtemp(join(tmpdir(), 'ecap-demo-'))
  cwd = join(root, 'work')
  xdgHome = join(root, 'xdg')
  await mkdir(cwd)
  await mkdir(xdgHome)
  first = ecap(['demo', '--customers', '300', '--days', '45'], {cwd, xdgHome, env: NO_KAFKA, timeoutMs: 120_000})
}, 180_000)

afterAll(async () => {
  await rm(root, {recursive: true, force: true})
})

function run(args: string[], env: NodeJS.ProcessEnv = {}, dir = cwd) {
  return ecap(args, {cwd: dir, xdgHome, env: {...NO_KAFKA, ...env}, timeoutMs: 120_000})
}

describe('ecap demo', () => {
  it('generates a shop into ./ecap-demo/lake, analyses it and names the lake, the report and what to try next', () => {
    expect(first.stderr).not.toContain('Error')
    expect(first.status).toBe(0)
    const lake = join(cwd, 'ecap-demo', 'lake')
    const report = join(cwd, 'ecap-demo', 'report.html')
    expect(first.stdout).toContain('Shop summary')
    expect(first.stdout).toContain(`Lake:   ${lake}`)
    expect(first.stdout).toContain(`Report: ${report}`)
    expect(first.stdout).toContain('Try next:')
    expect(first.stdout).toContain('ecap report rfm --lake ./ecap-demo/lake')
  })

  it('leaves a lake with the events and every analysis result, readable by ecap lake status', () => {
    const status = run(['lake', 'status', '--lake', './ecap-demo/lake', '--json'])
    expect(status.status).toBe(0)
    const tables = JSON.parse(status.stdout).result.tables as {name: string; rows: number}[]
    const names = tables.map((t) => t.name)
    expect(tables.find((t) => t.name === 'events')?.rows).toBeGreaterThan(1000)
    for (const analysis of ANALYSES) expect(names.some((name) => name.startsWith(`analytics/${analysis}`))).toBe(true)
  })

  it('writes a self-contained HTML summary report', async () => {
    const html = await readFile(join(cwd, 'ecap-demo', 'report.html'), 'utf8')
    expect(html).toMatch(/^<!doctype html>/i)
    expect(html).toContain('<svg')
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/i)
  })

  it('suggests commands that work as printed', () => {
    const result = JSON.parse(run(['demo', '--json', '--force', '--customers', '300', '--days', '45']).stdout)
      .result as DemoResult
    expect(result.next.length).toBeGreaterThanOrEqual(3)
    expect(result.next.map((s) => s.argv[0])).toEqual(['report', 'report', 'query', 'report'])
    for (const step of result.next) {
      const next = run(step.argv)
      expect(next.status, `ecap ${step.argv.join(' ')}\n${next.stderr}`).toBe(0)
      expect(next.stdout.length + next.stderr.length).toBeGreaterThan(0)
    }
  })

  it('gives the paths and figures under --json, and the same shop for the same seed', () => {
    const a = run(['demo', '--json', '--force', '--customers', '300', '--days', '45', '--seed', '9'])
    expect(a.status).toBe(0)
    const envelope = JSON.parse(a.stdout) as {status: number; result: DemoResult}
    expect(envelope.status).toBe(0)
    const r = envelope.result
    expect(r.lake).toBe(join(cwd, 'ecap-demo', 'lake'))
    expect(r.report).toBe(join(cwd, 'ecap-demo', 'report.html'))
    expect(r.shop).toMatchObject({seed: 9, lakeVersion: 0, currency: 'EUR'})
    expect(r.shop.events).toBeGreaterThan(1000)
    expect(r.shop.orders).toBeGreaterThan(0)
    expect(r.analyses.map((x) => x.analysis)).toEqual([...ANALYSES])
    expect(r.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    const b = JSON.parse(run(['demo', '--json', '--force', '--customers', '300', '--days', '45', '--seed', '9']).stdout)
      .result as DemoResult
    expect(b.shop).toEqual(r.shop)
    expect(b.analyses.map((x) => x.summary)).toEqual(r.analyses.map((x) => x.summary))
  })

  it('exits 2 on a lake that holds data, without touching it, unless --force', () => {
    const again = run(['demo'])
    expect(again.status).toBe(2)
    expect(again.stderr).toContain('DEMO_LAKE_NOT_EMPTY')
    expect(again.stderr).toContain('--force')
    expect(run(['lake', 'status', '--lake', './ecap-demo/lake']).status).toBe(0)
  })

  it('refuses to delete a folder that is not an ecap lake, even with --force', async () => {
    const home = join(root, 'not-a-lake')
    await mkdir(home)
    await writeFile(join(home, 'thesis.tex'), 'precious')
    const forced = run(['demo', '--force', '--lake', home])
    expect(forced.status).toBe(2)
    expect(forced.stderr).toContain('DEMO_LAKE_FOREIGN')
    expect(await readFile(join(home, 'thesis.tex'), 'utf8')).toBe('precious')
  })

  it('uses the configured lake, and then suggests commands without --lake', async () => {
    const dir = join(root, 'configured')
    await mkdir(dir)
    await writeFile(join(dir, 'ecap.config.json'), JSON.stringify({lake: './shop-lake'}))
    const demo = run(['demo', '--json', '--customers', '200', '--days', '30'], {}, dir)
    expect(demo.status).toBe(0)
    const result = JSON.parse(demo.stdout).result as DemoResult
    expect(result.lake).toBe(join(dir, 'shop-lake'))
    expect(result.next.flatMap((s) => s.argv)).not.toContain('--lake')
    expect(run(result.next[0]?.argv ?? [], {}, dir).status).toBe(0)
  })
})
