import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {SEGMENT_ACTIONS} from '../src/lib/analytics/rfm/actions.js'
import {computeRfm, RFM_CUSTOMERS_TABLE, RFM_RESULT, RFM_SEGMENTS_RESULT, runRfm} from '../src/lib/analytics/rfm/rfm.js'
import {
  cellName,
  DEFAULT_SEGMENT_MAP,
  parseSegmentMap,
  readSegmentMap,
  type SegmentMap,
  segmentCells,
  segmentOf,
  validateSegmentMap,
} from '../src/lib/analytics/rfm/segments.js'
import {loadResult} from '../src/lib/analytics/store.js'
import {type Engine, withEngine} from '../src/lib/engine/engine.js'
import {EcapError} from '../src/lib/errors.js'
import {registerShopViews} from '../src/lib/shop/views.js'
import {at, daysBefore, lakeOf, removeTempDirs, ShopBuilder, tempDir} from './helpers/analytics-shop.js'
import {ecap} from './helpers/cli.js'

afterAll(removeTempDirs)

/** Spawned CLIs share the machine with other test runs: allow them time rather than fail on a busy box. */
const SLOW = {timeoutMs: 180_000}

interface CustomerRow {
  customer_id: string
  recency_days: number
  frequency: number
  monetary: string
  r_score: number
  f_score: number
  m_score: number
  segment: string
}

async function customers(engine: Engine): Promise<Map<string, CustomerRow>> {
  const rows = (await engine.rows(`SELECT * FROM ${RFM_CUSTOMERS_TABLE}`)) as unknown as CustomerRow[]
  return new Map(rows.map((r) => [r.customer_id, r]))
}

async function rfmOf(lake: string, asOf: string, segments?: SegmentMap): Promise<Map<string, CustomerRow>> {
  return withEngine(async (engine) => {
    await registerShopViews(engine, lake, {asOf})
    await computeRfm(engine, {asOf, segments})
    return customers(engine)
  })
}

function expectRejected(run: () => unknown, code: string, ...fragments: string[]): void {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(EcapError)
    const e = error as EcapError
    expect(e.code).toBe(code)
    expect(e.exitCode).toBe(2)
    for (const fragment of fragments) expect(e.message).toContain(fragment)
    return
  }
  throw new Error(`expected ${code}`)
}

describe('the default segment map', () => {
  it('maps every one of the 25 R x F combinations to exactly one segment', () => {
    const cells = segmentCells(DEFAULT_SEGMENT_MAP)
    expect(cells).toHaveLength(25)
    for (let r = 1; r <= 5; r++) {
      for (let f = 1; f <= 5; f++) {
        expect(
          cells.filter((c) => c.r === r && c.f === f),
          cellName(r, f),
        ).toHaveLength(1)
      }
    }
    expect(() => validateSegmentMap(DEFAULT_SEGMENT_MAP)).not.toThrow()
  })

  it('has the ten classic segments, each reachable from at least one cell', () => {
    const names = DEFAULT_SEGMENT_MAP.segments.map((s) => s.name)
    expect(names).toEqual([
      'champions',
      'loyal customers',
      'potential loyalists',
      'new customers',
      'promising',
      'need attention',
      'about to sleep',
      'at risk',
      "can't lose them",
      'hibernating',
    ])
    const reached = new Set(segmentCells(DEFAULT_SEGMENT_MAP).map((c) => c.segment))
    expect([...reached].sort()).toEqual([...names].sort())
  })

  it('puts the best corner in champions and the worst in hibernating (5 is best)', () => {
    expect(segmentOf(DEFAULT_SEGMENT_MAP, 5, 5)).toBe('champions')
    expect(segmentOf(DEFAULT_SEGMENT_MAP, 5, 1)).toBe('new customers')
    expect(segmentOf(DEFAULT_SEGMENT_MAP, 1, 5)).toBe("can't lose them")
    expect(segmentOf(DEFAULT_SEGMENT_MAP, 1, 1)).toBe('hibernating')
  })

  it('is the table and the grid of docs/rfm.md', async () => {
    const docs = await readFile(new URL('../docs/rfm.md', import.meta.url), 'utf8')
    const tables = markdownTables(docs)
    const rules = tables.find((t) => t[0]?.join('|') === 'segment|R|F|description')
    expect(rules, 'the segment table of docs/rfm.md').toBeDefined()
    const range = (text: string) => {
      const [min, max = min] = text.split('-').map(Number)
      return {min, max}
    }
    const documented = (rules ?? []).slice(1).map(([name, r, f, description]) => ({
      name,
      description,
      rules: [{r: range(r as string), f: range(f as string)}],
    }))
    expect(documented).toEqual(DEFAULT_SEGMENT_MAP.segments)

    const grid = tables.find((t) => t[0]?.[0] === 'R \\ F')
    expect(grid).toBeDefined()
    for (const row of (grid ?? []).slice(1)) {
      const r = Number(row[0])
      for (let f = 1; f <= 5; f++) expect(row[f], cellName(r, f)).toBe(segmentOf(DEFAULT_SEGMENT_MAP, r, f))
    }
  })

  it('suggests for each segment the action docs/rfm.md lists, and for every segment of the map', async () => {
    const docs = await readFile(new URL('../docs/rfm.md', import.meta.url), 'utf8')
    const actions = markdownTables(docs).find((t) => t[0]?.join('|') === 'segment|suggested action')
    expect(actions, 'the action table of docs/rfm.md').toBeDefined()
    expect(Object.fromEntries((actions ?? []).slice(1))).toEqual(SEGMENT_ACTIONS)
    expect(Object.keys(SEGMENT_ACTIONS)).toEqual(DEFAULT_SEGMENT_MAP.segments.map((s) => s.name))
  })

  it('accepts the custom map example of docs/rfm.md', async () => {
    const docs = await readFile(new URL('../docs/rfm.md', import.meta.url), 'utf8')
    const example = /```json\n([\s\S]*?)```/.exec(docs)?.[1] as string
    const map = parseSegmentMap(JSON.parse(example), 'docs example')
    expect(() => validateSegmentMap(map)).not.toThrow()
    expect(segmentOf(map, 5, 5)).toBe('best')
  })
})

describe('a custom segment map', () => {
  const rect = (name: string, r: number | [number, number], f: number | [number, number]) => ({
    name,
    rules: [{r, f}],
  })

  it('is rejected when segments overlap, naming the cells and the segments', () => {
    const map = parseSegmentMap(
      {segments: [rect('recent', [3, 5], [1, 5]), rect('frequent', [1, 5], [5, 5]), rect('rest', [1, 2], [1, 4])]},
      'overlap.json',
    )
    expectRejected(
      () => validateSegmentMap(map),
      'SEGMENTS_INCOMPLETE',
      'overlap.json',
      'more than one segment covers R3F5 ("recent", "frequent"), R4F5 ("recent", "frequent"), R5F5 ("recent", "frequent")',
    )
  })

  it('is rejected when cells are left out, naming them', () => {
    const map = parseSegmentMap({segments: [rect('top', [4, 5], [1, 5]), rect('low', [1, 2], [1, 5])]}, 'gap.json')
    expectRejected(
      () => validateSegmentMap(map),
      'SEGMENTS_INCOMPLETE',
      'no segment covers R3F1, R3F2, R3F3, R3F4, R3F5',
    )
  })

  it('is rejected when it is not in the documented shape', () => {
    expectRejected(() => parseSegmentMap({segments: []}, 'x'), 'SEGMENTS_INVALID', '"segments"')
    expectRejected(
      () => parseSegmentMap({segments: [rect('a', 0, 1)]}, 'x'),
      'SEGMENTS_INVALID',
      'segments[0].rules[0].r',
    )
    expectRejected(() => parseSegmentMap({segments: [rect('a', [4, 2], 1)]}, 'x'), 'SEGMENTS_INVALID', '[min, max]')
    expectRejected(
      () => parseSegmentMap({segments: [rect('a', 1, 1), rect('a', 2, 1)]}, 'x'),
      'SEGMENTS_INVALID',
      'repeats the segment "a"',
    )
  })

  it('is read from a file, and a file that is not JSON is a usage error', async () => {
    const dir = await tempDir()
    const good = join(dir, 'good.json')
    await writeFile(good, JSON.stringify({segments: [rect('all', [1, 5], [1, 5])]}))
    expect((await readSegmentMap(good)).segments[0]?.name).toBe('all')
    const bad = join(dir, 'bad.json')
    await writeFile(bad, '{segments: oops')
    await expect(readSegmentMap(bad)).rejects.toMatchObject({code: 'SEGMENTS_INVALID', exitCode: 2})
  })
})

describe('scores on a hand-made lake with known answers', () => {
  const asOf = '2026-03-31'
  let lake: string

  beforeAll(async () => {
    const shop = new ShopBuilder()
    const item = (price: number) => [{product_id: 'p1', quantity: 1, unit_price: price}]
    // Three customers, each best on one measure: a shop of three, where ntile(5) would give the best a 3.
    const yesterday = {customer: 'recent', session: 'r1'}
    shop.purchase(yesterday, at(daysBefore(asOf, 1)), 'o-recent', item(20))
    for (let i = 0; i < 4; i++) {
      shop.purchase({customer: 'often', session: `f${i}`}, at(daysBefore(asOf, 10 + i)), `o-often-${i}`, item(5))
    }
    shop.purchase({customer: 'big', session: 'b1'}, at(daysBefore(asOf, 20)), 'o-big', item(500))
    // Refunds and orders after the as-of day are not seen; refunds up to it are.
    shop.refund('big', at(daysBefore(asOf, 15)), 'o-big', 100)
    shop.refund('big', at('2026-04-02'), 'o-big', 300)
    shop.purchase({customer: 'recent', session: 'r2'}, at('2026-04-01'), 'o-late', item(1000))
    shop.purchase({customer: 'later', session: 'l1'}, at('2026-04-03'), 'o-later', item(1))
    // Anonymous orders are not customers.
    shop.purchase({customer: null, session: 'anon'}, at(daysBefore(asOf, 2)), 'o-anon', item(9999))
    lake = await lakeOf(shop.events)
  })

  it('gives R=5 to the one who bought yesterday, F=5 to the most frequent, M=5 to the biggest spender', async () => {
    const rows = await rfmOf(lake, asOf)
    expect([...rows.keys()].sort()).toEqual(['big', 'often', 'recent'])
    const recent = rows.get('recent') as CustomerRow
    const often = rows.get('often') as CustomerRow
    const big = rows.get('big') as CustomerRow
    expect(recent).toMatchObject({recency_days: 1, frequency: 1, monetary: '20.00', r_score: 5})
    expect(often).toMatchObject({recency_days: 10, frequency: 4, monetary: '20.00', f_score: 5})
    expect(big).toMatchObject({recency_days: 20, frequency: 1, monetary: '400.00', m_score: 5})
    // Worst on each measure: rank 1 of 3 scores ceil(5/3) = 2, rank 2 scores 4.
    expect(big.r_score).toBe(2)
    expect(often.r_score).toBe(4)
    expect(often.m_score).toBeLessThan(5)
    expect(recent.segment).toBe(segmentOf(DEFAULT_SEGMENT_MAP, recent.r_score, recent.f_score))
  })

  it('sees what happened up to the as-of day only', async () => {
    const early = await rfmOf(lake, daysBefore(asOf, 16))
    // 16 days before: only 'big' has bought (20 days before), and its refund came a day later.
    expect([...early.keys()]).toEqual(['big'])
    expect(early.get('big')).toMatchObject({recency_days: 4, frequency: 1, monetary: '500.00'})
    const late = await rfmOf(lake, '2026-04-05')
    expect(late.get('big')?.monetary).toBe('100.00')
    expect(late.get('recent')).toMatchObject({frequency: 2, recency_days: 4, monetary: '1020.00'})
    expect(late.has('later')).toBe(true)
  })
})

describe('every R x F cell of a 25-customer shop', () => {
  const asOf = '2026-06-30'
  let lake: string
  /** Customer i*5+j: recency rank puts it in R=i+1, frequency rank in F=j+1. */
  const id = (i: number, j: number) => `c${i}${j}`

  beforeAll(async () => {
    const shop = new ShopBuilder()
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        const c = 5 * i + j
        const recency = 200 - 5 * c
        const orders = 1 + 5 * j + i
        for (let k = 0; k < orders; k++) {
          shop.purchase(
            {customer: id(i, j), session: `${id(i, j)}-${k}`},
            at(daysBefore(asOf, recency + k)),
            `o-${id(i, j)}-${k}`,
            [{product_id: 'p1', quantity: 1, unit_price: 10 + c}],
          )
        }
      }
    }
    lake = await lakeOf(shop.events)
  })

  it('scores each customer in its own cell and names its segment by the map', async () => {
    const rows = await rfmOf(lake, asOf)
    expect(rows.size).toBe(25)
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        const row = rows.get(id(i, j)) as CustomerRow
        expect([row.r_score, row.f_score], id(i, j)).toEqual([i + 1, j + 1])
        expect(row.segment).toBe(segmentOf(DEFAULT_SEGMENT_MAP, i + 1, j + 1))
      }
    }
  })

  it('reaches every segment, and the summary counts each segment’s cells', async () => {
    await withEngine(async (engine) => {
      const result = await runRfm(engine, {lake, asOf})
      const cellsPer = new Map<string, number>()
      for (const c of segmentCells(DEFAULT_SEGMENT_MAP)) cellsPer.set(c.segment, (cellsPer.get(c.segment) ?? 0) + 1)
      expect(result.segments.map((s) => [s.segment, s.customers])).toEqual(
        DEFAULT_SEGMENT_MAP.segments.map((s) => [s.name, cellsPer.get(s.name)]),
      )
      expect(result.segments.reduce((sum, s) => sum + s.revenueShare, 0)).toBeCloseTo(1, 9)
      expect(result.segments.find((s) => s.segment === 'champions')).toMatchObject({meanR: 5, meanF: 4.5})
      // Score bands: R=5 went to the fewest days since the last order.
      expect(result.scoreBands.r[4]?.recencyDays?.[1]).toBeLessThan(result.scoreBands.r[0]?.recencyDays?.[0] as number)
    })
  })

  it('applies a custom map', async () => {
    const map = parseSegmentMap(
      {
        segments: [
          {name: "l'été", rules: [{r: [4, 5], f: [1, 5]}]},
          {
            name: 'rest',
            rules: [
              {r: [1, 3], f: [1, 3]},
              {r: [1, 3], f: [4, 5]},
            ],
          },
        ],
      },
      'custom',
    )
    const rows = await rfmOf(lake, asOf, map)
    expect(rows.get(id(4, 0))?.segment).toBe("l'été")
    expect(rows.get(id(0, 4))?.segment).toBe('rest')
  })

  it('saves both tables with the run, loadable, and a rerun gives the same rows', async () => {
    const rowsOf = async () =>
      withEngine(async (engine) => {
        const run = await loadResult(engine, lake, RFM_RESULT, 'rfm')
        const segments = await loadResult(engine, lake, RFM_SEGMENTS_RESULT, 'rfm')
        expect(run).toMatchObject({analysis: 'rfm', asOf, eventsVersion: 0, parameters: {segments: 'default'}})
        expect(segments.asOf).toBe(asOf)
        return {
          customers: await engine.rows(`SELECT * FROM ${RFM_RESULT} ORDER BY customer_id`),
          segments: await engine.rows(`SELECT * FROM ${RFM_SEGMENTS_RESULT} ORDER BY segment_order`),
        }
      })
    await withEngine((engine) => runRfm(engine, {lake, asOf}))
    const first = await rowsOf()
    expect(first.customers).toHaveLength(25)
    expect(first.segments).toHaveLength(10)
    await withEngine((engine) => runRfm(engine, {lake, asOf}))
    expect(await rowsOf()).toEqual(first)
  })
})

describe('quintiles with heavy frequency ties', () => {
  it('stay balanced and keep the order of frequency', async () => {
    const shop = new ShopBuilder()
    const asOf = '2026-05-31'
    // 1000 customers: 700 with one order, 200 with two, 100 with three. Quintiles of 200 each.
    for (let c = 0; c < 1000; c++) {
      const orders = c < 700 ? 1 : c < 900 ? 2 : 3
      for (let k = 0; k < orders; k++) {
        shop.purchase({customer: `t${c}`, session: `t${c}-${k}`}, at(daysBefore(asOf, (c % 50) + k)), `o${c}-${k}`, [
          {product_id: 'p1', quantity: 1, unit_price: 10},
        ])
      }
    }
    const lake = await lakeOf(shop.events)
    const rows = [...(await rfmOf(lake, asOf)).values()]
    for (const score of ['r_score', 'f_score', 'm_score'] as const) {
      const sizes = [1, 2, 3, 4, 5].map((s) => rows.filter((r) => r[score] === s).length)
      expect(sizes, score).toEqual([200, 200, 200, 200, 200])
    }
    // More orders never score lower: the max F of one order is at most the min F of two, and so on.
    const fOf = (n: number) => rows.filter((r) => r.frequency === n).map((r) => r.f_score)
    expect(Math.max(...fOf(1))).toBeLessThanOrEqual(Math.min(...fOf(2)))
    expect(Math.max(...fOf(2))).toBeLessThanOrEqual(Math.min(...fOf(3)))
    expect(new Set(fOf(3))).toEqual(new Set([5]))
    expect(new Set(fOf(1))).toEqual(new Set([1, 2, 3, 4]))
  })
})

// Spawned CLIs on a busy machine may take a while; a slow box is not a failure.
describe('ecap analyze rfm (the CLI)', {timeout: 600_000}, () => {
  let lake: string
  let dir: string

  beforeAll(async () => {
    dir = await tempDir()
    const shop = new ShopBuilder()
    for (let c = 0; c < 10; c++) {
      shop.purchase({customer: `k${c}`, session: `k${c}`}, at(`2026-02-${String(c + 10).padStart(2, '0')}`), `ok${c}`, [
        {product_id: 'p1', quantity: 1, unit_price: 10 + c},
      ])
    }
    lake = await lakeOf(shop.events, dir)
  })

  it('prints the rfm report of the run, and the typed result with --json', () => {
    const human = ecap(['analyze', 'rfm', '--lake', lake, '--as-of', '2026-02-28'], SLOW)
    expect(human.status, human.stderr).toBe(0)
    expect(human.stdout).toContain('RFM segments')
    expect(human.stdout).toContain('10 customers as of 2026-02-28 (events version')
    expect(human.stdout).toContain('champions')
    // The same document as ecap report rfm, read from the result just saved.
    const report = ecap(['report', 'rfm', '--lake', lake], SLOW)
    expect(report.status, report.stderr).toBe(0)
    expect(human.stdout).toBe(report.stdout)
    expect(human.stderr).toContain(`Saved ${lake}/analytics/rfm and ${lake}/analytics/rfm_segments`)
    const json = ecap(['analyze', 'rfm', '--lake', lake, '--json'], SLOW)
    expect(json.status, json.stderr).toBe(0)
    const envelope = JSON.parse(json.stdout)
    expect(envelope).toMatchObject({
      status: 0,
      warnings: [],
      result: {analysis: 'rfm', asOf: '2026-02-19', customers: 10},
    })
    expect(envelope.result.segments).toHaveLength(10)
  })

  it('rejects a segment map with gaps with exit 2 and names the cells', async () => {
    const file = join(dir, 'gaps.json')
    await writeFile(file, JSON.stringify({segments: [{name: 'recent', rules: [{r: [3, 5], f: [1, 5]}]}]}))
    const result = ecap(['analyze', 'rfm', '--lake', lake, '--segments', file, '--json'], SLOW)
    expect(result.status).toBe(2)
    const envelope = JSON.parse(result.stdout)
    expect(envelope.error.code).toBe('SEGMENTS_INCOMPLETE')
    expect(envelope.error.message).toContain('no segment covers R1F1')
  })

  it('exits 3 on a lake without events', async () => {
    const result = ecap(['analyze', 'rfm', '--lake', join(dir, 'nothing-here')], SLOW)
    expect(result.status).toBe(3)
    expect(result.stderr).toContain('LAKE_EMPTY')
  })
})

/** The tables of a markdown text, each as rows of trimmed cells (the header first, the --- row left out). */
function markdownTables(text: string): string[][][] {
  const tables: string[][][] = []
  let current: string[][] | null = null
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      current = null
      continue
    }
    const cells = line
      .slice(1, line.endsWith('|') ? -1 : undefined)
      .split('|')
      .map((c) => c.trim())
    if (cells.every((c) => /^-+$/.test(c))) continue
    if (!current) {
      current = []
      tables.push(current)
    }
    current.push(cells)
  }
  return tables
}
