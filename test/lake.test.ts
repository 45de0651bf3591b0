import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {Engine, withEngine} from '../src/lib/engine/engine.js'
import {EcapError} from '../src/lib/errors.js'
import {EVENT_COLUMNS} from '../src/lib/events/columns.js'
import {GENERATE_DEFAULTS, generateShop} from '../src/lib/generate/index.js'
import {LakeSink} from '../src/lib/generate/sinks/lake-sink.js'
import type {AddAction} from '../src/lib/lake/actions.js'
import {listCommitVersions, readCommit, readSnapshot, type Snapshot} from '../src/lib/lake/delta-log.js'
import {type AppendResult, appendEvents, EVENTS_TABLE, rowsOf, STAGING_DIR, tablePath} from '../src/lib/lake/lake.js'
import {writeEventFiles} from '../src/lib/lake/parquet-files.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {cents, type NdjsonTruth, shopNdjson} from './helpers/lake.js'
import {readWithDeltaRs} from './helpers/python.js'

const tempDirs: string[] = []
/** A writer in a process of its own; it runs the built code, which `npm test` builds first (pretest). */
const APPEND_WORKER = fileURLToPath(new URL('./helpers/append-worker.mjs', import.meta.url))
const BUILT_LAKE = fileURLToPath(new URL('../dist/lib/lake/lake.js', import.meta.url))

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecap-lake-'))
  tempDirs.push(dir)
  return dir
}

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, {recursive: true, force: true})))
})

interface DeltaStats {
  numRecords: number
  minValues: Record<string, string | number>
  maxValues: Record<string, string | number>
  nullCount: Record<string, number>
}

function statsOf(add: AddAction): DeltaStats {
  expect(add.stats, `${add.path} has no stats`).toBeTypeOf('string')
  return JSON.parse(add.stats as string) as DeltaStats
}

function filePath(table: string, add: AddAction): string {
  return join(table, decodeURIComponent(add.path))
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true})
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
}

describe('a lake with two appends', () => {
  let engine: Engine
  let lake: string
  let table: string
  let first: NdjsonTruth
  let second: NdjsonTruth
  let appended: AppendResult[]
  let snapshot: Snapshot

  beforeAll(async () => {
    const dir = await tempDir()
    lake = join(dir, 'lake')
    table = tablePath(lake, EVENTS_TABLE)
    first = await shopNdjson(dir, 'first.ndjson', {seed: 1})
    // Starts in the middle of the first shop's period, so both appends write into some of the same partitions.
    second = await shopNdjson(dir, 'second.ndjson', {seed: 2, start: '2026-01-20', days: 20})
    engine = await Engine.open()
    appended = [await appendEvents(engine, lake, first.path), await appendEvents(engine, lake, second.path)]
    snapshot = await registerTableView(engine, 'events', table)
  })

  afterAll(() => engine?.close())

  async function one(sql: string): Promise<Record<string, unknown>> {
    const [row] = await engine.rows(sql)
    return row as Record<string, unknown>
  }

  it('commits versions 0 and 1 whose files and rows add up to the input', async () => {
    expect(appended.map((a) => a.version)).toEqual([0, 1])
    expect(appended.map((a) => a.rows)).toEqual([first.lines, second.lines])
    expect(await listCommitVersions(table)).toEqual([0, 1])
    expect(snapshot.version).toBe(1)
    expect(snapshot.metadata.partitionColumns).toEqual(['event_date'])

    const addsOf = async (version: number) =>
      (await readCommit(table, version)).flatMap((a) => ('add' in a ? [a.add] : ([] as AddAction[])))
    const [adds0, adds1] = [await addsOf(0), await addsOf(1)]
    expect(adds0).toHaveLength(appended[0]?.files as number)
    expect(adds1).toHaveLength(appended[1]?.files as number)
    expect(adds0.reduce((s, a) => s + rowsOf(a), 0)).toBe(first.lines)
    expect(adds1.reduce((s, a) => s + rowsOf(a), 0)).toBe(second.lines)
    expect([...snapshot.files.keys()].sort()).toEqual([...adds0, ...adds1].map((a) => a.path).sort())
    // Each append writes into the partitions of its own dates; those the inputs share get files from both.
    const datesOf = (adds: AddAction[]) => [...new Set(adds.map((a) => a.partitionValues.event_date))].sort()
    expect(datesOf(adds0)).toEqual([...first.dates].sort())
    expect(datesOf(adds1)).toEqual([...second.dates].sort())
  })

  it('reads back every event through the snapshot view: count, totals, dates and order lines', async () => {
    const sums = await one(`
      SELECT count(*) AS n,
             CAST(sum(total) * 100 AS BIGINT)::VARCHAR AS total_cents,
             sum(quantity)::VARCHAR AS quantity,
             count(DISTINCT event_id) AS ids
      FROM events`)
    expect(Number(sums.n)).toBe(first.lines + second.lines)
    expect(Number(sums.ids)).toBe(first.lines + second.lines)
    expect(BigInt(sums.total_cents as string)).toBe(first.totalCents + second.totalCents)
    expect(Number(sums.quantity)).toBe(first.quantity + second.quantity)

    // items is a list of structs: its quantities and values survive the trip through Parquet.
    const items = await one(`
      SELECT sum(line.quantity)::VARCHAR AS quantity,
             CAST(sum(line.quantity * line.unit_price) * 100 AS BIGINT)::VARCHAR AS value_cents,
             count(*) AS lines
      FROM (SELECT unnest(items) AS line FROM events)`)
    expect(Number(items.quantity)).toBe(first.itemQuantity + second.itemQuantity)
    expect(BigInt(items.value_cents as string)).toBe(first.itemValueCents + second.itemValueCents)
    expect(first.itemQuantity).toBeGreaterThan(0)

    // Row by row: event_time comes back to the millisecond and event_date is its UTC date.
    const rows = await engine.rows(`
      SELECT event_id,
             strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS event_time,
             CAST(event_date AS VARCHAR) AS event_date
      FROM events`)
    const expected = new Map([...first.eventTimes, ...second.eventTimes])
    const wrong = rows.filter((row) => {
      const time = expected.get(row.event_id as string)
      return time === undefined || row.event_time !== time || row.event_date !== time.slice(0, 10)
    })
    expect(wrong.slice(0, 5)).toEqual([])
    expect(rows).toHaveLength(expected.size)
  })

  it('is read the same by delta-rs, a real Delta reader', async () => {
    const delta = readWithDeltaRs(table)
    const ours = await one(`
      SELECT count(*) AS n, sum(total)::VARCHAR AS total, sum(quantity)::VARCHAR AS quantity,
             list(DISTINCT CAST(event_date AS VARCHAR) ORDER BY CAST(event_date AS VARCHAR)) AS dates
      FROM events`)
    expect(delta.version).toBe(snapshot.version)
    expect(delta.files).toBe(snapshot.files.size)
    expect(delta.rows).toBe(Number(ours.n))
    expect(delta.rows).toBe(first.lines + second.lines)
    expect(delta.distinct_event_ids).toBe(delta.rows)
    expect(delta.partitions).toEqual(ours.dates)
    expect(delta.partitions).toEqual([...new Set([...first.dates, ...second.dates])].sort())
    expect(cents(delta.sum_total)).toBe(cents(ours.total as string))
    expect(cents(delta.sum_total)).toBe(first.totalCents + second.totalCents)
    expect(delta.sum_quantity).toBe(Number(ours.quantity))
  })

  it('writes Parquet files DuckDB reads one by one, with UTC microsecond timestamps and no partition column', async () => {
    for (const add of snapshot.files.values()) {
      const file = filePath(table, add)
      const [counted] = await engine.rows(
        `SELECT count(*) AS n,
                min(CAST(event_time AT TIME ZONE 'UTC' AS DATE))::VARCHAR AS first_date,
                max(CAST(event_time AT TIME ZONE 'UTC' AS DATE))::VARCHAR AS last_date
         FROM read_parquet(?)`,
        [file],
      )
      expect(Number(counted?.n), add.path).toBe(statsOf(add).numRecords)
      // Every row of a file belongs to the partition the log names, and to the folder the file sits in.
      expect([counted?.first_date, counted?.last_date]).toEqual([
        add.partitionValues.event_date,
        add.partitionValues.event_date,
      ])
      expect(add.path.startsWith(`event_date=${add.partitionValues.event_date}/`)).toBe(true)

      const [meta] = await engine.rows('SELECT sum(num_rows) AS n FROM parquet_file_metadata(?)', [file])
      expect(Number(meta?.n)).toBe(statsOf(add).numRecords)

      const schema = await engine.rows(
        'SELECT name, type, converted_type, logical_type, scale, precision FROM parquet_schema(?)',
        [file],
      )
      const byName = new Map(schema.map((row) => [row.name as string, row]))
      const time = byName.get('event_time')
      expect(time, `${add.path} has no event_time`).toBeDefined()
      expect(time?.type).toBe('INT64')
      expect(time?.converted_type).toBe('TIMESTAMP_MICROS')
      expect(time?.logical_type).toMatch(/isAdjustedToUTC=(1|true)/)
      expect(time?.logical_type).toMatch(/MICROS=MicroSeconds\(\)/)
      expect(time?.logical_type).toMatch(/NANOS=<null>/)
      expect(byName.get('total')).toMatchObject({converted_type: 'DECIMAL', precision: '12', scale: '2'})
      // Delta keeps partition values in the log only; a data file holding them too would disagree with readers.
      expect(byName.has('event_date')).toBe(false)
    }
  })

  it('records per-file Delta stats that match the data: min, max and null count', async () => {
    const statColumns = EVENT_COLUMNS.filter((c) => !c.duckdbType.endsWith('[]'))
    const key = (c: string) => c.replaceAll('"', '')
    const select = statColumns.flatMap((c) => {
      const col = `"${c.name}"`
      const value = (agg: string) =>
        c.duckdbType === 'TIMESTAMPTZ'
          ? `strftime(${agg}(${col}) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ')`
          : `${agg}(${col})::VARCHAR`
      return [
        `count(${col}) AS "${key(c.name)}__count"`,
        `${value('min')} AS "${key(c.name)}__min"`,
        `${value('max')} AS "${key(c.name)}__max"`,
      ]
    })
    const checked = {event_time: 0, total: 0, customer_id: 0}
    for (const add of snapshot.files.values()) {
      const stats = statsOf(add)
      const [actual] = await engine.rows(`SELECT count(*) AS n, ${select.join(', ')} FROM read_parquet(?)`, [
        filePath(table, add),
      ])
      const row = actual as Record<string, string | null>
      expect(stats.numRecords).toBe(Number(row.n))
      for (const c of statColumns) {
        const where = `${add.path} ${c.name}`
        const count = Number(row[`${c.name}__count`])
        expect(stats.nullCount[c.name], where).toBe(stats.numRecords - count)
        if (count === 0) {
          expect(stats.minValues[c.name], where).toBeUndefined()
          expect(stats.maxValues[c.name], where).toBeUndefined()
          continue
        }
        const min = row[`${c.name}__min`]
        const max = row[`${c.name}__max`]
        if (c.duckdbType === 'VARCHAR' || c.duckdbType === 'TIMESTAMPTZ') {
          expect([stats.minValues[c.name], stats.maxValues[c.name]], where).toEqual([min, max])
        } else {
          // Numbers are JSON numbers in Delta stats.
          expect([stats.minValues[c.name], stats.maxValues[c.name]], where).toEqual([Number(min), Number(max)])
        }
        if (c.name in checked) checked[c.name as keyof typeof checked]++
      }
      // Delta readers parse timestamp stats as ISO 8601 in UTC.
      expect(stats.minValues.event_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    }
    expect(checked.event_time).toBe(snapshot.files.size)
    expect(checked.total).toBeGreaterThan(0)
    expect(checked.customer_id).toBeGreaterThan(0)
  })
})

describe('what readers never see', () => {
  it('keeps files of a writer that crashed before its commit invisible', async () => {
    const dir = await tempDir()
    const lake = join(dir, 'lake')
    const table = tablePath(lake, EVENTS_TABLE)
    const committed = await shopNdjson(dir, 'committed.ndjson', {seed: 3, days: 10, customers: 200})
    const orphaned = await shopNdjson(dir, 'orphaned.ndjson', {seed: 4, days: 10, customers: 200})
    await withEngine(async (engine) => {
      await appendEvents(engine, lake, committed.path)
      // The writer gets as far as its Parquet files, then dies before commitAppend.
      const adds = await writeEventFiles(engine, orphaned.path, table)
      expect(adds.length).toBeGreaterThan(0)
      for (const add of adds) expect(existsSync(filePath(table, add)), add.path).toBe(true)

      const snapshot = await registerTableView(engine, 'events', table)
      expect(snapshot.version).toBe(0)
      const [row] = await engine.rows('SELECT count(*) AS n FROM events')
      expect(Number(row?.n)).toBe(committed.lines)
      const parquetOnDisk = (await filesUnder(table)).filter((f) => f.endsWith('.parquet'))
      expect(parquetOnDisk).toHaveLength(snapshot.files.size + adds.length)
    })
    const delta = readWithDeltaRs(table)
    expect([delta.version, delta.rows]).toEqual([0, committed.lines])
  })

  it('refuses a table whose data file was deleted by hand (DELTA_FILE_MISSING, exit 3)', async () => {
    const dir = await tempDir()
    const lake = join(dir, 'lake')
    const table = tablePath(lake, EVENTS_TABLE)
    const input = await shopNdjson(dir, 'in.ndjson', {seed: 5, days: 5, customers: 100})
    await withEngine(async (engine) => {
      await appendEvents(engine, lake, input.path)
      const [victim] = (await readSnapshot(table, {engine})).files.values()
      await rm(filePath(table, victim as AddAction))
      const error = await registerTableView(engine, 'events', table).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(EcapError)
      expect(error).toMatchObject({code: 'DELTA_FILE_MISSING', exitCode: 3})
      expect((error as Error).message).toContain(decodeURIComponent((victim as AddAction).path))
    })
  })
})

describe('concurrent writers', () => {
  const children: ChildProcess[] = []

  afterEach(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })

  /** Starts a worker and resolves once it has DuckDB open; `go()` lets it append, `done` gives its versions. */
  async function startWorker(lake: string, ndjson: string, count: number) {
    const child = spawn(process.execPath, [APPEND_WORKER, lake, ndjson, String(count)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    children.push(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const done = new Promise<number[]>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', (code) => {
        if (code !== 0) reject(new Error(`append worker exited with ${code}: ${stderr}`))
        else resolve((JSON.parse(stdout.split('\n')[1] as string) as {versions: number[]}).versions)
      })
    })
    await new Promise<void>((resolve, reject) => {
      const check = () => (stdout.startsWith('ready\n') ? resolve() : undefined)
      child.stdout.on('data', check)
      done.catch(reject)
      check()
    })
    return {go: () => child.stdin.end('go\n'), done}
  }

  it('two processes appending at once get contiguous versions, distinct files and one table header', async () => {
    expect(existsSync(BUILT_LAKE), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
    const dir = await tempDir()
    const lake = join(dir, 'lake')
    const table = tablePath(lake, EVENTS_TABLE)
    const inputs = [
      await shopNdjson(dir, 'a.ndjson', {seed: 11, customers: 60, days: 5}),
      await shopNdjson(dir, 'b.ndjson', {seed: 12, customers: 60, days: 5}),
    ]
    const perWorker = 5
    // Both start on an empty lake, so they also race to create the table.
    const workers = await Promise.all(inputs.map((input) => startWorker(lake, input.path, perWorker)))
    for (const worker of workers) worker.go()
    const [versionsA, versionsB] = await Promise.all(workers.map((w) => w.done))

    expect(versionsA).toHaveLength(perWorker)
    expect(versionsB).toHaveLength(perWorker)
    expect([...(versionsA as number[]), ...(versionsB as number[])].sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ])
    expect(await listCommitVersions(table)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])

    const paths: string[] = []
    const headers: number[] = []
    for (const version of await listCommitVersions(table)) {
      const actions = await readCommit(table, version)
      if (actions.some((a) => 'protocol' in a || 'metaData' in a)) headers.push(version)
      paths.push(...actions.flatMap((a) => ('add' in a ? [a.add.path] : [])))
    }
    expect(headers).toEqual([0])
    expect(new Set(paths).size).toBe(paths.length)

    const expectedRows = perWorker * (inputs[0]!.lines + inputs[1]!.lines)
    const snapshot = await withEngine((engine) => readSnapshot(table, {engine}))
    expect(snapshot.version).toBe(9)
    expect(snapshot.files.size).toBe(paths.length)
    expect([...snapshot.files.values()].reduce((sum, add) => sum + rowsOf(add), 0)).toBe(expectedRows)
    await withEngine(async (engine) => {
      await registerTableView(engine, 'events', table)
      const [row] = await engine.rows('SELECT count(*) AS n FROM events')
      expect(Number(row?.n)).toBe(expectedRows)
    })
    expect(readWithDeltaRs(table)).toMatchObject({version: 9, rows: expectedRows})
  })
})

describe('LakeSink', () => {
  it('commits a run staged in several chunks as one version and leaves no staging files', async () => {
    const dir = await tempDir()
    const lake = join(dir, 'lake')
    const table = tablePath(lake, EVENTS_TABLE)
    const options = {...GENERATE_DEFAULTS, seed: 6, customers: 200, days: 10}
    // The same seed written as NDJSON: what the lake must hold.
    const truth = await shopNdjson(dir, 'same.ndjson', options)
    await withEngine(async (engine) => {
      const sink = new LakeSink(engine, lake, 500)
      const result = await generateShop(options, {events: sink})
      expect(result.events).toBe(truth.lines)
      expect(result.events).toBeGreaterThan(1000)
      expect(sink.result).toMatchObject({version: 0, rows: truth.lines})
      // At least one file per chunk and day: more files than partitions shows the chunks were all kept.
      expect(sink.result?.files).toBeGreaterThan(truth.dates.size)
      expect(await listCommitVersions(table)).toEqual([0])
      await registerTableView(engine, 'events', table)
      const [row] = await engine.rows(
        'SELECT count(*) AS n, CAST(sum(total) * 100 AS BIGINT)::VARCHAR AS total_cents FROM events',
      )
      expect(Number(row?.n)).toBe(truth.lines)
      expect(BigInt(row?.total_cents as string)).toBe(truth.totalCents)
    })
    expect(await filesUnder(join(lake, STAGING_DIR))).toEqual([])
  })

  it('commits nothing when the run is interrupted, and removes its staging folder and uncommitted files', async () => {
    const dir = await tempDir()
    const lake = join(dir, 'lake')
    const table = tablePath(lake, EVENTS_TABLE)
    await withEngine(async (engine) => {
      const sink = new LakeSink(engine, lake, 500)
      // Interrupted after the last event, just before the commit: every chunk has become Parquet by then.
      const run = generateShop(
        {...GENERATE_DEFAULTS, seed: 7, customers: 200, days: 10},
        {events: sink},
        {
          signal: AbortSignal.abort(new Error('stop')),
        },
      )
      await expect(run).rejects.toThrow('stop')
      expect(sink.result).toBeUndefined()
    })
    // The chunks converted before the interrupt were never committed, so the sink deletes them itself.
    expect((await filesUnder(table)).filter((f) => f.endsWith('.parquet'))).toEqual([])
    expect(await listCommitVersions(table)).toEqual([])
    expect(await filesUnder(join(lake, STAGING_DIR))).toEqual([])
  })
})

describe('an empty table', () => {
  it('has a view with the columns of the table schema, so queries that name them work', async () => {
    const dir = await tempDir()
    const lake = join(dir, 'lake')
    const empty = join(dir, 'empty.ndjson')
    await writeFile(empty, '')
    await withEngine(async (engine) => {
      expect(await appendEvents(engine, lake, empty)).toMatchObject({version: 0, files: 0, rows: 0})
      await registerTableView(engine, 'events', tablePath(lake, EVENTS_TABLE))
      const [row] = await engine.rows(
        'SELECT count(*) AS n, sum(total) AS total, max(event_time) AS latest, min(event_date) AS first FROM events',
      )
      expect(row).toEqual({n: '0', total: null, latest: null, first: null})
      // The same columns and types as the view of a table with files.
      const describe = async (view: string) =>
        (await engine.rows(`SELECT column_name, column_type FROM (DESCRIBE ${view})`)).map(
          (c) => `${c.column_name} ${c.column_type}`,
        )
      const input = await shopNdjson(dir, 'some.ndjson', {seed: 8, customers: 50, days: 3})
      await appendEvents(engine, join(dir, 'other'), input.path)
      await registerTableView(engine, 'some_events', tablePath(join(dir, 'other'), EVENTS_TABLE))
      const columns = await describe('events')
      expect(columns).toEqual(await describe('some_events'))
      expect(columns.map((c) => c.split(' ')[0])).toEqual([...EVENT_COLUMNS.map((c) => c.name), 'event_date'])
      expect(columns).toContain('event_time TIMESTAMP WITH TIME ZONE')
      expect(columns).toContain('event_date DATE')
    })
  })
})
