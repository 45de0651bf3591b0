import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {EcapError} from '../src/lib/errors.js'
import type {ImportResult} from '../src/lib/import/import.js'
import {S3Storage} from '../src/lib/lake/s3-storage.js'
import type {DoctorCheck, DoctorResult} from '../src/lib/setup/doctor.js'
import {ecap, startEcap} from './helpers/cli.js'
import {uuid3} from './helpers/import-ids.js'
import {testBrokers} from './helpers/kafka.js'
import {eventIdsWithDeltaRs, idsDigest} from './helpers/python.js'
import {newBucket} from './helpers/s3.js'
import {startFaultyProxy} from './helpers/s3-proxy.js'

/**
 * import, doctor, demo and init on an `s3://bucket/prefix` lake, run as a user runs them (the built `ecap`) against the
 * S3-compatible test server, with delta-rs reading back what they wrote; and the exit codes of a missing bucket (2),
 * an unreachable store (4) and a plain-HTTP endpoint the user did not allow (2).
 */

const dir = mkdtempSync(join(tmpdir(), 'ecap-s3-setup-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** A working folder of its own per run: nothing ecap does on an S3 lake may appear in it (no folder named s3:). */
function workDir(name: string): string {
  const cwd = join(dir, name)
  mkdirSync(cwd, {recursive: true})
  return cwd
}

const MAP = 'order=Order,product=Sku,quantity=Qty,price=Price,time=Time,customer=Customer'
const importArgs = (file: string, lake: string) => ['import', file, '--lake', lake, '--map', MAP, '--currency', 'EUR']

/** Orders O<from> … O<to>, two lines each; an order number has the same lines in every file. */
function ordersFile(name: string, from: number, to: number): string {
  const lines = ['Order,Sku,Qty,Price,Time,Customer']
  for (let n = from; n <= to; n++) {
    const time = new Date(Date.UTC(2024, 2, 1) + n * 60_000).toISOString()
    lines.push(`O${n},sku-a,${(n % 3) + 1},2.50,${time},c${n % 7}`, `O${n},sku-b,1,4.00,${time},c${n % 7}`)
  }
  const file = join(dir, name)
  writeFileSync(file, `${lines.join('\n')}\n`)
  return file
}

function idsOf(from: number, to: number): string[] {
  const ids: string[] = []
  for (let n = from; n <= to; n++) ids.push(uuid3(`purchase:O${n}`))
  return ids
}

/** The commits of a table: their versions (which must run 0..N) and the txn appIds each carries. */
async function commitLog(table: string): Promise<{versions: number[]; apps: string[][]}> {
  const storage = new S3Storage(table)
  const names = (await storage.list('_delta_log')).map((e) => e.name).filter((n) => /^\d{20}\.json$/.test(n))
  const versions = names.map((n) => Number(n.slice(0, 20))).sort((a, b) => a - b)
  const apps: string[][] = []
  for (const version of versions) {
    const text = (await storage.readText(`_delta_log/${String(version).padStart(20, '0')}.json`)) ?? ''
    const actions = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as {txn?: {appId: string}})
    apps.push(actions.flatMap((a) => (a.txn ? [a.txn.appId] : [])))
  }
  return {versions, apps}
}

/** Every key of the bucket (the whole store the lake lives in). */
async function keysOf(bucket: string): Promise<string[]> {
  const storage = new S3Storage(`s3://${bucket}`)
  const keys: string[] = []
  const visit = async (path: string) => {
    for (const entry of await storage.list(path)) {
      const child = path === '' ? entry.name : `${path}/${entry.name}`
      if (entry.folder) await visit(child)
      else keys.push(child)
    }
  }
  await visit('')
  return keys.sort()
}

function json<T>(run: ReturnType<typeof ecap>): T {
  return JSON.parse(run.stdout) as T
}

/** A port where nothing listens: a store that does not answer. */
const CLOSED_ENDPOINT = 'http://127.0.0.1:1'

describe('ecap import into an s3:// lake', () => {
  it('imports an order history that delta-rs reads back, and a second import of the file writes nothing', async () => {
    const bucket = await newBucket('import')
    const lake = `s3://${bucket}/shop`
    const cwd = workDir('import')
    const file = ordersFile('history.csv', 1, 120)

    const first = ecap([...importArgs(file, lake), '--json'], {cwd, timeoutMs: 120_000})
    expect(first.status, first.stderr).toBe(0)
    const result = json<{result: ImportResult}>(first).result
    expect(result).toMatchObject({status: 'imported', version: 0, lake, eventsWritten: 120, orders: 120})

    const read = eventIdsWithDeltaRs(`${lake}/events`)
    expect(read).toEqual({rows: 120, distinct: 120, digest: idsDigest(idsOf(1, 120))})

    const again = ecap([...importArgs(file, lake), '--json'], {cwd, timeoutMs: 120_000})
    expect(again.status, again.stderr).toBe(0)
    expect(json<{result: ImportResult}>(again).result).toMatchObject({
      status: 'already-imported',
      version: 0,
      eventsWritten: 0,
    })
    expect((await commitLog(`${lake}/events`)).versions).toEqual([0])
    expect(eventIdsWithDeltaRs(`${lake}/events`).rows).toBe(120)
    expect(existsSync(join(cwd, 's3:'))).toBe(false)
  }, 300_000)

  it('three imports of overlapping files racing on one table land contiguous versions, every order once', async () => {
    const bucket = await newBucket('import-race')
    const lake = `s3://${bucket}/lake`
    const cwd = workDir('race-three')
    // Overlapping order numbers: the same event ids come from two files, and must land once.
    const files = [ordersFile('a.csv', 1, 60), ordersFile('b.csv', 41, 100), ordersFile('c.csv', 81, 140)]
    const runs = files.map((file) => startEcap([...importArgs(file, lake), '--json'], {cwd}))
    const results: ImportResult[] = []
    for (const run of runs) {
      const {code} = await run.exited
      expect(code, run.stderr()).toBe(0)
      results.push((JSON.parse(run.stdout()) as {result: ImportResult}).result)
    }
    // Each file lands once (an import with nothing new would be 'empty'), and what they wrote adds up to each order once.
    expect(results.every((r) => r.status === 'imported' || r.status === 'empty')).toBe(true)
    expect(results.reduce((sum, r) => sum + r.eventsWritten, 0)).toBe(140)

    const log = await commitLog(`${lake}/events`)
    const landed = results.filter((r) => r.status === 'imported')
    expect(log.versions).toEqual(landed.map((_, i) => i))
    expect(landed.map((r) => r.version).sort()).toEqual(log.versions)
    // Every commit names its file and counts the imports: 1, 2, 3 in version order.
    expect(log.apps.map((apps) => apps.filter((a) => a.startsWith('ecap:import:')).length)).toEqual(
      log.versions.map(() => 1),
    )

    const read = eventIdsWithDeltaRs(`${lake}/events`)
    expect(read).toEqual({rows: 140, distinct: 140, digest: idsDigest(idsOf(1, 140))})
  }, 300_000)

  it('two imports of the same file racing on one table: one imports it, the other finds it imported', async () => {
    const bucket = await newBucket('import-same')
    const lake = `s3://${bucket}/lake`
    const cwd = workDir('race-same')
    const file = ordersFile('same.csv', 1, 80)
    const runs = [0, 1].map(() => startEcap([...importArgs(file, lake), '--json'], {cwd}))
    const results: ImportResult[] = []
    for (const run of runs) {
      const {code} = await run.exited
      expect(code, run.stderr()).toBe(0)
      results.push((JSON.parse(run.stdout()) as {result: ImportResult}).result)
    }
    expect(results.map((r) => r.status).sort()).toEqual(['already-imported', 'imported'])
    expect(results.map((r) => r.version)).toEqual([0, 0])
    expect((await commitLog(`${lake}/events`)).versions).toEqual([0])
    expect(eventIdsWithDeltaRs(`${lake}/events`)).toEqual({rows: 80, distinct: 80, digest: idsDigest(idsOf(1, 80))})
  }, 300_000)
})

describe('errors on an s3:// lake', () => {
  const file = () => ordersFile('errors.csv', 1, 5)
  const cases: {what: string; args: (lake: string) => string[]}[] = [
    {what: 'import', args: (lake) => importArgs(file(), lake)},
    {what: 'generate --to lake', args: (lake) => ['generate', '--to', 'lake', '--lake', lake, '--events', '200']},
    {what: 'analyze rfm', args: (lake) => ['analyze', 'rfm', '--lake', lake]},
  ]

  it.each(cases)(
    '$what: a missing bucket is exit 2 with the fix, and nothing is written',
    async ({args}) => {
      const cwd = workDir('missing-bucket')
      const run = ecap([...args('s3://ecap-no-such-bucket-here/lake'), '--json'], {cwd, timeoutMs: 120_000})
      expect(run.status, run.stderr).toBe(2)
      const error = json<{error: {code: string; message: string; hints: string[]}}>(run).error
      expect(error.code).toBe('S3_BUCKET_MISSING')
      expect(error.hints.join(' ')).toContain('aws s3 mb s3://ecap-no-such-bucket-here')
      expect(existsSync(join(cwd, 's3:'))).toBe(false)
    },
    120_000,
  )

  it.each(cases)(
    '$what: an unreachable store is exit 4, and nothing half-written',
    async ({args}) => {
      const bucket = await newBucket('unreachable')
      const cwd = workDir('unreachable')
      const run = ecap([...args(`s3://${bucket}/lake`), '--json'], {
        cwd,
        env: {AWS_ENDPOINT_URL: CLOSED_ENDPOINT},
        timeoutMs: 120_000,
      })
      expect(run.status, run.stderr).toBe(4)
      const error = json<{error: {code: string; message: string; hints: string[]}}>(run).error
      expect(error.code).toBe('S3_UNAVAILABLE')
      expect(error.message).toContain('did not answer')
      expect(error.hints.join(' ')).toContain('AWS_ENDPOINT_URL')
      expect(await keysOf(bucket)).toEqual([])
      expect(existsSync(join(cwd, 's3:'))).toBe(false)
    },
    120_000,
  )

  it.each(cases)(
    '$what: a plain-HTTP endpoint without AWS_ALLOW_HTTP=true is exit 2',
    async ({args}) => {
      const bucket = await newBucket('http')
      const cwd = workDir('http')
      const run = ecap([...args(`s3://${bucket}/lake`), '--json'], {cwd, env: {AWS_ALLOW_HTTP: ''}, timeoutMs: 120_000})
      expect(run.status, run.stderr).toBe(2)
      const error = json<{error: {code: string; hints: string[]}}>(run).error
      expect(error.code).toBe('S3_HTTP_NOT_ALLOWED')
      expect(error.hints.join(' ')).toContain('AWS_ALLOW_HTTP=true')
      expect(await keysOf(bucket)).toEqual([])
    },
    120_000,
  )

  it('a store that stops answering while DuckDB reads the data files is exit 4, not a bug (exit 1)', async () => {
    const bucket = await newBucket('httpfs-down')
    const lake = `s3://${bucket}/lake`
    // Orders a day apart: one data file per day, most of which DuckDB has not opened when the store goes away.
    const lines = ['Order,Sku,Qty,Price,Time,Customer']
    for (let n = 1; n <= 20; n++) lines.push(`O${n},sku-a,1,2.50,${new Date(Date.UTC(2024, 2, n)).toISOString()},c${n}`)
    const file = join(dir, 'httpfs.csv')
    writeFileSync(file, `${lines.join('\n')}\n`)
    const imported = ecap(importArgs(file, lake), {cwd: workDir('httpfs'), timeoutMs: 120_000})
    expect(imported.status, imported.stderr).toBe(0)
    let down = false
    const proxy = await startFaultyProxy(process.env.AWS_ENDPOINT_URL as string, () =>
      down ? 'drop-request' : undefined,
    )
    const saved = process.env.AWS_ENDPOINT_URL
    const engine = await Engine.open()
    try {
      // DuckDB's secret names the proxy; the proxy then stops forwarding before DuckDB asks for any data file.
      process.env.AWS_ENDPOINT_URL = proxy.endpoint
      const storage = new S3Storage(`${lake}/events`)
      await storage.attach(engine)
      process.env.AWS_ENDPOINT_URL = saved
      down = true
      const files = (await new S3Storage(`${lake}/events`).list('')).filter((e) => e.folder && e.name !== '_delta_log')
      const day = storage.locate(files[0]?.name as string)
      const failure = await engine
        .rows(`SELECT sum(total) AS revenue FROM read_parquet('${day}/*.parquet')`)
        .catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(EcapError)
      expect(failure).toMatchObject({code: 'S3_UNAVAILABLE', exitCode: 4})
    } finally {
      process.env.AWS_ENDPOINT_URL = saved
      engine.close()
      await proxy.close()
    }
  }, 120_000)

  it('an import whose store stops answering mid-way leaves no table behind (exit 4)', async () => {
    // The table exists; the next import's store is unreachable from its first request, so nothing of it can land.
    const bucket = await newBucket('stopped')
    const lake = `s3://${bucket}/lake`
    const cwd = workDir('stopped')
    const first = ecap(importArgs(ordersFile('first.csv', 1, 10), lake), {cwd, timeoutMs: 120_000})
    expect(first.status, first.stderr).toBe(0)
    const before = await keysOf(bucket)
    const run = ecap(importArgs(ordersFile('second.csv', 11, 20), lake), {
      cwd,
      env: {AWS_ENDPOINT_URL: CLOSED_ENDPOINT},
      timeoutMs: 120_000,
    })
    expect(run.status, run.stderr).toBe(4)
    expect(run.stderr).toContain('S3_UNAVAILABLE')
    expect(await keysOf(bucket)).toEqual(before)
    expect(eventIdsWithDeltaRs(`${lake}/events`).rows).toBe(10)
  }, 120_000)
})

describe('ecap doctor on an s3:// lake', () => {
  const doctor = (lake: string, env: NodeJS.ProcessEnv = {}) => {
    const cwd = workDir('doctor')
    const run = ecap(['doctor', '--lake', lake, '--brokers', testBrokers(), '--json'], {cwd, env, timeoutMs: 120_000})
    const result = json<{status: number; result: DoctorResult}>(run).result
    const byName = Object.fromEntries(result.checks.map((c) => [c.name, c])) as Record<string, DoctorCheck>
    expect(existsSync(join(cwd, 's3:'))).toBe(false)
    return {run, result, byName}
  }

  it('on a healthy lake: the store answers, httpfs loads, the tables read, orphan files are named', async () => {
    const bucket = await newBucket('doctor')
    const lake = `s3://${bucket}/lake`
    const imported = ecap(importArgs(ordersFile('doctor.csv', 1, 30), lake), {
      timeoutMs: 120_000,
      cwd: workDir('doctor'),
    })
    expect(imported.status, imported.stderr).toBe(0)

    const healthy = doctor(lake)
    expect(healthy.run.status, healthy.run.stdout).toBe(0)
    expect(healthy.byName.store).toMatchObject({status: 'ok'})
    expect(healthy.byName.store?.detail).toContain(`bucket ${bucket}`)
    expect(healthy.byName.httpfs).toMatchObject({status: 'ok'})
    expect(healthy.byName.lake).toMatchObject({status: 'ok'})
    expect(healthy.byName.lake?.detail).toContain('events v0 (30 rows')

    // A data file no commit names (a crashed writer's) is news, not a failure.
    await new S3Storage(`${lake}/events`).replace('event_date=2024-03-01/part-orphan.parquet', Buffer.from('x'))
    const orphaned = doctor(lake)
    expect(orphaned.run.status, orphaned.run.stdout).toBe(0)
    expect(orphaned.byName['lake:events']).toMatchObject({status: 'warn', data: {orphanFiles: 1}})
  }, 300_000)

  it('an empty prefix is a lake not written yet (a warning)', async () => {
    const bucket = await newBucket('doctor-empty')
    const {run, byName} = doctor(`s3://${bucket}/nothing-here`)
    expect(run.status, run.stdout).toBe(0)
    expect(byName.store).toMatchObject({status: 'ok'})
    expect(byName.lake).toMatchObject({status: 'warn', data: {exists: false}})
  }, 120_000)

  it('a missing bucket fails the store check with exit 2 and the fix', () => {
    const {run, byName} = doctor('s3://ecap-no-such-bucket-here/lake')
    expect(run.status, run.stdout).toBe(2)
    expect(byName.store).toMatchObject({status: 'fail', exitCode: 2})
    expect(byName.store?.hints.join(' ')).toContain('aws s3 mb s3://ecap-no-such-bucket-here')
    expect(byName.lake).toMatchObject({status: 'skip'})
  }, 120_000)

  it('an unreachable store fails the store check with exit 4', async () => {
    const bucket = await newBucket('doctor-down')
    const {run, byName} = doctor(`s3://${bucket}/lake`, {AWS_ENDPOINT_URL: CLOSED_ENDPOINT})
    expect(run.status, run.stdout).toBe(4)
    expect(byName.store).toMatchObject({status: 'fail', exitCode: 4})
    expect(byName.store?.detail).toContain('did not answer')
  }, 120_000)

  it('a plain-HTTP endpoint without AWS_ALLOW_HTTP=true fails the store check with exit 2', async () => {
    const bucket = await newBucket('doctor-http')
    const {run, byName} = doctor(`s3://${bucket}/lake`, {AWS_ALLOW_HTTP: ''})
    expect(run.status, run.stdout).toBe(2)
    expect(byName.store).toMatchObject({status: 'fail', exitCode: 2})
    expect(byName.store?.hints.join(' ')).toContain('AWS_ALLOW_HTTP=true')
  }, 120_000)

  it('a lake URL ecap cannot use is a config error (exit 2)', () => {
    const {run, byName} = doctor('gs://shop/lake')
    expect(run.status, run.stdout).toBe(2)
    expect(byName.config).toMatchObject({status: 'fail', exitCode: 2})
  })
})

describe('ecap init with an s3:// lake', () => {
  it('saves the lake as every command names it, says what it is, and doctor finds it from the config and ECAP_LAKE', async () => {
    const bucket = await newBucket('init')
    const cwd = workDir('init')
    const xdgHome = workDir('init-xdg')
    const init = ecap(['init', '--yes', '--lake', `s3://${bucket}/shop/`, '--brokers', testBrokers(), '--json'], {
      cwd,
      xdgHome,
      timeoutMs: 120_000,
    })
    expect(init.status, init.stderr).toBe(0)
    expect(JSON.parse(readFileSync(join(cwd, 'ecap.config.json'), 'utf8')).lake).toBe(`s3://${bucket}/shop`)
    const lakeCheck = json<{result: {checks: DoctorCheck[]}}>(init).result.checks.find((c) => c.name === 'lake')
    expect(lakeCheck).toMatchObject({status: 'ok', data: {kind: 's3', bucket, prefix: 'shop'}})
    expect(lakeCheck?.detail).toContain('a lake in S3')
    expect(lakeCheck?.detail).toContain('AWS_')
    expect(existsSync(join(cwd, 's3:'))).toBe(false)

    // The config file's lake: doctor (no --lake) checks the bucket.
    const fromFile = ecap(['doctor', '--brokers', testBrokers(), '--json'], {cwd, xdgHome, timeoutMs: 120_000})
    expect(fromFile.status, fromFile.stdout).toBe(0)
    const checks = json<{result: DoctorResult}>(fromFile).result.checks
    expect(checks.find((c) => c.name === 'store')).toMatchObject({status: 'ok'})
    expect(checks.find((c) => c.name === 'lake')?.detail).toContain(`s3://${bucket}/shop`)

    // ECAP_LAKE wins over the file, as for a folder.
    const other = await newBucket('init-env')
    const fromEnv = ecap(['doctor', '--brokers', testBrokers(), '--json'], {
      cwd,
      xdgHome,
      env: {ECAP_LAKE: `s3://${other}/lake`},
      timeoutMs: 120_000,
    })
    expect(fromEnv.status, fromEnv.stdout).toBe(0)
    expect(json<{result: DoctorResult}>(fromEnv).result.checks.find((c) => c.name === 'store')?.detail).toContain(
      `bucket ${other}`,
    )
  }, 300_000)

  it('a missing bucket is reported, not fatal (the config may be for another host); a gs:// lake is refused', async () => {
    const cwd = workDir('init-missing')
    const xdgHome = workDir('init-missing-xdg')
    const init = ecap(['init', '--yes', '--lake', 's3://ecap-no-such-bucket-here/lake', '--no-check', '--json'], {
      cwd,
      xdgHome,
    })
    expect(init.status, init.stderr).toBe(0)
    const checked = ecap(
      [
        'init',
        '--yes',
        '--force',
        '--lake',
        's3://ecap-no-such-bucket-here/lake',
        '--brokers',
        testBrokers(),
        '--json',
      ],
      {cwd, xdgHome, timeoutMs: 120_000},
    )
    expect(checked.status, checked.stderr).toBe(0)
    const lakeCheck = json<{result: {checks: DoctorCheck[]}}>(checked).result.checks.find((c) => c.name === 'lake')
    expect(lakeCheck).toMatchObject({status: 'warn'})
    expect(lakeCheck?.detail).toContain('the bucket does not exist')

    const refused = ecap(['init', '--yes', '--force', '--lake', 'gs://shop/lake', '--no-check', '--json'], {
      cwd,
      xdgHome,
    })
    expect(refused.status, refused.stderr).toBe(2)
    expect(json<{error: {code: string}}>(refused).error.code).toBe('LAKE_URL_UNSUPPORTED')
    // The refused config was not written over the earlier one.
    expect(JSON.parse(readFileSync(join(cwd, 'ecap.config.json'), 'utf8')).lake).toBe(
      's3://ecap-no-such-bucket-here/lake',
    )
  }, 120_000)
})

describe('ecap demo on an s3:// lake', () => {
  it('writes the demo into the bucket; --force replaces only the lake, never what shares its bucket', async () => {
    const bucket = await newBucket('demo')
    const lake = `s3://${bucket}/demo`
    const cwd = workDir('demo')
    const demo = (...extra: string[]) =>
      ecap(['demo', '--lake', lake, '--customers', '150', '--days', '10', '--report', join(cwd, 'r.html'), ...extra], {
        cwd,
        env: {ECAP_BROKERS: '127.0.0.1:1'},
        timeoutMs: 150_000,
      })
    const first = demo('--json')
    expect(first.status, first.stderr).toBe(0)
    const result = json<{result: {lake: string; shop: {events: number; lakeVersion: number}}}>(first).result
    expect(result.lake).toBe(lake)
    expect(eventIdsWithDeltaRs(`${lake}/events`).distinct).toBe(result.shop.events)
    expect(existsSync(join(cwd, 'r.html'))).toBe(true)

    // Not empty: refused without --force.
    const refused = demo('--json')
    expect(refused.status).toBe(2)
    expect(json<{error: {code: string}}>(refused).error.code).toBe('DEMO_LAKE_NOT_EMPTY')

    // Something that is not a lake's under the lake's prefix: --force will not delete it.
    const foreign = new S3Storage(lake)
    await foreign.replace('notes.txt', Buffer.from('mine'))
    const kept = demo('--force', '--json')
    expect(kept.status).toBe(2)
    expect(json<{error: {code: string}}>(kept).error.code).toBe('DEMO_LAKE_FOREIGN')
    await foreign.delete('notes.txt')
    // Nor what sits under names a lake uses without being a Delta table (a spreadsheet in analytics/; _staging, which
    // an S3 lake keeps on the writer's host, never in the bucket).
    for (const stranger of ['analytics/dashboards/q3.xlsx', 'analytics/notes.md', '_staging/export.csv']) {
      await foreign.replace(stranger, Buffer.from('theirs'))
      const refusedInside = demo('--force', '--json')
      expect(refusedInside.status).toBe(2)
      expect(json<{error: {code: string}}>(refusedInside).error.code).toBe('DEMO_LAKE_FOREIGN')
      expect(await foreign.readText(stranger)).toBe('theirs')
      await foreign.delete(stranger)
    }

    // A neighbour in the same bucket stays; the lake is written afresh (version 0 again, the same seeded shop).
    await new S3Storage(`s3://${bucket}/neighbour`).replace('keep.txt', Buffer.from('keep'))
    const forced = demo('--force', '--json')
    expect(forced.status, forced.stderr).toBe(0)
    const again = json<{result: {shop: {events: number; lakeVersion: number}}}>(forced).result
    expect(again.shop).toMatchObject({events: result.shop.events, lakeVersion: 0})
    expect((await commitLog(`${lake}/events`)).versions).toEqual([0])
    expect(eventIdsWithDeltaRs(`${lake}/events`).rows).toBe(result.shop.events)
    expect(await keysOf(bucket)).toContain('neighbour/keep.txt')
    // The analyses and their results went to the bucket too.
    expect(await keysOf(bucket)).toEqual(expect.arrayContaining([expect.stringMatching(/^demo\/analytics\/rfm\//)]))
    expect(existsSync(join(cwd, 's3:'))).toBe(false)
  }, 400_000)

  it('--force at a bucket root refuses folders named like a lake’s that are no Delta table, and deletes nothing', async () => {
    const bucket = await newBucket('demo-root')
    const root = new S3Storage(`s3://${bucket}`)
    await root.replace('events/2024/clickstream-0001.json.gz', Buffer.from('clicks'))
    await root.replace('analytics/dashboards/q3.xlsx', Buffer.from('sheet'))
    const cwd = workDir('demo-root')
    const run = ecap(['demo', '--lake', `s3://${bucket}`, '--force', '--json'], {cwd, timeoutMs: 60_000})
    expect(run.status).toBe(2)
    expect(json<{error: {code: string}}>(run).error.code).toBe('DEMO_LAKE_FOREIGN')
    expect((await keysOf(bucket)).sort()).toEqual([
      'analytics/dashboards/q3.xlsx',
      'events/2024/clickstream-0001.json.gz',
    ])
  }, 120_000)
})
