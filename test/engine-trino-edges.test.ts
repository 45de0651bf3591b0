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
import {type Engine, withEngine} from '../src/lib/engine/engine.js'
import {type EcapError, InterruptedError} from '../src/lib/errors.js'
import type {ShopEvent} from '../src/lib/events/index.js'
import {TrinoExtractSource} from '../src/lib/extract/trino-source.js'
import {bindExtractSource} from '../src/lib/shop/extract-source.js'
import {registerShopViews, type ShopViews} from '../src/lib/shop/views.js'
import {TrinoClient} from '../src/lib/trino/client.js'
import type {LocalTrino} from '../src/lib/trino/local-trino.js'
import {lakeOf, removeTempDirs, ShopBuilder} from './helpers/analytics-shop.js'
import {startEcap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {localLocation, registerEvents, startTestTrino, trinoQuery} from './helpers/trino.js'

/**
 * The extract on Trino at its edges, on a real Trino 476: small lakes that hold what the simulator never writes but
 * another writer may (events without a time, copies of an event whose order lines hold NULLs), each read on both
 * engines through the lib as engine-trino.test.ts's extract case does, every extract table the same row for row; and
 * an interrupted query that is cancelled on the server while it still scans; and the engine picked by ECAP_ENGINE or a
 * config file rather than --engine.
 */

let trino: LocalTrino | undefined
let schemas = 0

beforeAll(async () => {
  trino = await startTestTrino()
}, 300_000)

afterAll(async () => {
  await trino?.stop()
  await removeTempDirs()
})

type Rows = Record<string, Json>[]

const EXTRACT_TABLES = [ORDERS_CACHE_TABLE, SESSION_PARTS_TABLE, SESSIONS_TABLE, CATALOGUE_TABLE, FUNNEL_WALKS_TABLE]

async function extractTables(engine: Engine, lake: string, asOf?: string): Promise<ShopViews> {
  const views = await registerShopViews(engine, lake, asOf === undefined ? {} : {asOf})
  await cacheOrders(engine)
  await buildSessions(engine)
  await buildCatalogue(engine)
  return views
}

/** What each engine made of a lake holding `events`: the shop views' figures and every extract table's rows. */
interface BothEngines {
  duckdb: {views: ShopViews; tables: Record<string, Rows>}
  trino: {views: ShopViews; tables: Record<string, Rows>}
}

/** A local lake of `events`, its events table registered in Trino in a schema of its own. */
async function registeredLake(events: readonly object[]): Promise<{lake: string; schema: string}> {
  const lake = await lakeOf(events as ShopEvent[])
  const schema = `odd_${++schemas}`
  await registerEvents(trino!, schema, localLocation(`${lake}/events`))
  return {lake, schema}
}

async function onBothEngines(events: readonly object[], asOf?: string): Promise<BothEngines> {
  const {lake, schema} = await registeredLake(events)
  return withEngine(async (engine) => {
    const read = async () => {
      const views = await extractTables(engine, lake, asOf)
      const tables: Record<string, Rows> = {}
      for (const table of EXTRACT_TABLES) {
        const [made] = await engine.rows(
          `SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE table_name = '${table}'`,
        )
        if (Number(made?.n) > 0) tables[table] = await engine.rows(`SELECT * FROM ${table} ORDER BY ALL`)
      }
      return {views, tables}
    }
    const duckdb = await read()
    const settings = {url: trino!.url, catalog: trino!.catalog, schema, table: 'events', user: 'ecap'}
    bindExtractSource(engine, new TrinoExtractSource(new TrinoClient(settings)))
    return {duckdb, trino: await read()}
  })
}

describe('the extract on Trino over lakes another writer made', () => {
  it('keeps an event without an event_time when the cut drops nothing, as DuckDB does', async () => {
    const visitor = {customer: 'c1', session: 's1'}
    const shop = new ShopBuilder()
      .add('page_view', visitor, '2026-03-01T10:00:00.000Z')
      .purchase(visitor, '2026-03-01T10:01:00.000Z', 'o1', [{product_id: 'p1', quantity: 1, unit_price: 5}])
      .add('purchase', {customer: 'c2', session: 's2'}, null as never, {
        order_id: 'o2',
        items: [{product_id: 'p1', quantity: 1, unit_price: 5}],
        total: 5,
      })
    const both = await onBothEngines(shop.events)
    // The purchase without a time is an order in DuckDB (no filter runs when the cut drops nothing).
    expect(both.duckdb.tables[ORDERS_CACHE_TABLE]).toHaveLength(2)
    expect(both.trino).toEqual(both.duckdb)
  }, 120_000)

  it('sets aside the same copies as DuckDB when their order lines hold NULLs', async () => {
    const line = {product_id: 'p1', quantity: 1, unit_price: 5}
    const copy = (id: string, fields: Record<string, unknown>) =>
      makeEvent('purchase', {
        event_id: id,
        customer_id: 'c1',
        session_id: 's1',
        event_time: '2026-03-01T10:05:00.000Z',
        order_id: `o-${id}`,
        items: [line],
        total: 5,
        ...fields,
      } as never)
    const events = [
      // Which copy is kept is decided by the order lines: a NULL inside one sorts after any value, in DuckDB.
      copy('e1', {items: [{...line, product_id: null}], total: 1}),
      copy('e1', {items: [{...line, product_id: 'p0'}], total: 2}),
      copy('e2', {items: [{...line, quantity: null}], total: 1}),
      copy('e2', {items: [{...line, quantity: 3}], total: 2}),
      copy('e3', {items: [line, {...line, unit_price: null}], total: 1}),
      copy('e3', {items: [line, {...line, unit_price: 9}], total: 2}),
      copy('e4', {items: null, total: 1}),
      copy('e4', {items: [], total: 2}),
      copy('e5', {items: [line, line], total: 1}),
      copy('e5', {items: [line], total: 2}),
    ]
    const both = await onBothEngines(events)
    expect(both.duckdb.views.duplicateEvents).toBe(5)
    expect(both.trino).toEqual(both.duckdb)
  }, 120_000)
})

describe('the as-of day of a run on Trino', () => {
  it('must be a day of the calendar, on both engines, as 2026-02-30 is not', async () => {
    const visitor = {customer: 'c1', session: 's1'}
    const shop = new ShopBuilder()
      .add('page_view', visitor, '2026-03-01T10:00:00.000Z')
      .purchase(visitor, '2026-03-02T10:01:00.000Z', 'o1', [{product_id: 'p1', quantity: 1, unit_price: 5}])
    const {lake, schema} = await registeredLake(shop.events)
    await withEngine(async (engine) => {
      // Were it taken, JavaScript's Date would roll it over to March 2 and the Trino cut would read that day too.
      const refused = {name: 'UsageError', code: 'AS_OF_INVALID'}
      await expect(registerShopViews(engine, lake, {asOf: '2026-02-30'})).rejects.toMatchObject(refused)
      const settings = {url: trino!.url, catalog: trino!.catalog, schema, table: 'events', user: 'ecap'}
      bindExtractSource(engine, new TrinoExtractSource(new TrinoClient(settings)))
      await expect(registerShopViews(engine, lake, {asOf: '2026-02-30'})).rejects.toMatchObject(refused)
    })
  }, 120_000)
})

describe('the engine a user picks without --engine', () => {
  it('is Trino from ECAP_ENGINE and from ecap.config.json, and --engine duckdb overrides both', async () => {
    const visitor = {customer: 'c1', session: 's1'}
    const shop = new ShopBuilder()
      .add('page_view', visitor, '2026-03-01T10:00:00.000Z')
      .purchase(visitor, '2026-03-01T10:01:00.000Z', 'o1', [{product_id: 'p1', quantity: 2, unit_price: 5}])
    const {lake, schema} = await registeredLake(shop.events)
    const cwd = await mkdtemp(join(tmpdir(), 'ecap-engine-config-'))
    try {
      const server = {ECAP_TRINO_URL: trino!.url, ECAP_TRINO_CATALOG: trino!.catalog, ECAP_TRINO_SCHEMA: schema}
      /** The engine whose extract ran `ecap analyze kpi` (`extract.engine` in --json, absent for DuckDB's own). */
      const engineOf = async (env: NodeJS.ProcessEnv, flags: string[] = []) => {
        const run = startEcap(['analyze', 'kpi', '--lake', lake, '--json', ...flags], {cwd, env})
        const {code} = await run.exited
        expect(code, run.stderr()).toBe(0)
        const {result} = JSON.parse(run.stdout()) as {result: {extract?: {engine: string}}}
        return result.extract?.engine ?? 'duckdb'
      }
      expect(await engineOf(server)).toBe('duckdb')
      expect(await engineOf({...server, ECAP_ENGINE: 'trino'})).toBe('trino')
      expect(await engineOf({...server, ECAP_ENGINE: 'trino'}, ['--engine', 'duckdb'])).toBe('duckdb')
      await writeFile(join(cwd, 'ecap.config.json'), JSON.stringify({engine: 'trino'}))
      expect(await engineOf(server)).toBe('trino')
      expect(await engineOf(server, ['--engine', 'duckdb'])).toBe('duckdb')
      // The server's settings from the same file, as a team would keep them beside the project.
      await writeFile(
        join(cwd, 'ecap.config.json'),
        JSON.stringify({
          engine: 'trino',
          'trino-url': trino!.url,
          'trino-catalog': trino!.catalog,
          'trino-schema': schema,
        }),
      )
      expect(await engineOf({})).toBe('trino')
    } finally {
      await rm(cwd, {recursive: true, force: true})
    }
  }, 180_000)
})

describe('a Trino query of ecap that fails', () => {
  it('exits 1 as a bug, and ECAP_DEBUG=1 shows the SQL that failed', async () => {
    const settings = {url: trino!.url, catalog: trino!.catalog, schema: 'default', table: 'events', user: 'ecap'}
    const sql = 'SELECT no_such_column FROM (VALUES 1) AS t(x)'
    const failed = await new TrinoClient(settings).query(sql).then(
      () => undefined,
      (error: unknown) => error as EcapError,
    )
    expect(failed).toMatchObject({code: 'TRINO_QUERY_FAILED', exitCode: 1})
    expect(failed!.hints.join('\n')).toContain('ECAP_DEBUG=1')
    // What the command prints with ECAP_DEBUG=1 (ecap-command.ts): the stack of the cause.
    expect((failed!.cause as Error).stack).toContain(sql)
  }, 60_000)
})

describe('a Trino query interrupted while it scans', () => {
  it('is cancelled on the server before its first row, and the abort reaches the caller', async () => {
    const abort = new AbortController()
    const settings = {url: trino!.url, catalog: trino!.catalog, schema: 'default', table: 'events', user: 'ecap'}
    const client = new TrinoClient(settings, abort.signal)
    const tag = `scan-${Date.now()}`
    // An aggregation of 27 billion rows: no row comes back before its end, which a test would never see.
    const query = client.query(`
      SELECT '${tag}', count_if(a.x * b.x * c.x = 7)
      FROM UNNEST(sequence(1, 3000)) a(x), UNNEST(sequence(1, 3000)) b(x), UNNEST(sequence(1, 3000)) c(x)`)
    const settled = query.then(
      () => 'finished',
      (error: unknown) => error,
    )
    const state = async () =>
      trinoQuery(
        trino!,
        `SELECT state, error_code FROM system.runtime.queries WHERE source = 'ecap' AND query LIKE '%''${tag}''%'`,
      )
    let seen: unknown[][] = []
    for (let i = 0; i < 600 && seen[0]?.[0] !== 'RUNNING'; i++) {
      seen = await state()
      if (seen[0]?.[0] !== 'RUNNING') await new Promise((r) => setTimeout(r, 50))
    }
    expect(seen[0]?.[0]).toBe('RUNNING')
    abort.abort(new InterruptedError('SIGINT'))
    expect(await settled).toBeInstanceOf(InterruptedError)
    // The cancel reached the server before query() gave up; the server may take a moment to record it.
    for (let i = 0; i < 100 && seen[0]?.[0] !== 'FAILED'; i++) {
      await new Promise((r) => setTimeout(r, 50))
      seen = await state()
    }
    expect(seen).toEqual([['FAILED', 'USER_CANCELED']])
  }, 120_000)
})
