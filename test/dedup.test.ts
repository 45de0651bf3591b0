import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type AllResult, analyzeAll} from '../src/lib/analytics/all.js'
import {runReport} from '../src/lib/analytics/reports.js'
import {runRfm} from '../src/lib/analytics/rfm/rfm.js'
import {ANALYTICS_DIR} from '../src/lib/analytics/store.js'
import {Engine, withEngine} from '../src/lib/engine/engine.js'
import {sqlString} from '../src/lib/engine/sql.js'
import {exportTable} from '../src/lib/export/export.js'
import {runQuery} from '../src/lib/export/query.js'
import {appendEvents} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {registerShopViews} from '../src/lib/shop/views.js'
import {ecap} from './helpers/cli.js'
import {shopNdjson} from './helpers/lake.js'

interface Event {
  event_id: string
  event_time: string
  session_id: string
  [field: string]: unknown
}

let dir: string
let clean: string
let duplicated: string
let asOf: string
/** Rows the duplicated lake holds beyond the clean one: the copies, plus a second full copy of the shop. */
let extraRows: number
/** The same up to the cut at `asOf` (copies stamped later are not seen). */
let extraRowsToCut: number
/** An event whose copy at the same time differs only in a later column, and the session_id each copy has. */
let tie: {eventId: string; kept: string; setAside: string}

function shifted(time: string, days: number): string {
  return new Date(Date.parse(time) + days * 86_400_000).toISOString()
}

/**
 * Two lakes written by the lake's own append: `clean` holds a seeded shop once; `duplicated` holds, first (so a
 * tie-break by file or commit order would keep them), copies of some of its events (exact copies, copies stamped two
 * days later, copies at the same time that differ in session_id), then the shop twice, as a replayed export writes it.
 */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-dedup-'))
  const shop = await shopNdjson(dir, 'shop.ndjson', {customers: 300, days: 45})
  const events = readFileSync(shop.path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Event)
  const copies: Event[] = []
  events.forEach((event, i) => {
    if (i % 5 === 0) copies.push(event)
    else if (i % 7 === 0) copies.push({...event, event_time: shifted(event.event_time, 2)})
    else if (i % 11 === 0) copies.push({...event, session_id: `${event.session_id}~`})
  })
  const tied = copies.find((c) => c.session_id.endsWith('~')) as Event
  tie = {eventId: tied.event_id, kept: tied.session_id.slice(0, -1), setAside: tied.session_id}
  const copiesPath = join(dir, 'copies.ndjson')
  writeFileSync(copiesPath, `${copies.map((c) => JSON.stringify(c)).join('\n')}\n`)
  // The clean shop's last day: a copy stamped two days later must not move the cut of the duplicated lake.
  asOf = [...shop.dates].sort().at(-1) as string
  extraRows = copies.length + events.length
  extraRowsToCut = copies.filter((c) => c.event_time.slice(0, 10) <= asOf).length + events.length
  clean = join(dir, 'clean')
  duplicated = join(dir, 'duplicated')
  await withEngine(async (engine) => {
    await appendEvents(engine, clean, shop.path)
    await appendEvents(engine, duplicated, copiesPath)
    await appendEvents(engine, duplicated, shop.path)
    await appendEvents(engine, duplicated, shop.path)
  })
}, 120_000)

afterAll(() => {
  rmSync(dir, {recursive: true, force: true})
})

/** Rows of `a` missing from `b` and of `b` missing from `a`, as multisets (EXCEPT ALL both ways). */
async function differences(engine: Engine, a: string, b: string): Promise<{missing: number; extra: number}> {
  const count = async (x: string, y: string) =>
    Number((await engine.rows(`SELECT count(*)::BIGINT AS n FROM (FROM ${x} EXCEPT ALL FROM ${y})`))[0]?.n)
  return {missing: await count(a, b), extra: await count(b, a)}
}

describe('duplicate event_ids', () => {
  it('analyze all over a lake with duplicates saves exactly the tables of the lake without, and counts the copies', async () => {
    const runs: Record<string, AllResult> = {}
    for (const lake of [clean, duplicated]) {
      runs[lake] = await withEngine((engine) => analyzeAll(engine, {lake, asOf}))
    }
    expect(runs[clean]?.duplicateEvents).toBe(0)
    expect(runs[duplicated]?.duplicateEvents).toBe(extraRowsToCut)
    const tables = readdirSync(join(clean, ANALYTICS_DIR)).sort()
    expect(tables).toEqual(readdirSync(join(duplicated, ANALYTICS_DIR)).sort())
    expect(tables).toEqual(expect.arrayContaining(['rfm', 'clv', 'fraud', 'kpi_daily', 'funnel', 'cohort']))
    const engine = await Engine.open()
    try {
      for (const table of tables) {
        await registerTableView(engine, `a_${table}`, join(clean, ANALYTICS_DIR, table))
        await registerTableView(engine, `b_${table}`, join(duplicated, ANALYTICS_DIR, table))
        const [rows] = await engine.rows(`SELECT count(*)::BIGINT AS n FROM a_${table}`)
        expect(Number(rows?.n), table).toBeGreaterThan(0)
        expect(await differences(engine, `a_${table}`, `b_${table}`), table).toEqual({missing: 0, extra: 0})
      }
    } finally {
      engine.close()
    }
    // The report of a saved result says that copies were set aside, and says nothing of them on a clean lake.
    for (const report of ['rfm', 'kpi'] as const) {
      const withCopies = await withEngine((engine) =>
        runReport(engine, {report, format: 'md', color: false, lake: duplicated}),
      )
      expect(withCopies.text).toContain(`; ${extraRowsToCut.toLocaleString('en-US')} duplicate events set aside)`)
      expect((withCopies.result.data as {run: {duplicateEvents: number}}).run.duplicateEvents).toBe(extraRowsToCut)
      const without = await withEngine((engine) => runReport(engine, {report, format: 'md', color: false, lake: clean}))
      expect(without.text).not.toContain('duplicate')
    }
  }, 300_000)

  it('keeps the earliest copy, and of copies at the same time the first by content, whatever file holds it', async () => {
    await withEngine(async (engine) => {
      const views = await registerShopViews(engine, duplicated, {asOf})
      expect(views.duplicateEvents).toBe(extraRowsToCut)
      const [counts] = await engine.rows(
        `SELECT count(*)::INTEGER AS n, count(DISTINCT event_id)::INTEGER AS ids,
                (SELECT count(*) FROM duplicate_events)::INTEGER AS aside FROM events`,
      )
      expect(counts?.n).toBe(counts?.ids)
      expect(counts?.aside).toBe(extraRowsToCut)
      const kept = await engine.rows('SELECT session_id FROM events WHERE event_id = ?', [tie.eventId])
      expect(kept).toEqual([{session_id: tie.kept}])
      const aside = await engine.rows('SELECT session_id FROM duplicate_events WHERE event_id = ? ORDER BY 1', [
        tie.eventId,
      ])
      expect(aside).toEqual([{session_id: tie.kept}, {session_id: tie.setAside}])
      // The shop views of the two lakes hold the same rows.
      await engine.run('CREATE TEMP TABLE dup_events AS FROM events')
      await engine.run('CREATE TEMP TABLE dup_orders AS FROM orders')
      await registerShopViews(engine, clean, {asOf})
      expect(await differences(engine, 'events', 'dup_events')).toEqual({missing: 0, extra: 0})
      expect(await differences(engine, 'orders', 'dup_orders')).toEqual({missing: 0, extra: 0})
    })
  }, 120_000)

  it('keeps every row without an event_id: such rows (from another writer) are copies of nothing', async () => {
    const [first, second] = readFileSync(join(dir, 'shop.ndjson'), 'utf8')
      .split('\n', 2)
      .map((l) => JSON.parse(l))
    const path = join(dir, 'no-ids.ndjson')
    const lines = [{...first, event_id: null}, {...first, event_id: null}, second, second]
    writeFileSync(path, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`)
    const lake = join(dir, 'no-ids')
    await withEngine(async (engine) => {
      await appendEvents(engine, lake, path)
      const views = await registerShopViews(engine, lake)
      expect(views.duplicateEvents).toBe(1)
      const rows = await engine.rows('SELECT event_id FROM events ORDER BY event_id NULLS FIRST')
      expect(rows).toEqual([{event_id: null}, {event_id: null}, {event_id: second.event_id}])
    })
  })

  it('ecap export of the lake with duplicates equals the export of the lake without, and warns of the copies', async () => {
    const engine = await Engine.open()
    try {
      for (const table of ['events', 'orders']) {
        const outputs: string[] = []
        for (const lake of [clean, duplicated]) {
          const output = join(dir, `${table}-${lake === clean ? 'clean' : 'duplicated'}.parquet`)
          const result = await withEngine((e) =>
            exportTable(e, {lake, table, format: 'parquet', output, stdout: process.stdout}),
          )
          expect(result.duplicateEvents, `${table} of ${lake}`).toBe(lake === clean ? 0 : extraRows)
          outputs.push(`read_parquet(${sqlString(output)})`)
        }
        expect(await differences(engine, outputs[0] as string, outputs[1] as string), table).toEqual({
          missing: 0,
          extra: 0,
        })
      }
    } finally {
      engine.close()
    }
    const cli = ecap(['export', 'events', '--lake', duplicated, '-o', join(dir, 'cli-events.csv')], {timeoutMs: 60_000})
    expect(cli.status, cli.stderr).toBe(0)
    expect(cli.stderr).toContain(`Warning: Set aside ${extraRows.toLocaleString('en-US')} duplicate copies of events`)
    const json = ecap(['export', 'orders', '--lake', duplicated, '-o', join(dir, 'cli-orders.csv'), '--json'], {
      timeoutMs: 60_000,
    })
    expect(json.status, json.stderr).toBe(0)
    const envelope = JSON.parse(json.stdout) as {result: {duplicateEvents: number}; warnings: string[]}
    expect(envelope.result.duplicateEvents).toBe(extraRows)
    expect(envelope.warnings).toEqual([expect.stringContaining('duplicate copies of events')])
    // A table that is no shop view reads no events: nothing was set aside for it, and nothing is said.
    await withEngine((engine) => runRfm(engine, {lake: duplicated, asOf}))
    const rfm = await withEngine((engine) =>
      exportTable(engine, {
        lake: duplicated,
        table: 'rfm',
        format: 'csv',
        output: join(dir, 'rfm.csv'),
        stdout: process.stdout,
      }),
    )
    expect(rfm).toMatchObject({duplicateEvents: 0, rows: expect.any(Number)})
    expect(rfm.rows).toBeGreaterThan(0)
    const other = ecap(['export', 'rfm', '--lake', duplicated, '-o', join(dir, 'cli-rfm.csv')], {timeoutMs: 60_000})
    expect(other.status, other.stderr).toBe(0)
    expect(other.stderr).not.toContain('duplicate')
  }, 120_000)

  it('ecap query and analyze count each event once and say how many copies they set aside', async () => {
    const output = join(dir, 'query.csv')
    const query = await withEngine((engine) =>
      runQuery(engine, {
        lake: duplicated,
        sql: 'SELECT count(*) - count(DISTINCT event_id) AS repeats FROM events',
        format: 'csv',
        output,
        stdout: process.stdout,
      }),
    )
    expect(query.duplicateEvents).toBe(extraRows)
    expect(readFileSync(output, 'utf8')).toBe('repeats\n0\n')
    const kpi = ecap(['analyze', 'kpi', '--lake', duplicated, '--as-of', asOf, '--json'], {timeoutMs: 60_000})
    expect(kpi.status, kpi.stderr).toBe(0)
    expect(JSON.parse(kpi.stdout).result.duplicateEvents).toBe(extraRowsToCut)
    const text = ecap(['analyze', 'rfm', '--lake', duplicated, '--as-of', asOf], {timeoutMs: 60_000})
    expect(text.status, text.stderr).toBe(0)
    expect(text.stderr).toContain(
      `Warning: Set aside ${extraRowsToCut.toLocaleString('en-US')} duplicate copies of events`,
    )
    const quiet = ecap(['analyze', 'rfm', '--lake', clean, '--as-of', asOf], {timeoutMs: 60_000})
    expect(quiet.status, quiet.stderr).toBe(0)
    expect(quiet.stderr).not.toContain('duplicate')
  }, 120_000)
})
