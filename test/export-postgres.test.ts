import {existsSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import type pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {saveResult} from '../src/lib/analytics/store.js'
import {type Engine, withEngine} from '../src/lib/engine/engine.js'
import {sqlIdentifier} from '../src/lib/engine/sql.js'
import {registerLakeViews} from '../src/lib/export/lake-views.js'
import {replaceTable} from '../src/lib/export/postgres-load.js'
import {prepareQuery} from '../src/lib/export/write-result.js'
import {ecap, startEcap} from './helpers/cli.js'
import {startPostgres, type TestPostgres} from './helpers/postgres.js'

// End-to-end against a real PostgreSQL server that this file starts (test/helpers/postgres.ts): the built CLI exports,
// a separate pg client reads back, and DuckDB's view of the same lake is the truth every table is compared with.
const BUILT_COMMAND = fileURLToPath(new URL('../dist/commands/export.js', import.meta.url))

const RUN_INFO = {analysis: 'test', parameters: {}, asOf: '2026-01-30', eventsVersion: 0, ranAt: '2026-01-30T00:00:00Z'}

/**
 * One row per awkward case, each value written as DuckDB SQL: what CSV, COPY and type conversion get wrong (NULL
 * beside the empty string, quotes, commas, line breaks, backslashes, COPY's `\.` end marker and `\N`, unicode, the
 * limits of each integer type, NaN and infinities, -0, microseconds).
 */
const ODD_ROWS = [
  `1, 'plain', 42, 3, 1, 19.99, 1.5, 0.1, 0.1, TIMESTAMPTZ '2026-01-02 03:04:05.123456+00', DATE '2026-01-02', true, '\\xAA\\x00abc'::BLOB, ['a', 'b']`,
  `2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
  `3, '', 0, 0, 0, 0.00, 0, 'NaN'::DOUBLE, 'inf'::FLOAT, TIMESTAMPTZ '1999-12-31 23:59:59.999999+00', DATE '1970-01-01', false, ''::BLOB, []`,
  `4, 'a "quoted", field' || chr(10) || 'line2' || chr(13) || chr(10) || 'back\\slash' || chr(9) || 'tab', -1, -1, -1, -0.01, -1.0000000001, '-inf'::DOUBLE, '-inf'::FLOAT, NULL, NULL, NULL, NULL, ['a,b', 'quote"d', NULL, 'new' || chr(10) || 'line']`,
  `5, '\\.', NULL, NULL, NULL, NULL, NULL, '-0.0'::DOUBLE, NULL, NULL, NULL, NULL, NULL, NULL`,
  `6, 'Grüße — 東京 🛒 é', -9223372036854775808, 32767, -128, 9999999999999999.99, 1234567890123456789012345678.1234567890, 1e300, 3.4e38, TIMESTAMPTZ '0001-01-01 00:00:00+00', DATE '9999-12-31', NULL, '\\xFF'::BLOB, ['🛒']`,
  `7, 'NULL', 9223372036854775807, -32768, 127, NULL, NULL, 5e-324, 1.4e-45, NULL, NULL, NULL, NULL, NULL`,
  `8, '\\N', NULL, NULL, NULL, NULL, NULL, 123456789.123456789, NULL, NULL, NULL, NULL, NULL, NULL`,
  `9, '  spaces around  ', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
  `10, ',', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
  `11, '"', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
]
/** The columns of ODD_ROWS: every type a lake table holds (Delta's), nested structs aside (orders.items has them). */
const ODD_COLUMNS: [string, string, string][] = [
  // name, DuckDB type, the PostgreSQL type docs/postgres.md promises
  ['id', 'INTEGER', 'integer'],
  ['txt', 'VARCHAR', 'text'],
  ['big', 'BIGINT', 'bigint'],
  ['small', 'SMALLINT', 'smallint'],
  ['tiny', 'TINYINT', 'smallint'],
  ['amount', 'DECIMAL(18,2)', 'numeric(18,2)'],
  ['wide', 'DECIMAL(38,10)', 'numeric(38,10)'],
  ['dbl', 'DOUBLE', 'double precision'],
  ['flt', 'FLOAT', 'real'],
  ['tstz', 'TIMESTAMP WITH TIME ZONE', 'timestamp with time zone'],
  ['d', 'DATE', 'date'],
  ['flag', 'BOOLEAN', 'boolean'],
  ['bytes', 'BLOB', 'bytea'],
  ['tags', 'VARCHAR[]', 'jsonb'],
]

let root: string
let lakeA: string
let lakeB: string
let server: TestPostgres
let reader: pg.Client

beforeAll(async () => {
  expect(existsSync(BUILT_COMMAND), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
  root = await mkdtemp(join(tmpdir(), 'ecap-export-postgres-'))
  lakeA = join(root, 'lake-a')
  lakeB = join(root, 'lake-b')
  const [started] = await Promise.all([
    startPostgres(),
    (async () => {
      for (const [lake, customers] of [
        [lakeA, '120'],
        [lakeB, '150'],
      ] as const) {
        const generated = ecap(['generate', '--to', 'lake', '--lake', lake, '--customers', customers, '--days', '20'], {
          timeoutMs: 120_000,
        })
        expect(generated.status, generated.stderr).toBe(0)
      }
    })(),
  ])
  server = started
  await withEngine(async (engine) => {
    await registerLakeViews(engine, lakeA)
    await saveResult(
      engine,
      lakeA,
      'top_customers',
      'SELECT customer_id, net_revenue, orders FROM customers ORDER BY net_revenue DESC LIMIT 25',
      RUN_INFO,
    )
    const columns = ODD_COLUMNS.map(([name, type]) => `CAST(${name} AS ${type}) AS ${name}`).join(', ')
    const rows = ODD_ROWS.map((r) => `(${r})`).join(',\n')
    await saveResult(
      engine,
      lakeA,
      'odd_values',
      `SELECT ${columns} FROM (VALUES ${rows}) AS v(${ODD_COLUMNS.map(([n]) => n).join(', ')})`,
      RUN_INFO,
    )
  })
  await withEngine(async (engine) => {
    // PostgreSQL's text cannot hold NUL, DuckDB's can: the one value the export must refuse rather than change.
    await saveResult(engine, lakeB, 'nul_text', `SELECT 1 AS id, 'a' || chr(0) || 'b' AS txt`, RUN_INFO)
  })
  reader = await server.client()
}, 300_000)

afterAll(async () => {
  await reader?.end().catch(() => {})
  await server?.stop()
  if (root) await rm(root, {recursive: true, force: true})
})

/** ecap with only the test server's PG* variables (the password in PGPASSWORD, as docs/postgres.md says). */
function exportPg(args: string[], env: NodeJS.ProcessEnv = server.env) {
  return ecap(['export', '--to', 'postgres', ...args], {env, timeoutMs: 120_000})
}

/** The tables of a schema, with ecap's load tables (which must never be visible) included. */
async function tablesOf(schema: string): Promise<string[]> {
  const result = await reader.query('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1', [schema])
  return result.rows.map((r) => r.tablename as string)
}

async function pgColumns(schema: string, table: string): Promise<{name: string; type: string}[]> {
  const result = await reader.query(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
     WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [`${reader.escapeIdentifier(schema)}.${reader.escapeIdentifier(table)}`],
  )
  return result.rows as {name: string; type: string}[]
}

/** A value in one spelling for both sides: JSON with sorted keys, numbers with -0 and NaN kept apart. */
function canonical(value: unknown, json: boolean): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value)
  if (json) return JSON.stringify(sortKeys(JSON.parse(String(value))))
  return String(value)
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, sortKeys(v)]),
    )
  }
  return value
}

/** Every row of a PostgreSQL table, each as one canonical string, sorted: a multiset to compare exactly. */
async function pgRows(schema: string, table: string): Promise<string[]> {
  const columns = await pgColumns(schema, table)
  const select = columns.map(({name, type}) => {
    const c = reader.escapeIdentifier(name)
    if (type === 'timestamp with time zone') return `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`
    if (type === 'double precision' || type === 'real') return `${c}::float8`
    if (type === 'bytea') return `encode(${c}, 'hex')`
    return `${c}::text`
  })
  const result = await reader.query({
    text: `SELECT ${select.join(', ')} FROM ${reader.escapeIdentifier(schema)}.${reader.escapeIdentifier(table)}`,
    rowMode: 'array',
  })
  return result.rows
    .map((row: unknown[]) => JSON.stringify(row.map((v, i) => canonical(v, columns[i]!.type === 'jsonb'))))
    .sort()
}

/** The same for a view of the lake, read by DuckDB. */
async function duckRows(engine: Engine, table: string): Promise<string[]> {
  const described = await engine.rows(`SELECT column_name, column_type FROM (DESCRIBE ${sqlIdentifier(table)})`)
  const kinds = described.map((r) => String(r.column_type))
  const select = described.map((r, i) => {
    const c = sqlIdentifier(String(r.column_name))
    const type = kinds[i]!
    if (type.startsWith('TIMESTAMP')) return `strftime(${c}, '%Y-%m-%d %H:%M:%S.%f')`
    if (type === 'DOUBLE' || type === 'FLOAT') return `CAST(${c} AS DOUBLE)`
    if (type === 'BLOB') return `lower(hex(${c}))`
    if (isNested(type)) return `CAST(to_json(${c}) AS VARCHAR)`
    return `CAST(${c} AS VARCHAR)`
  })
  const reader = await engine.connection.runAndReadAll(`SELECT ${select.join(', ')} FROM ${sqlIdentifier(table)}`)
  return reader
    .getRows()
    .map((row) => JSON.stringify(row.map((v, i) => canonical(v, isNested(kinds[i]!)))))
    .sort()
}

const isNested = (type: string) => type.endsWith('[]') || type.startsWith('STRUCT') || type.startsWith('MAP')

async function lakeTruth(lake: string, tables: string[]): Promise<Record<string, string[]>> {
  return withEngine(async (engine) => {
    await registerLakeViews(engine, lake)
    const truth: Record<string, string[]> = {}
    for (const table of tables) truth[table] = await duckRows(engine, table)
    return truth
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

describe('ecap export --to postgres', () => {
  it('writes every shop view and analysis result, row for row what DuckDB reads, with BI types', async () => {
    const run = exportPg(['--lake', lakeA, '--json'])
    expect(run.status, run.stderr).toBe(0)
    expect(run.stdout + run.stderr).not.toContain(server.password)
    const result = JSON.parse(run.stdout).result
    const names = await withEngine(async (engine) => (await registerLakeViews(engine, lakeA)).views.map((v) => v.name))
    // generate makes no dead letters, so the shop views are these five; the analysis results are the two saved above.
    const expected = ['events', 'orders', 'order_items', 'customers', 'duplicate_events', 'odd_values', 'top_customers']
    expect(names.sort()).toEqual([...expected].sort())
    expect(result.tables.map((t: {table: string}) => t.table).sort()).toEqual([...expected].sort())
    expect(result.server).toBe(`${server.user}@127.0.0.1:${server.port}/${server.database}`)
    expect(await tablesOf('ecap')).toEqual([...expected].sort())

    const truth = await lakeTruth(lakeA, expected)
    for (const table of expected) {
      const rows = await pgRows('ecap', table)
      expect(rows, table).toEqual(truth[table])
      expect(result.tables.find((t: {table: string}) => t.table === table).rows, table).toBe(rows.length)
    }
    expect(truth.orders!.length).toBeGreaterThan(50)
    expect(truth.odd_values!.length).toBe(ODD_ROWS.length)

    // The types BI tools read: money as numeric, times as timestamptz, nested values as jsonb.
    const orders = Object.fromEntries((await pgColumns('ecap', 'orders')).map((c) => [c.name, c.type]))
    expect(orders).toMatchObject({
      order_id: 'text',
      order_time: 'timestamp with time zone',
      order_date: 'date',
      items: 'jsonb',
      total: 'numeric(12,2)',
      net_total: 'numeric(38,2)',
      refund_count: 'bigint',
      chargeback: 'boolean',
    })
    expect(await pgColumns('ecap', 'odd_values')).toEqual(ODD_COLUMNS.map(([name, , type]) => ({name, type})))
    const comment = await reader.query("SELECT obj_description('ecap.orders'::regclass, 'pg_class') AS c")
    expect(comment.rows[0].c).toContain(`ecap export of orders (shop view) from the lake at ${lakeA}`)
  })

  it('keeps the awkward values exact: NULL apart from empty text, COPY markers, NaN and infinities', async () => {
    const run = exportPg(['--lake', lakeA, '--tables', 'odd_values', '--schema', 'awkward'])
    expect(run.status, run.stderr).toBe(0)
    const result = await reader.query(
      `SELECT id, txt, txt IS NULL AS is_null, dbl::text AS dbl, flt::text AS flt, tags::text AS tags, encode(bytes, 'hex') AS bytes
       FROM awkward.odd_values ORDER BY id`,
    )
    const byId = new Map(result.rows.map((r) => [r.id as number, r]))
    expect(byId.get(2)).toMatchObject({txt: null, is_null: true, dbl: null, tags: null, bytes: null})
    expect(byId.get(3)).toMatchObject({txt: '', is_null: false, dbl: 'NaN', flt: 'Infinity', tags: '[]', bytes: ''})
    expect(byId.get(4)!.txt).toBe('a "quoted", field\nline2\r\nback\\slash\ttab')
    expect(byId.get(4)).toMatchObject({dbl: '-Infinity', flt: '-Infinity'})
    expect(JSON.parse(byId.get(4)!.tags)).toEqual(['a,b', 'quote"d', null, 'new\nline'])
    expect(byId.get(5)).toMatchObject({txt: '\\.', dbl: '-0'})
    expect(byId.get(6)!.txt).toBe('Grüße — 東京 🛒 é')
    expect(byId.get(7)!.txt).toBe('NULL')
    expect(byId.get(8)!.txt).toBe('\\N')
    expect(byId.get(9)!.txt).toBe('  spaces around  ')
    expect(byId.get(1)!.bytes).toBe('aa00616263')
  })

  it('maps the DuckDB types no lake table holds: unsigned and huge integers, plain timestamps, structs, maps', async () => {
    await reader.query('CREATE SCHEMA direct')
    await withEngine(async (engine) => {
      const query = await prepareQuery(
        engine,
        `SELECT * FROM (VALUES
          (18446744073709551615::UBIGINT, 170141183460469231731687303715884105727::HUGEINT, 4294967295::UINTEGER,
           65535::USMALLINT, 255::UTINYINT, TIMESTAMP '2026-01-02 03:04:05.123456', TIME '12:34:56.789',
           INTERVAL '1 day 2 hours', {'a': 1, 'b': 'x"y'}, MAP {'k': [1, 2]}, UUID '0e1f2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
           '{"j": [true, null]}'::JSON),
          (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
        ) AS v(ubig, huge, uint, usmall, utiny, ts, t, span, obj, m, uid, j)`,
      )
      await replaceTable(engine, reader, {schema: 'direct', name: 'types', query, comment: 'types'})
    })
    expect(await pgColumns('direct', 'types')).toEqual([
      {name: 'ubig', type: 'numeric(20,0)'},
      {name: 'huge', type: 'numeric(39,0)'},
      {name: 'uint', type: 'bigint'},
      {name: 'usmall', type: 'integer'},
      {name: 'utiny', type: 'smallint'},
      {name: 'ts', type: 'timestamp with time zone'},
      {name: 't', type: 'time without time zone'},
      {name: 'span', type: 'interval'},
      {name: 'obj', type: 'jsonb'},
      {name: 'm', type: 'jsonb'},
      {name: 'uid', type: 'uuid'},
      {name: 'j', type: 'jsonb'},
    ])
    const rows = await reader.query({
      text: `SELECT ubig::text, huge::text, uint::text, usmall::text, utiny::text,
               to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), t::text, span::text, obj::text, m::text,
               uid::text, j::text
             FROM direct.types ORDER BY ubig NULLS LAST`,
      rowMode: 'array',
    })
    expect(rows.rows).toEqual([
      [
        '18446744073709551615',
        '170141183460469231731687303715884105727',
        '4294967295',
        '65535',
        '255',
        '2026-01-02 03:04:05.123456',
        '12:34:56.789',
        '1 day 02:00:00',
        '{"a": 1, "b": "x\\"y"}',
        '{"k": [1, 2]}',
        '0e1f2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
        '{"j": [true, null]}',
      ],
      Array(12).fill(null),
    ])
  })

  it('exports only --tables, or the one table named, into the schema asked for', async () => {
    const run = exportPg(['--lake', lakeA, '--tables', 'orders, top_customers', '--schema', 'bi sales'])
    expect(run.status, run.stderr).toBe(0)
    expect(await tablesOf('bi sales')).toEqual(['orders', 'top_customers'])
    const one = exportPg(['customers', '--lake', lakeA, '--schema', 'bi sales'])
    expect(one.status, one.stderr).toBe(0)
    expect(await tablesOf('bi sales')).toEqual(['customers', 'orders', 'top_customers'])
    const truth = await lakeTruth(lakeA, ['customers'])
    expect(await pgRows('bi sales', 'customers')).toEqual(truth.customers)
  })

  it('replaces a table atomically: a reader sees the old rows during the load, the new ones after', async () => {
    const first = exportPg(['--lake', lakeA, '--tables', 'orders', '--schema', 'atomic'])
    expect(first.status, first.stderr).toBe(0)
    const [truthA, truthB] = [await lakeTruth(lakeA, ['orders']), await lakeTruth(lakeB, ['orders'])]
    expect(truthA.orders).not.toEqual(truthB.orders)

    // A session holding SHARE UPDATE EXCLUSIVE (as a VACUUM would) lets the export replace every row, then keeps it
    // waiting at its last statement (COMMENT ON TABLE), uncommitted: the moment to look from outside.
    const holder = await server.client()
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
      await holder.query('LOCK TABLE atomic.orders IN SHARE UPDATE EXCLUSIVE MODE')
      await holder.query('SELECT count(*) FROM atomic.orders')
      const run = startEcap(
        ['export', '--to', 'postgres', '--lake', lakeB, '--tables', 'orders', '--schema', 'atomic'],
        {
          env: server.env,
        },
      )
      await untilWaitingForLock('atomic.orders', run)
      // The load is complete but uncommitted: no one else sees a load table, and every reader still reads the old rows.
      expect(await tablesOf('atomic')).toEqual(['orders'])
      const oldIds = truthA.orders!.map((row) => JSON.parse(row)[0]).sort()
      const seen = await holder.query('SELECT order_id FROM atomic.orders')
      expect(seen.rows.map((r) => r.order_id).sort()).toEqual(oldIds)
      const outside = await reader.query('SELECT order_id FROM atomic.orders')
      expect(outside.rows.map((r) => r.order_id).sort()).toEqual(oldIds)
      await holder.query('COMMIT')
      const exit = await run.exited
      expect(exit.code, run.stderr()).toBe(0)
    } finally {
      await holder.end()
    }
    expect(await pgRows('atomic', 'orders')).toEqual(truthB.orders)
    expect(await tablesOf('atomic')).toEqual(['orders'])
  })

  it('leaves the old table whole when the load fails mid-COPY (error or kill) and says what was replaced', async () => {
    const setup = exportPg(['--lake', lakeA, '--tables', 'customers,orders', '--schema', 'faults'])
    expect(setup.status, setup.stderr).toBe(0)
    const truthA = await lakeTruth(lakeA, ['customers', 'orders'])
    const truthB = await lakeTruth(lakeB, ['customers', 'orders'])

    for (const action of ['error', 'crash']) {
      const run = ecap(['export', '--to', 'postgres', '--lake', lakeB, '--tables', 'orders', '--schema', 'faults'], {
        env: {...server.env, ECAP_FAILPOINTS: `export.postgres.copy=${action}`},
      })
      if (action === 'error') {
        expect(run.status, run.stderr).toBe(1)
        expect(run.stderr).toContain('faults.orders keeps its old rows')
      } else {
        expect(run.signal).toBe('SIGKILL')
      }
      expect(await pgRows('faults', 'orders'), action).toEqual(truthA.orders)
    }
    // The second table fails: the first stays replaced, the second keeps its old rows, and the message says so.
    const run = ecap(
      ['export', '--to', 'postgres', '--lake', lakeB, '--tables', 'customers,orders', '--schema', 'faults'],
      {env: {...server.env, ECAP_FAILPOINTS: 'export.postgres.copy=error@2'}},
    )
    expect(run.status, run.stderr).toBe(1)
    expect(run.stderr).toContain('faults.orders keeps its old rows; already replaced: faults.customers')
    expect(await pgRows('faults', 'customers')).toEqual(truthB.customers)
    expect(await pgRows('faults', 'orders')).toEqual(truthA.orders)
    // Sessions of killed exports are gone once the server notices; none left a table behind.
    expect(await tablesOf('faults')).toEqual(['customers', 'orders'])
  })

  it('stops on Ctrl-C with exit 130 and the old table intact', async () => {
    const setup = exportPg(['--lake', lakeA, '--tables', 'orders', '--schema', 'interrupt'])
    expect(setup.status, setup.stderr).toBe(0)
    const truthA = await lakeTruth(lakeA, ['orders'])
    const holder = await server.client()
    try {
      await holder.query('BEGIN')
      // Keeps the export waiting at its last statement, its rows replaced but uncommitted (see the atomic test).
      await holder.query('LOCK TABLE interrupt.orders IN SHARE UPDATE EXCLUSIVE MODE')
      const run = startEcap(
        ['export', '--to', 'postgres', '--lake', lakeB, '--tables', 'orders', '--schema', 'interrupt'],
        {
          env: server.env,
        },
      )
      await untilWaitingForLock('interrupt.orders', run)
      run.child.kill('SIGINT')
      const exit = await run.exited
      expect(exit.code, run.stderr()).toBe(130)
      await holder.query('COMMIT')
    } finally {
      await holder.end()
    }
    expect(await pgRows('interrupt', 'orders')).toEqual(truthA.orders)
    expect(await tablesOf('interrupt')).toEqual(['orders'])
  })

  it('keeps the views, grants and indexes users built on a table whose columns are unchanged', async () => {
    const setup = exportPg(['--lake', lakeA, '--tables', 'orders', '--schema', 'viewed'])
    expect(setup.status, setup.stderr).toBe(0)
    await reader.query('CREATE VIEW viewed.big_orders AS SELECT * FROM viewed.orders WHERE net_total > 100')
    await reader.query('CREATE INDEX orders_by_customer ON viewed.orders (customer_id)')
    await reader.query('CREATE ROLE dashboard')
    await reader.query('GRANT USAGE ON SCHEMA viewed TO dashboard')
    await reader.query('GRANT SELECT ON viewed.orders TO dashboard')
    const run = exportPg(['--lake', lakeB, '--tables', 'orders', '--schema', 'viewed'])
    expect(run.status, run.stderr).toBe(0)
    const truthB = (await lakeTruth(lakeB, ['orders'])).orders
    expect(await pgRows('viewed', 'orders')).toEqual(truthB)
    const big = await reader.query('SELECT count(*)::int AS n FROM viewed.big_orders')
    const expected = await reader.query('SELECT count(*)::int AS n FROM viewed.orders WHERE net_total > 100')
    expect(big.rows[0].n).toBe(expected.rows[0].n)
    const index = await reader.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'viewed'`)
    expect(index.rows.map((r) => r.indexname)).toEqual(['orders_by_customer'])
    const grant = await reader.query(`SELECT has_table_privilege('dashboard', 'viewed.orders', 'SELECT') AS ok`)
    expect(grant.rows[0].ok).toBe(true)
  })

  it('refuses to drop views a user built on a table whose columns changed, and keeps the table', async () => {
    const setup = exportPg(['--lake', lakeA, '--tables', 'orders', '--schema', 'reshaped'])
    expect(setup.status, setup.stderr).toBe(0)
    // An older ecap's table, a column short: the export must swap in a new table, which would drop the view.
    await reader.query('ALTER TABLE reshaped.orders DROP COLUMN chargeback')
    const before = await pgRows('reshaped', 'orders')
    // A crash mid-COPY on the swap's way leaves the old table and no load table either.
    const crash = ecap(['export', '--to', 'postgres', '--lake', lakeB, '--tables', 'orders', '--schema', 'reshaped'], {
      env: {...server.env, ECAP_FAILPOINTS: 'export.postgres.copy=crash'},
    })
    expect(crash.signal, crash.stderr).toBe('SIGKILL')
    expect(await pgRows('reshaped', 'orders')).toEqual(before)
    expect(await tablesOf('reshaped')).toEqual(['orders'])
    await reader.query('CREATE VIEW reshaped.big_orders AS SELECT * FROM reshaped.orders WHERE net_total > 100')
    const run = exportPg(['--lake', lakeB, '--tables', 'orders', '--schema', 'reshaped'])
    expect(run.status, run.stderr).toBe(2)
    expect(run.stderr).toContain('reshaped.orders keeps its old rows')
    expect(run.stderr).toContain('never drops your objects')
    expect(await pgRows('reshaped', 'orders')).toEqual(before)
  })

  it('refuses a value PostgreSQL cannot hold (NUL in text) with exit 3, keeping the old table', async () => {
    await reader.query('CREATE SCHEMA refused')
    await reader.query('CREATE TABLE refused.nul_text (id integer, txt text)')
    await reader.query("INSERT INTO refused.nul_text VALUES (7, 'old')")
    const run = exportPg(['--lake', lakeB, '--tables', 'nul_text', '--schema', 'refused'])
    expect(run.status, run.stderr).toBe(3)
    expect(run.stderr).toContain('Error (PG_VALUE_REFUSED)')
    expect(run.stderr).toContain('refused.nul_text keeps its old rows')
    expect(await pgRows('refused', 'nul_text')).toEqual([JSON.stringify(['7', 'old'])])
    expect(await tablesOf('refused')).toEqual(['nul_text'])
  })

  it('works for a user granted one schema, and says what to grant when it may not create one (exit 2)', async () => {
    const password = 'limited-secret-4711'
    await reader.query(`CREATE ROLE limited LOGIN PASSWORD '${password}'`)
    await reader.query('CREATE SCHEMA granted')
    await reader.query('GRANT USAGE, CREATE ON SCHEMA granted TO limited')
    const limited = {...server.env, PGUSER: 'limited', PGPASSWORD: password}
    const allowed = exportPg(['--lake', lakeA, '--tables', 'top_customers', '--schema', 'granted'], limited)
    expect(allowed.status, allowed.stderr).toBe(0)
    expect(await tablesOf('granted')).toEqual(['top_customers'])

    const denied = exportPg(['--lake', lakeA, '--tables', 'top_customers', '--schema', 'not_granted'], limited)
    expect(denied.status, denied.stderr).toBe(2)
    expect(denied.stderr).toContain('Error (PG_PERMISSION_DENIED)')
    expect(denied.stderr).toContain(`GRANT CREATE ON DATABASE ${server.database} TO limited`)
    expect(denied.stdout + denied.stderr).not.toContain(password)
    expect(await tablesOf('not_granted')).toEqual([])

    // A table of another owner in the granted schema: only its owner may drop it, so ecap cannot replace it.
    await reader.query('CREATE TABLE granted.customers (customer_id text)')
    const notOwner = exportPg(['--lake', lakeA, '--tables', 'customers', '--schema', 'granted'], limited)
    expect(notOwner.status, notOwner.stderr).toBe(2)
    expect(notOwner.stderr).toContain('must be owner of table customers')
    expect(notOwner.stderr).toContain('ALTER TABLE granted.customers OWNER TO limited')
    expect(await pgColumns('granted', 'customers')).toEqual([{name: 'customer_id', type: 'text'}])
  })

  it('reads a URL from ECAP_PG_URL or --url-env, never printing the password', async () => {
    const url = `postgres://${server.user}:${server.password}@127.0.0.1:${server.port}/${server.database}`
    const byDefault = exportPg(['--lake', lakeA, '--tables', 'top_customers', '--schema', 'urls'], {ECAP_PG_URL: url})
    expect(byDefault.status, byDefault.stderr).toBe(0)
    expect(byDefault.stdout + byDefault.stderr).not.toContain(server.password)
    const named = exportPg(['--lake', lakeA, '--tables', 'customers', '--schema', 'urls', '--url-env', 'SHOP_DB'], {
      SHOP_DB: url,
    })
    expect(named.status, named.stderr).toBe(0)
    expect(await tablesOf('urls')).toEqual(['customers', 'top_customers'])

    const wrong = 'not-the-password-4711'
    const refused = exportPg(['--lake', lakeA, '--tables', 'customers', '--schema', 'urls', '--url-env', 'SHOP_DB'], {
      SHOP_DB: `postgres://${server.user}:${wrong}@127.0.0.1:${server.port}/${server.database}`,
    })
    expect(refused.status, refused.stderr).toBe(4)
    expect(refused.stderr).toContain(
      `PostgreSQL at ${server.user}@127.0.0.1:${server.port}/${server.database} refused the login`,
    )
    expect(refused.stderr).toContain('PGPASSWORD')
    expect(refused.stdout + refused.stderr).not.toContain(wrong)

    const unset = exportPg(['--lake', lakeA, '--url-env', 'NO_SUCH_VARIABLE'], {})
    expect(unset.status).toBe(2)
    expect(unset.stderr).toContain('the variable NO_SUCH_VARIABLE is not set')
  })

  it('says how to fix an unreachable server, a missing password and a missing database (exit 4, 4, 2)', async () => {
    const port = await freePort()
    const down = exportPg(['--lake', lakeA, '--json'], {...server.env, PGPORT: String(port)})
    expect(down.status).toBe(4)
    const error = JSON.parse(down.stdout).error
    expect(error.code).toBe('PG_UNREACHABLE')
    expect(error.message).toBe(
      `Cannot reach PostgreSQL at ${server.user}@127.0.0.1:${port}/${server.database}: nothing listens there (connection refused).`,
    )
    expect(down.stdout + down.stderr).not.toContain(server.password)

    const {PGPASSWORD: _, ...noPassword} = server.env
    const nopass = exportPg(['--lake', lakeA], {...noPassword, HOME: root})
    expect(nopass.status, nopass.stderr).toBe(4)
    expect(nopass.stderr).toContain('the server asks for a password and none was given')

    const nodb = exportPg(['--lake', lakeA], {...server.env, PGDATABASE: 'no_such_db'})
    expect(nodb.status, nodb.stderr).toBe(2)
    expect(nodb.stderr).toContain('createdb')
  })

  it('checks flags and names before contacting any server (exit 2)', async () => {
    const closed = {...server.env, PGPORT: String(await freePort())}
    const cases: [string[], string][] = [
      [['export', '--to', 'postgres', '--lake', lakeA, '--tables', 'orders,nope'], 'No table nope in the lake.'],
      [['export', '--to', 'postgres', '--lake', lakeA, '-o', 'x.csv'], '--output does not apply to --to postgres'],
      [['export', '--lake', lakeA, '--tables', 'orders', '-o', 'x.csv'], '--tables does not apply to --to file'],
      [['export', 'orders', '--lake', lakeA], '-o is missing'],
      [['export', '--lake', lakeA, '-o', 'x.csv'], 'Name the table to export'],
      [['export', '--to', 'postgres', '--lake', lakeA, '--schema', 'x'.repeat(64)], 'cannot be a PostgreSQL name'],
      [['export', '--to', 'postgres', 'orders', '--tables', 'customers', '--lake', lakeA], 'not both'],
    ]
    for (const [args, message] of cases) {
      const run = ecap(args, {env: closed, cwd: root})
      expect(run.status, `${args.join(' ')}\n${run.stderr}`).toBe(2)
      expect(run.stderr).toContain(message)
    }
    expect(existsSync(join(root, 'x.csv'))).toBe(false)
  })
})

/** Waits until the export's session waits for the lock on `table` (its rows all loaded), or the export has exited. */
async function untilWaitingForLock(table: string, run: ReturnType<typeof startEcap>): Promise<void> {
  for (;;) {
    if (run.child.exitCode !== null) throw new Error(`the export exited early:\n${run.stderr()}`)
    const waiting = await reader.query(
      `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
       WHERE NOT l.granted AND l.relation = $1::regclass AND a.application_name = 'ecap export'`,
      [table],
    )
    if (waiting.rowCount! > 0) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
