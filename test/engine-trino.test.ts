import {readdirSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Json} from '@duckdb/node-api'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  buildCatalogue,
  buildSessions,
  CATALOGUE_TABLE,
  cacheOrders,
  FUNNEL_WALKS_TABLE,
  ORDERS_CACHE_TABLE,
  SESSION_PARTS_TABLE,
  SESSIONS_TABLE,
} from '../src/lib/analytics/sessions.js'
import {resultPath} from '../src/lib/analytics/store.js'
import {type Engine, withEngine} from '../src/lib/engine/engine.js'
import type {ShopEvent} from '../src/lib/events/index.js'
import {TrinoExtractSource} from '../src/lib/extract/trino-source.js'
import {appendEvents} from '../src/lib/lake/lake.js'
import {readRun} from '../src/lib/lake/result-table.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {bindExtractSource} from '../src/lib/shop/extract-source.js'
import {registerShopViews, type ShopViews} from '../src/lib/shop/views.js'
import {TrinoClient} from '../src/lib/trino/client.js'
import type {LocalTrino} from '../src/lib/trino/local-trino.js'
import {ecap, startEcap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {newBucket} from './helpers/s3.js'
import {localLocation, registerEvents, startTestTrino, trinoQuery} from './helpers/trino.js'

/**
 * `ecap analyze --engine trino` saves the same tables as `--engine duckdb` on the same snapshot: a real Trino 476 runs
 * the extract over a 1M-event lake (refunds, guests, fraud) that also holds what the simulator never makes: copies of
 * events (exact, and the same event_id with other content), a session whose funnel steps only a walk can order, events
 * on both sides of a cut in the middle of the data. Every saved table is compared row by row, on a local lake and on
 * an s3:// lake of the S3 test server that Trino reads with path-style addressing.
 */

/** Results every analysis saves: a table missing here would go uncompared, so the lake's folder is checked too. */
const RESULT_TABLES = [
  'clv',
  'cohort',
  'fraud',
  'funnel',
  'kpi_daily',
  'kpi_top_categories',
  'kpi_top_products',
  'kpi_weekly',
  'rfm',
  'rfm_segments',
]

/**
 * Relative tolerance for DOUBLE values. Each extract comes back as the same rows in another order, and a floating sum
 * over rows in another order may differ in its last bits (CLV's fitted values, shares, AOV); every other value
 * (integers, decimals, text, times, dates) must be identical.
 */
const DOUBLE_TOLERANCE = 1e-9

let trino: LocalTrino | undefined
let work: string
let lakes: {local: string; s3: string}
/** A day in the middle of the local lake's data, for a cut with events after it. */
let midDay: string

const SCHEMAS = {local: 'engine_local', s3: 'engine_s3'} as const

function trinoEnv(schema: string): NodeJS.ProcessEnv {
  return {ECAP_TRINO_URL: trino!.url, ECAP_TRINO_CATALOG: trino!.catalog, ECAP_TRINO_SCHEMA: schema}
}

/** Runs `ecap <args> --json` and returns its result; any exit but 0 fails with what it printed. */
async function ecapResult(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  const run = startEcap([...args, '--json'], {cwd: work, env})
  const {code} = await run.exited
  expect(code, `ecap ${args.join(' ')}\n${run.stderr()}`).toBe(0)
  return (JSON.parse(run.stdout()) as {result: Record<string, unknown>}).result
}

/** Runs an analysis on `engine` over the lake of `where`. */
function analyze(where: keyof typeof SCHEMAS, engine: 'duckdb' | 'trino', args: string[]) {
  const env = engine === 'trino' ? trinoEnv(SCHEMAS[where]) : {}
  return ecapResult(['analyze', ...args, '--lake', lakes[where], '--engine', engine], env)
}

type Rows = Record<string, Json>[]

/** Every saved result of `lake` (rows sorted by all columns) with the snapshot and cut its run read. */
async function savedResults(
  lake: string,
  names: readonly string[],
): Promise<Record<string, {rows: Rows; run: unknown}>> {
  return withEngine(async (engine) => {
    const saved: Record<string, {rows: Rows; run: unknown}> = {}
    for (const name of names) {
      const path = resultPath(lake, name)
      const run = (await readRun(path, engine)) as {asOf: string; eventsVersion: number; parameters: unknown}
      await registerTableView(engine, 'saved', path)
      saved[name] = {
        rows: await engine.rows('SELECT * FROM saved ORDER BY ALL'),
        run: {asOf: run.asOf, eventsVersion: run.eventsVersion, parameters: run.parameters},
      }
    }
    return saved
  })
}

/** Equal, but for DOUBLE-like values (numbers that are not whole) within DOUBLE_TOLERANCE of each other. */
function expectSameRows(actual: Rows, expected: Rows, label: string): void {
  expect(actual.length, `${label}: rows`).toBe(expected.length)
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!
    const e = expected[i]!
    expect(Object.keys(a), `${label}: columns`).toEqual(Object.keys(e))
    for (const key of Object.keys(e)) {
      const x = a[key]
      const y = e[key]
      if (typeof x === 'number' && typeof y === 'number' && !(Number.isInteger(x) && Number.isInteger(y))) {
        const scale = Math.max(1, Math.abs(y))
        expect(Math.abs(x - y) / scale, `${label} row ${i} ${key}: ${x} vs ${y}`).toBeLessThanOrEqual(DOUBLE_TOLERANCE)
      } else {
        expect(x, `${label} row ${i} ${key}`).toEqual(y)
      }
    }
  }
}

/** Runs the same analysis on both engines and compares every table it saved, and the snapshot each run read. */
async function expectSameOnBothEngines(where: keyof typeof SCHEMAS, args: string[], tables: readonly string[]) {
  const duckdb = await analyze(where, 'duckdb', args)
  const duckdbSaved = await savedResults(lakes[where], tables)
  const trinoResult = await analyze(where, 'trino', args)
  const trinoSaved = await savedResults(lakes[where], tables)
  for (const table of tables) {
    expect(trinoSaved[table]!.run, `${table}: run`).toEqual(duckdbSaved[table]!.run)
    expectSameRows(trinoSaved[table]!.rows, duckdbSaved[table]!.rows, `${args.join(' ')}: ${table}`)
  }
  return {duckdb, trino: trinoResult}
}

/**
 * What the simulator never writes, around `day`: a purchase sent three times (twice identical, once with the same
 * event_id and time but another device, which the content order must set aside the same way on both engines) and once
 * more an hour later; a session whose add_to_cart comes both before and after its product view (only the walk
 * decides its funnel step); a guest purchase; events at the last millisecond of the day and the first of the next;
 * a refund after the day of an order on it.
 */
function oddEvents(day: string): ShopEvent[] {
  const t = (time: string, plusDays = 0) =>
    new Date(Date.parse(`${day}T${time}Z`) + plusDays * 86_400_000).toISOString()
  const items = [{product_id: 'p00001', quantity: 2, unit_price: 12.5}]
  const visitor = {customer_id: 'c-odd-1', session_id: 's-odd-1', device: 'desktop' as const, ip_country: 'DE'}
  const purchase = makeEvent('purchase', {
    ...visitor,
    event_time: t('10:00:00.000'),
    order_id: 'o-odd-1',
    items,
    total: 25,
  })
  const events: object[] = [
    makeEvent('product_view', {...visitor, event_time: t('09:50:00.000'), product_id: 'p00001', category: 'odd'}),
    purchase,
    {...purchase},
    {...purchase, device: 'mobile'},
    {...purchase, event_time: t('11:00:00.000')},
  ]
  const walker = {customer_id: 'c-odd-2', session_id: 's-odd-walk', device: 'mobile' as const, ip_country: 'FR'}
  events.push(
    makeEvent('add_to_cart', {
      ...walker,
      event_time: t('12:00:00.000'),
      product_id: 'p00002',
      quantity: 1,
      unit_price: 5,
    }),
    makeEvent('product_view', {...walker, event_time: t('12:01:00.000'), product_id: 'p00002', category: 'odd'}),
    makeEvent('add_to_cart', {
      ...walker,
      event_time: t('12:02:00.000'),
      product_id: 'p00002',
      quantity: 1,
      unit_price: 5,
    }),
    makeEvent('checkout_started', {...walker, event_time: t('12:03:00.000')}),
    makeEvent('purchase', {
      ...walker,
      event_time: t('12:04:00.000'),
      order_id: 'o-odd-walk',
      items: [{product_id: 'p00002', quantity: 1, unit_price: 5}],
      total: 5,
    }),
  )
  const guest = {customer_id: null, session_id: 's-odd-guest', device: 'tablet' as const, ip_country: 'US'}
  events.push(
    makeEvent('purchase', {...guest, event_time: t('23:59:59.999'), order_id: 'o-odd-guest', items, total: 25}),
    makeEvent('product_view', {...guest, event_time: t('00:00:00.000', 1), product_id: 'p00001', category: 'odd'}),
    makeEvent('refund', {
      customer_id: 'c-odd-1',
      session_id: 'refund-o-odd-1',
      device: 'desktop' as const,
      ip_country: 'DE',
      event_time: t('08:00:00.000', 1),
      order_id: 'o-odd-1',
      amount: 10,
      reason: 'chargeback',
    }),
  )
  return events as ShopEvent[]
}

async function appendOdd(lake: string, day: string): Promise<void> {
  const ndjson = join(work, `odd-${Math.random().toString(36).slice(2)}.ndjson`)
  await writeFile(
    ndjson,
    `${oddEvents(day)
      .map((e) => JSON.stringify(e))
      .join('\n')}\n`,
  )
  await withEngine((engine) => appendEvents(engine, lake, ndjson))
}

/** Generates a shop into `lake` and returns the first and last event time. */
async function generate(lake: string, events: number, seed: number): Promise<{first: string; last: string}> {
  const result = await ecapResult([
    'generate',
    '--to',
    'lake',
    '--lake',
    lake,
    '--events',
    String(events),
    '--seed',
    String(seed),
    '--start',
    '2026-01-01',
    '--fraud-rate',
    '0.03',
    '--refund-rate',
    '0.08',
  ])
  return {first: String(result.firstEventTime), last: String(result.lastEventTime)}
}

function middleDay(span: {first: string; last: string}): string {
  const first = Date.parse(span.first)
  return new Date(first + (Date.parse(span.last) - first) * 0.6).toISOString().slice(0, 10)
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ecap-engine-trino-'))
  lakes = {local: join(work, 'lake'), s3: `s3://${await newBucket('engine')}/shop/lake`}
  const [started, localSpan, s3Span] = await Promise.all([
    startTestTrino(),
    generate(lakes.local, 1_000_000, 19),
    generate(lakes.s3, 60_000, 23),
  ])
  trino = started
  midDay = middleDay(localSpan)
  await appendOdd(lakes.local, midDay)
  await appendOdd(lakes.s3, middleDay(s3Span))
  await registerEvents(trino, SCHEMAS.local, localLocation(`${lakes.local}/events`))
  await registerEvents(trino, SCHEMAS.s3, `${lakes.s3}/events`)
}, 600_000)

afterAll(async () => {
  await trino?.stop()
  await rm(work, {recursive: true, force: true})
})

const EXTRACT_TABLES = [ORDERS_CACHE_TABLE, SESSION_PARTS_TABLE, SESSIONS_TABLE, CATALOGUE_TABLE, FUNNEL_WALKS_TABLE]

/** Registers the shop views on `engine` and builds every table the extract fills or the model step derives first. */
async function extractTables(engine: Engine, lake: string, asOf: string): Promise<ShopViews> {
  const views = await registerShopViews(engine, lake, {asOf})
  await cacheOrders(engine)
  await buildSessions(engine)
  await buildCatalogue(engine)
  return views
}

async function count(engine: Engine, sql: string): Promise<number> {
  const [row] = await engine.rows(`SELECT count(*)::BIGINT AS n FROM (${sql})`)
  return Number(row?.n)
}

describe('the extract on Trino', () => {
  it('fills the local tables the model step reads with the same types and rows as DuckDB, at a cut mid-way', async () => {
    await withEngine(async (engine) => {
      // DuckDB first; its tables are kept aside, then the same engine registers the shop again through Trino (which
      // must also drop what the DuckDB registration left, the `events` view above all).
      const duckdb = await extractTables(engine, lakes.local, midDay)
      const types: Record<string, Rows> = {}
      for (const table of EXTRACT_TABLES) {
        types[table] = await engine.rows(`SELECT column_name, column_type FROM (DESCRIBE ${table})`)
        await engine.run(`CREATE TEMP TABLE duckdb_${table} AS SELECT * FROM ${table}`)
      }
      const settings = {url: trino!.url, catalog: trino!.catalog, schema: SCHEMAS.local, table: 'events', user: 'ecap'}
      bindExtractSource(engine, new TrinoExtractSource(new TrinoClient(settings)))
      const onTrino = await extractTables(engine, lakes.local, midDay)
      expect(onTrino).toEqual(duckdb)
      await expect(engine.rows('SELECT count(*) FROM events')).rejects.toThrow(/events/)
      // The odd events are in: three copies set aside, and a session only the walk could place.
      expect(duckdb.duplicateEvents).toBe(3)
      expect(await count(engine, `SELECT * FROM duckdb_${FUNNEL_WALKS_TABLE}`)).toBeGreaterThan(0)
      expect(await count(engine, `SELECT * FROM duckdb_${ORDERS_CACHE_TABLE}`)).toBeGreaterThan(10_000)
      for (const table of EXTRACT_TABLES) {
        expect(await engine.rows(`SELECT column_name, column_type FROM (DESCRIBE ${table})`), `${table} types`).toEqual(
          types[table],
        )
        const rows = await count(engine, `SELECT * FROM duckdb_${table}`)
        expect(await count(engine, `SELECT * FROM ${table}`), `${table} rows`).toBe(rows)
        expect(await count(engine, `SELECT * FROM ${table} EXCEPT ALL SELECT * FROM duckdb_${table}`), table).toBe(0)
        expect(await count(engine, `SELECT * FROM duckdb_${table} EXCEPT ALL SELECT * FROM ${table}`), table).toBe(0)
      }
    })
  }, 600_000)
})

describe('ecap analyze --engine trino', () => {
  it('saves every table of analyze all as --engine duckdb does, cut in the middle of the data', async () => {
    const {trino: result} = await expectSameOnBothEngines('local', ['all', '--as-of', midDay], RESULT_TABLES)
    expect(readdirSync(join(lakes.local, 'analytics')).sort()).toEqual(RESULT_TABLES)
    // Only summaries came back, and --json says how many rows and bytes.
    const extract = result.extract as {engine: string; rows: number; bytes: number; tables: {table: string}[]}
    expect(extract.engine).toBe('trino')
    expect(extract.tables.map((t) => t.table)).toEqual(
      expect.arrayContaining([ORDERS_CACHE_TABLE, SESSION_PARTS_TABLE, CATALOGUE_TABLE]),
    )
    expect(extract.rows).toBeLessThan(1_000_000 / 2)
    expect(extract.bytes).toBeGreaterThan(0)
  }, 600_000)

  it.each([
    ['rfm', ['rfm', 'rfm_segments']],
    ['clv', ['clv']],
    ['fraud', ['fraud']],
    ['kpi', ['kpi_daily', 'kpi_weekly', 'kpi_top_products', 'kpi_top_categories']],
    ['funnel', ['funnel']],
    ['cohort', ['cohort']],
  ])(
    'saves the same %s tables run alone',
    async (analysis, tables) => {
      await expectSameOnBothEngines('local', [analysis], tables)
    },
    600_000,
  )

  it('saves the same tables from an s3:// lake that Trino reads with path-style addressing', async () => {
    await expectSameOnBothEngines('s3', ['all'], RESULT_TABLES)
  }, 600_000)
})

describe('ecap analyze --engine trino when Trino cannot serve the lake', () => {
  const fail = (env: NodeJS.ProcessEnv, args: string[] = []) =>
    ecap(['analyze', 'rfm', '--lake', lakes.local, '--engine', 'trino', ...args], {env, timeoutMs: 120_000})

  it('exits 2 without ECAP_TRINO_URL, for a table not registered, and for one registered over another lake', async () => {
    const noUrl = fail({})
    expect(noUrl.status).toBe(2)
    expect(noUrl.stderr).toContain('ECAP_TRINO_URL')
    const missing = fail({...trinoEnv('no_such_schema')})
    expect(missing.status, missing.stderr).toBe(2)
    expect(missing.stderr).toContain('ecap lake register --engine trino')
    // The S3 lake's table is registered; asking it for the local lake must not read the S3 data.
    const elsewhere = fail({...trinoEnv(SCHEMAS.s3)})
    expect(elsewhere.status, elsewhere.stderr).toBe(2)
    expect(elsewhere.stderr).toContain('not this lake')
  }, 300_000)

  it('exits 4 when the server does not answer', () => {
    const down = fail({ECAP_TRINO_URL: 'http://127.0.0.1:9', ECAP_TRINO_SCHEMA: SCHEMAS.local})
    expect(down.status, down.stderr).toBe(4)
    expect(down.stderr).toContain('does not answer')
  })

  it('cancels the running Trino query on Ctrl-C and exits 130', async () => {
    const run = startEcap(['analyze', 'all', '--lake', lakes.local, '--engine', 'trino'], {
      cwd: work,
      env: trinoEnv(SCHEMAS.local),
    })
    const running = async () =>
      trinoQuery(
        trino!,
        // The orders extract: a scan and a join long enough to be caught running (the first queries are metadata).
        "SELECT query_id FROM system.runtime.queries WHERE source = 'ecap' AND state = 'RUNNING' AND query LIKE '%purchases_and_refunds%'",
      )
    let ids: unknown[][] = []
    for (let i = 0; i < 600 && ids.length === 0; i++) {
      ids = await running()
      if (ids.length === 0) await new Promise((r) => setTimeout(r, 50))
    }
    expect(ids.length, run.stderr()).toBeGreaterThan(0)
    run.child.kill('SIGINT')
    const {code} = await run.exited
    expect(code, run.stderr()).toBe(130)
    // Cancelled on the server, not left to run to its end.
    let states: unknown[][] = []
    for (let i = 0; i < 100; i++) {
      states = await trinoQuery(
        trino!,
        `SELECT state, error_code FROM system.runtime.queries WHERE query_id = '${String(ids[0]![0])}'`,
      )
      if (states[0]?.[0] === 'FAILED') break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(states[0]).toEqual(['FAILED', 'USER_CANCELED'])
  }, 300_000)
})
