import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {DoctorCheck} from '../src/lib/setup/doctor.js'
import type {LocalTrino} from '../src/lib/trino/local-trino.js'
import {type EcapProcess, startEcap} from './helpers/cli.js'
import {testBrokers} from './helpers/kafka.js'
import {newBucket} from './helpers/s3.js'
import {startTestTrino, trinoQuery} from './helpers/trino.js'

/**
 * `ecap lake register --engine trino` and the Trino lines of `ecap doctor`, against a real Trino 476 (one JVM for the
 * file): registering is idempotent, never re-points a name another lake holds, says which catalog property to set when
 * the procedure is off, and leaves a table `ecap analyze --engine trino` reads. Doctor tells a good setup (0) from an
 * unregistered table (2) and a server that does not answer (4).
 */

/** A second catalog over the same metastore whose register_table is off, as a cluster's administrator may leave it. */
const LOCKED_CATALOG = 'delta_locked'
const GENERATE = ['generate', '--to', 'lake', '--days', '10', '--customers', '150', '-q']

let trino: LocalTrino | undefined
let work: string
let lakes: {a: string; b: string; s3: string}

interface Envelope<T> {
  status: number
  result: T | null
  error?: {code: string; message: string; hints: string[]}
}

interface RegisterResult {
  engine: string
  table: string
  location: string
  lake: string
  eventsVersion: number
  registered: boolean
}

/** Runs `ecap <args>` against the test Trino (schema `reg` unless `env` says otherwise) and waits for its exit. */
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{code: number | null; process: EcapProcess}> {
  const process = startEcap(args, {
    cwd: work,
    env: {ECAP_TRINO_URL: trino!.url, ECAP_TRINO_SCHEMA: 'reg', ...env},
  })
  const {code} = await process.exited
  return {code, process}
}

/** Runs `ecap <args> --json`, expects exit `code`, and returns the parsed envelope. */
async function runJson<T>(args: string[], code: number, env: NodeJS.ProcessEnv = {}): Promise<Envelope<T>> {
  const {code: exit, process} = await run([...args, '--json'], env)
  expect(exit, `ecap ${args.join(' ')}\n${process.stdout()}\n${process.stderr()}`).toBe(code)
  return JSON.parse(process.stdout()) as Envelope<T>
}

function register(lake: string, code: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return runJson<RegisterResult>(['lake', 'register', '--engine', 'trino', '--lake', lake, ...extra], code, env)
}

/** `ecap doctor --json` with the test broker (so Kafka says nothing of its own) and the checks by name. */
async function doctor(lake: string, code: number, env: NodeJS.ProcessEnv = {}) {
  const envelope = await runJson<{exitCode: number; checks: DoctorCheck[]}>(
    ['doctor', '--lake', lake, '--brokers', testBrokers(), '--engine', 'trino'],
    code,
    env,
  )
  expect(envelope.status).toBe(code)
  return new Map(envelope.result!.checks.map((check) => [check.name, check]))
}

async function locationInTrino(table: string): Promise<string | undefined> {
  const [[ddl]] = (await trinoQuery(trino!, `SHOW CREATE TABLE ${table}`)) as [[string]]
  return /location = '([^']*)'/.exec(ddl)?.[1]
}

/** A loopback port nothing listens on: bound, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ecap-lake-register-'))
  lakes = {a: join(work, 'lake-a'), b: join(work, 'lake-b'), s3: `s3://${await newBucket('register')}/shop/lake`}
  // The JVM starts while the lakes are written.
  const started = startTestTrino({extraCatalogs: {[LOCKED_CATALOG]: {'delta.register-table-procedure.enabled': false}}})
  try {
    const runs = [
      startEcap([...GENERATE, '--seed', '7', '--lake', lakes.a], {cwd: work}),
      startEcap([...GENERATE, '--seed', '8', '--lake', lakes.b], {cwd: work}),
      startEcap([...GENERATE, '--seed', '9', '--lake', lakes.s3], {cwd: work}),
    ]
    for (const generate of runs) expect((await generate.exited).code, generate.stderr()).toBe(0)
  } finally {
    trino = await started
  }
}, 240_000)

afterAll(async () => {
  await trino?.stop()
  if (work) rmSync(work, {recursive: true, force: true})
})

describe('ecap lake register --engine trino', () => {
  it('registers a local lake, then leaves it as it is when run again (exit 0 both times)', async () => {
    const first = await register(lakes.a, 0)
    expect(first.result).toEqual({
      engine: 'trino',
      table: 'delta.reg.events',
      location: `local://${lakes.a}/events`,
      lake: lakes.a,
      eventsVersion: 0,
      registered: true,
    })
    expect(await locationInTrino('delta.reg.events')).toBe(`local://${lakes.a}/events`)

    const again = await register(lakes.a, 0)
    expect(again.result).toEqual({...first.result, registered: false})

    const {code, process} = await run(['lake', 'register', '--engine', 'trino', '--lake', lakes.a])
    expect(code).toBe(0)
    expect(process.stdout()).toContain('delta.reg.events already reads')
  })

  it('refuses a second lake under a name that reads the first (exit 2), and registers it under another', async () => {
    await register(lakes.a, 0)
    const taken = await register(lakes.b, 2)
    expect(taken.error?.code).toBe('TRINO_TABLE_ELSEWHERE')
    expect(taken.error?.message).toContain(`local://${lakes.a}/events`)
    expect(taken.error?.hints.join('\n')).toContain('--trino-table events_2')
    expect(taken.error?.hints.join('\n')).toContain("delta.system.unregister_table(schema_name => 'reg'")
    // The first lake's registration is untouched.
    expect(await locationInTrino('delta.reg.events')).toBe(`local://${lakes.a}/events`)

    const other = await register(lakes.b, 0, ['--trino-table', 'events_b'])
    expect(other.result?.table).toBe('delta.reg.events_b')
    expect(await locationInTrino('delta.reg.events_b')).toBe(`local://${lakes.b}/events`)
  })

  it('quotes what it sends: a table name with a quote and a double quote registers and reads back', async () => {
    const odd = `o'd"d`
    const registered = await register(lakes.b, 0, ['--trino-table', odd])
    expect(registered.result).toMatchObject({table: `delta.reg.${odd}`, location: `local://${lakes.b}/events`})
    expect(await locationInTrino('delta.reg."o\'d""d"')).toBe(`local://${lakes.b}/events`)
    expect((await register(lakes.b, 0, ['--trino-table', odd])).result?.registered).toBe(false)
  })

  it('names the catalog property when the catalog does not allow register_table (exit 2)', async () => {
    const locked = await register(lakes.a, 2, [], {ECAP_TRINO_CATALOG: LOCKED_CATALOG, ECAP_TRINO_SCHEMA: 'locked'})
    expect(locked.error?.code).toBe('TRINO_REGISTER_DISABLED')
    expect(locked.error?.hints.join('\n')).toContain(
      `delta.register-table-procedure.enabled=true in etc/catalog/${LOCKED_CATALOG}.properties`,
    )
  })

  it('asks for --engine trino: DuckDB has nothing to register (exit 2)', async () => {
    const duckdb = await runJson<RegisterResult>(['lake', 'register', '--lake', lakes.a], 2)
    expect(duckdb.error?.code).toBe('REGISTER_ENGINE_NEEDED')
    expect(duckdb.error?.hints).toContain('ecap lake register --engine trino')
  })

  it('fails a catalog Trino does not have, and a lake without an events table, before calling anything', async () => {
    const missing = await register(lakes.a, 2, [], {ECAP_TRINO_CATALOG: 'nowhere'})
    expect(missing.error?.code).toBe('TRINO_CATALOG_MISSING')
    expect(missing.error?.hints).toContain('ECAP_TRINO_CATALOG=delta')

    const empty = await register(join(work, 'no-lake'), 3)
    expect(empty.error?.code).toBe('DELTA_TABLE_MISSING')
  })

  it('leaves a table `ecap analyze --engine trino` reads, with the same result as DuckDB', async () => {
    await register(lakes.a, 0)
    const onTrino = await runJson<{customers: number; extract?: {engine: string; rows: number; bytes: number}}>(
      ['analyze', 'rfm', '--lake', lakes.a, '--engine', 'trino'],
      0,
    )
    expect(onTrino.result?.extract?.engine).toBe('trino')
    expect(onTrino.result?.extract?.rows).toBeGreaterThan(0)
    const onDuckdb = await runJson<{customers: number; extract?: unknown}>(
      ['analyze', 'rfm', '--lake', lakes.a, '--engine', 'duckdb'],
      0,
    )
    expect(onDuckdb.result?.extract).toBeUndefined()
    expect(onTrino.result?.customers).toBe(onDuckdb.result?.customers)
  })

  it('registers an s3:// lake (Trino reads the S3 test server, path-style) for analyses there', async () => {
    const s3 = await register(lakes.s3, 0, ['--trino-table', 'events_s3'])
    expect(s3.result?.location).toBe(`${lakes.s3}/events`)
    expect(await locationInTrino('delta.reg.events_s3')).toBe(`${lakes.s3}/events`)
    const rfm = await runJson<{extract?: {rows: number}}>(
      ['analyze', 'rfm', '--lake', lakes.s3, '--engine', 'trino'],
      0,
      {
        ECAP_TRINO_TABLE: 'events_s3',
      },
    )
    expect(rfm.result?.extract?.rows).toBeGreaterThan(0)
  })
})

describe('ecap doctor with --engine trino', () => {
  it('passes a registered lake: the server answers and the table reads this lake (exit 0)', async () => {
    await register(lakes.a, 0)
    const checks = await doctor(lakes.a, 0)
    expect(checks.get('trino')).toMatchObject({status: 'ok', detail: expect.stringContaining('Trino 476')})
    expect(checks.get('trino-table')).toMatchObject({
      status: 'ok',
      detail: `delta.reg.events reads local://${lakes.a}/events`,
    })
  })

  it('fails a table that is not registered with the register command as the fix (exit 2)', async () => {
    const checks = await doctor(lakes.a, 2, {ECAP_TRINO_TABLE: 'never_registered'})
    expect(checks.get('trino')?.status).toBe('ok')
    const table = checks.get('trino-table')!
    expect(table).toMatchObject({status: 'fail', exitCode: 2})
    expect(table.detail).toContain('delta.reg.never_registered is not registered')
    expect(table.hints[0]).toBe(`ecap lake register --engine trino --lake ${lakes.a} --trino-table never_registered`)
  })

  it('fails a table that reads another lake (exit 2)', async () => {
    await register(lakes.a, 0)
    const checks = await doctor(lakes.b, 2)
    expect(checks.get('trino-table')).toMatchObject({status: 'fail', exitCode: 2})
    expect(checks.get('trino-table')?.detail).toContain(`reads local://${lakes.a}/events, not this lake's`)
  })

  it('fails a server that does not answer (exit 4), and checks no table there', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const checks = await doctor(lakes.a, 4, {ECAP_TRINO_URL: url})
    expect(checks.get('trino')).toMatchObject({status: 'fail', exitCode: 4})
    expect(checks.get('trino')?.detail).toContain(`Trino at ${url} does not answer`)
    expect(checks.get('trino-table')?.status).toBe('skip')
  })

  it('fails a server that takes the connection but never answers (exit 4) after its 10 s, and the run ends', async () => {
    // A TCP listener that accepts and stays silent: what a hung coordinator or a half-open proxy looks like.
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => sockets.add(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(silent.address() as {port: number}).port}`
      const checks = await doctor(lakes.a, 4, {ECAP_TRINO_URL: url})
      expect(checks.get('trino')).toMatchObject({status: 'fail', exitCode: 4})
      expect(checks.get('trino')?.detail).toBe(`Trino at ${url} did not answer within 10 s.`)
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => silent.close(() => resolve()))
    }
  }, 60_000)

  it('fails the config line for an engine ecap does not know (exit 2)', async () => {
    const envelope = await runJson<{checks: DoctorCheck[]}>(
      ['doctor', '--lake', lakes.a, '--brokers', testBrokers()],
      2,
      {ECAP_ENGINE: 'spark'},
    )
    const config = envelope.result!.checks.find((check) => check.name === 'config')
    expect(config).toMatchObject({status: 'fail', exitCode: 2})
    expect(config?.detail).toContain('"spark"')
  })

  it('has no Trino lines for a DuckDB setup', async () => {
    const envelope = await runJson<{checks: DoctorCheck[]}>(
      ['doctor', '--lake', lakes.a, '--brokers', testBrokers()],
      0,
      {ECAP_TRINO_URL: ''},
    )
    expect(envelope.result!.checks.map((check) => check.name)).not.toContain('trino')
  })
})
