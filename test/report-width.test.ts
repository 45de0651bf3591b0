import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {FraudReportData, KpiReportData} from '../src/lib/analytics/reports.js'
import type {SparklineBlock} from '../src/lib/report/document.js'
import {DEFAULT_COLUMNS, renderSparkline, resample} from '../src/lib/report/terminal-charts.js'
import {ecap} from './helpers/cli.js'

const SPARK_LINE = /^[▁▂▃▄▅▆▇█]+/

/** A seeded series with a trend and noise, so shape checks have something to find. */
function series(n: number, seed: number): number[] {
  let state = seed
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  return Array.from({length: n}, (_, i) => i + 50 * next())
}

describe('resample', () => {
  it('keeps a series that fits as it is', () => {
    const values = series(80, 1)
    expect(resample(values, 80)).toEqual(values)
    expect(resample(values, 200)).toEqual(values)
    expect(resample([], 10)).toEqual([])
  })

  it('averages runs that cover every point once, runs differing by at most one point', () => {
    for (const [n, width] of [
      [361, 80],
      [365, 120],
      [1000, 7],
      [81, 80],
      [5, 1],
    ] as const) {
      const values = series(n, n + width)
      const marks = resample(values, width)
      expect(marks).toHaveLength(width)
      // Rebuild each run's bounds the way a reader would: sizes floor(n/width) or that plus one, summing to n.
      const small = Math.floor(n / width)
      let start = 0
      let total = 0
      marks.forEach((mark, slot) => {
        const end = Math.floor(((slot + 1) * n) / width)
        expect([small, small + 1]).toContain(end - start)
        const run = values.slice(start, end)
        expect(mark).toBeCloseTo(run.reduce((a, b) => a + b, 0) / run.length, 9)
        total += mark * run.length
        start = end
      })
      expect(start).toBe(n)
      expect(total).toBeCloseTo(
        values.reduce((a, b) => a + b, 0),
        6,
      )
    }
  })

  it('keeps a rising series rising', () => {
    const rising = Array.from({length: 365}, (_, i) => i)
    const marks = resample(rising, 80)
    for (let i = 1; i < marks.length; i++) expect(marks[i]).toBeGreaterThan(marks[i - 1] as number)
  })
})

describe('renderSparkline within the terminal', () => {
  const block = (n: number): SparklineBlock => ({
    kind: 'sparkline',
    title: 'Flagged orders per day',
    format: 'int',
    points: series(n, 7).map((value, i) => ({label: `day ${i + 1}`, value})),
  })

  it.each([40, 80, 120])('a year of days fits %i columns, with the scale named', (columns) => {
    const text = renderSparkline(block(361), {color: false, columns})
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(columns)
    expect(text.match(SPARK_LINE_M)?.[0]).toHaveLength(columns)
    expect(text).toContain(`(361 points, ${(361 / columns).toFixed(1)} per mark)`)
    // The figures are of the data, not of the averaged marks.
    expect(text).toContain(`high ${Math.round(Math.max(...series(361, 7))).toLocaleString('en-US')}`)
  })

  it('draws a series that fits one mark per point, with no scale', () => {
    const text = renderSparkline(block(60), {color: false, columns: 120})
    expect(text.match(SPARK_LINE_M)?.[0]).toHaveLength(60)
    expect(text).not.toContain('per mark')
  })

  it('takes 80 columns where nothing says otherwise', () => {
    const text = renderSparkline(block(361), {color: false})
    expect(text.match(SPARK_LINE_M)?.[0]).toHaveLength(DEFAULT_COLUMNS)
  })
})

const SPARK_LINE_M = new RegExp(SPARK_LINE.source, 'm')

describe('ecap report on a year of data', () => {
  let root: string
  let lake: string

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ecap-report-width-'))
    lake = join(root, 'lake')
    const run = (args: string[]) => {
      const r = ecap(args, {timeoutMs: 120_000})
      if (r.status !== 0) throw new Error(`ecap ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
    }
    run(['generate', '--to', 'lake', '--lake', lake, '--customers', '150', '--days', '365', '--seed', '3', '-q'])
    run(['analyze', 'fraud', '--lake', lake, '-q'])
    run(['analyze', 'kpi', '--lake', lake, '-q'])
  }, 180_000)

  afterAll(() => {
    if (root) rmSync(root, {recursive: true, force: true})
  })

  /** The sparkline blocks of a terminal report: the line of marks and the lines around it. */
  function sparkLines(stdout: string): string[] {
    const lines = stdout.split('\n')
    const at = lines.findIndex((line) => SPARK_LINE.test(line))
    expect(at, stdout).toBeGreaterThan(0)
    return lines.slice(at - 1, at + 2)
  }

  it.each([
    ['fraud', undefined, 80],
    ['fraud', '120', 120],
    ['kpi', undefined, 80],
    ['kpi', '100', 100],
  ] as const)('report %s with COLUMNS=%s draws the days in %i columns', (name, columns, width) => {
    const r = ecap(['report', name, '--lake', lake], {env: {COLUMNS: columns ?? ''}})
    expect(r.status, r.stderr).toBe(0)
    const block = sparkLines(r.stdout)
    expect(block[1]?.match(SPARK_LINE)?.[0]).toHaveLength(width)
    for (const line of block) expect(line.length, line).toBeLessThanOrEqual(width)
    // Every day of the year but one the data ends inside, which the chart leaves out (kpi/changes.ts).
    const data = JSON.parse(ecap(['report', name, '--lake', lake, '--format', 'json']).stdout) as {
      daily: unknown[]
      incompleteDay: string | null
    }
    expect(data.daily).toHaveLength(365)
    expect(block[0]).toContain(`(${365 - (data.incompleteDay ? 1 : 0)} points`)
  })

  it('the fraud series has every day, those without orders as 0', () => {
    const fraud = JSON.parse(ecap(['report', 'fraud', '--lake', lake, '--format', 'json']).stdout) as FraudReportData
    const kpi = JSON.parse(ecap(['report', 'kpi', '--lake', lake, '--format', 'json']).stdout) as KpiReportData
    expect(fraud.daily).toHaveLength(365)
    expect(fraud.daily.map((d) => d.day)).toEqual(kpi.daily.map((d) => d.period))
    expect(fraud.daily.reduce((sum, d) => sum + d.orders, 0)).toBe(fraud.orders)
    expect(fraud.daily.some((d) => d.orders === 0)).toBe(true)
  })
})
