import {chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type LocalTrino, resolveJava, startLocalTrino} from '../src/lib/trino/local-trino.js'
import {type EcapProcess, startEcap} from './helpers/cli.js'
import {cents} from './helpers/lake.js'
import {newBucket} from './helpers/s3.js'
import {localLocation, registerEvents, startTestTrino, trinoQuery} from './helpers/trino.js'

/**
 * The Trino the cross-engine tests and the engine benchmark run on: a real Trino 476 started from the Maven tarball
 * reads lakes ecap wrote, on local disk and on the S3 test server, and agrees with ecap's DuckDB on them, including an
 * older snapshot through FOR VERSION AS OF. Both lakes get the same seeded events, so they must also agree with each other.
 */

const FIRST = ['generate', '--to', 'lake', '--seed', '7', '--days', '10', '--customers', '150']
/** A second run appended to both lakes: a newer version, so the first one is an older snapshot. */
const SECOND = ['generate', '--to', 'lake', '--seed', '8', '--days', '10', '--customers', '150']

let trino: LocalTrino | undefined
let work: string
let lakes: {local: string; s3: string}
/** Events in each lake after the first run, and the events table's version then. */
let firstCount: number
let firstVersion: number
let totalCount: number

/** Runs `ecap <args> -q` (with `--json` unless the args print JSON rows themselves) and parses its stdout. */
async function ecapJson(args: string[]): Promise<unknown> {
  const run: EcapProcess = startEcap([...args, ...(args.includes('-f') ? [] : ['--json']), '-q'], {cwd: work})
  const {code} = await run.exited
  expect(code, `ecap ${args.join(' ')}\n${run.stderr()}`).toBe(0)
  return JSON.parse(run.stdout())
}

/** Runs `ecap generate` into both lakes at once; returns the number of events it wrote (the same in both). */
async function generateBoth(args: string[]): Promise<number> {
  const results = (await Promise.all([
    ecapJson([...args, '--lake', lakes.local]),
    ecapJson([...args, '--lake', lakes.s3]),
  ])) as {result: {events: number}}[]
  expect(results[1]!.result.events).toBe(results[0]!.result.events)
  return results[0]!.result.events
}

async function eventsVersion(lake: string): Promise<number> {
  const status = (await ecapJson(['lake', 'status', '--lake', lake])) as {
    result: {tables: {name: string; version: number}[]}
  }
  return status.result.tables.find((table) => table.name === 'events')!.version
}

interface TypeTotals {
  eventType: string
  count: number
  /** Sum of `total` in exact cents (as text), or null where the type has no totals. */
  totalCents: string | null
}

function normalise(rows: unknown[][]): TypeTotals[] {
  return rows.map(([eventType, count, total]) => ({
    eventType: String(eventType),
    count: Number(count),
    totalCents: total === null ? null : cents(String(total)).toString(),
  }))
}

/** Per event type: count(*) and sum(total), the sum cast to text so neither side rounds it through a float. */
const PER_TYPE = 'SELECT event_type, count(*), CAST(sum(total) AS VARCHAR) FROM events GROUP BY 1 ORDER BY 1'

async function duckdbPerType(lake: string): Promise<TypeTotals[]> {
  const rows = (await ecapJson(['query', PER_TYPE, '--lake', lake, '-f', 'json'])) as Record<string, unknown>[]
  return normalise(rows.map((row) => Object.values(row)))
}

async function trinoPerType(schema: string): Promise<TypeTotals[]> {
  return normalise(await trinoQuery(trino!, PER_TYPE.replace('FROM events', `FROM delta.${schema}.events`)))
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ecap-local-trino-'))
  lakes = {local: join(work, 'lake'), s3: `s3://${await newBucket('trino')}/shop/lake`}
  // Trino takes a while to start (a JVM of ~1 GB); the lakes are written meanwhile.
  const started = startTestTrino()
  try {
    firstCount = await generateBoth(FIRST)
    firstVersion = await eventsVersion(lakes.local)
    expect(await eventsVersion(lakes.s3)).toBe(firstVersion)
    totalCount = firstCount + (await generateBoth(SECOND))
  } finally {
    trino = await started
  }
  await registerEvents(trino, 'local_lake', localLocation(join(lakes.local, 'events')))
  await registerEvents(trino, 's3_lake', `${lakes.s3}/events`)
}, 240_000)

afterAll(async () => {
  await trino?.stop()
  if (work) rmSync(work, {recursive: true, force: true})
})

describe('a local Trino 476', () => {
  it('listens on loopback and reports its memory', async () => {
    expect(trino!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(trino!.catalog).toBe('delta')
    const peak = trino!.peakRssBytes()
    expect(peak).toBeGreaterThan(100 * 2 ** 20)
    process.stderr.write(`[trino] peak RSS so far: ${Math.round(peak! / 2 ** 20)} MiB\n`)
  })

  it('reads a local lake ecap wrote as ecap DuckDB reads it', async () => {
    const duckdb = await duckdbPerType(lakes.local)
    expect(duckdb.reduce((sum, row) => sum + row.count, 0)).toBe(totalCount)
    expect(await trinoPerType('local_lake')).toEqual(duckdb)
  })

  it('reads an s3:// lake on the S3 test server (path-style) as DuckDB does, the same as the local one', async () => {
    const duckdb = await duckdbPerType(lakes.s3)
    expect(duckdb).toEqual(await duckdbPerType(lakes.local))
    expect(await trinoPerType('s3_lake')).toEqual(duckdb)
  })

  it('reads an older snapshot with FOR VERSION AS OF', async () => {
    expect(firstCount).toBeLessThan(totalCount)
    for (const schema of ['local_lake', 's3_lake']) {
      const table = `delta.${schema}.events`
      expect(await trinoQuery(trino!, `SELECT count(*) FROM ${table}`), schema).toEqual([[totalCount]])
      expect(
        await trinoQuery(trino!, `SELECT count(*) FROM ${table} FOR VERSION AS OF ${firstVersion}`),
        schema,
      ).toEqual([[firstCount]])
    }
  })

  it('refuses a port a server already listens on (a second Trino would share it), before starting a JVM', async () => {
    await expect(startLocalTrino({port: trino!.port})).rejects.toMatchObject({code: 'TRINO_PORT_IN_USE', exitCode: 4})
  })

  it('stop() ends the JVM and removes its folder, and may be called again', async () => {
    const {pid, dir} = trino!
    expect(existsSync(dir)).toBe(true)
    process.stderr.write(`[trino] peak RSS after the queries: ${Math.round(trino!.peakRssBytes()! / 2 ** 20)} MiB\n`)
    await trino!.stop()
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({code: 'ESRCH'}))
    expect(existsSync(dir)).toBe(false)
    expect(trino!.peakRssBytes()).toBeUndefined()
    await trino!.stop()
  })
})

describe('the java Trino runs on', () => {
  it('must be Java 22 or newer, and the error names what to install', () => {
    const home = join(work, 'jdk-17')
    mkdirSync(join(home, 'bin'), {recursive: true})
    // What `java -version` of a Java 17 prints (on stderr).
    writeFileSync(join(home, 'bin', 'java'), '#!/bin/sh\necho \'openjdk version "17.0.15" 2025-04-15\' >&2\n')
    chmodSync(join(home, 'bin', 'java'), 0o755)
    expect(() => resolveJava({ECAP_TRINO_JAVA_HOME: home})).toThrow(
      expect.objectContaining({code: 'TRINO_JAVA_TOO_OLD', hints: [expect.stringContaining('ECAP_TRINO_JAVA_HOME')]}),
    )
    expect(() => resolveJava({ECAP_TRINO_JAVA_HOME: join(work, 'nothing')})).toThrow(
      expect.objectContaining({code: 'TRINO_JAVA_NOT_FOUND'}),
    )
  })
})
