import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type EcapProcess, startEcap} from './helpers/cli.js'
import {eventIdsWithDeltaRs, PYTHON, readWithDeltaRs} from './helpers/python.js'
import {newBucket} from './helpers/s3.js'

/**
 * Every reading and maintenance command on an s3:// lake, run as a user runs them (the real binary) against the S3 test
 * server, beside the same commands on a local lake generated with the same seed: generate is seeded, so the two lakes
 * hold the same events and every analysis must give the same numbers. Each pair runs at once (the S3 side waits on
 * the store, the local side on the CPU).
 */

const GENERATE = ['generate', '--to', 'lake', '--seed', '11', '--days', '20', '--customers', '300', '--events', '3000']
/** A second, smaller run appended to both lakes: small files per partition for compaction. */
const GENERATE_MORE = ['generate', '--to', 'lake', '--seed', '12', '--days', '20', '--customers', '300']
const ANALYSES = ['rfm', 'clv', 'fraud', 'kpi', 'funnel', 'cohort'] as const
const REPORTS = [...ANALYSES, 'summary'] as const
const TIMEOUT_MS = 120_000

let work: string
let localLake: string
let s3Lake: string
let bucket: string

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `ecap <args>` to the end without blocking the other runs, in the working folder where `s3:` must not appear. */
async function run(args: string[]): Promise<Ran> {
  const started: EcapProcess = startEcap(args, {cwd: work})
  const timer = setTimeout(() => started.child.kill('SIGKILL'), TIMEOUT_MS)
  const {code} = await started.exited
  clearTimeout(timer)
  return {code, stdout: started.stdout(), stderr: started.stderr()}
}

/** The same command on the local lake and on the S3 lake, at once. */
async function both(args: string[]): Promise<{local: Ran; s3: Ran}> {
  const [local, s3] = await Promise.all([run([...args, '--lake', localLake]), run([...args, '--lake', s3Lake])])
  return {local, s3}
}

function ok(ran: Ran, what: string): Ran {
  expect(ran.code, `${what}\n${ran.stderr}`).toBe(0)
  return ran
}

/** The `--json` result with each lake's name replaced by `<lake>` and run times removed: what must be equal. */
function comparable(ran: Ran, lake: string, what: string): unknown {
  ok(ran, what)
  const strip = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replaceAll(lake, '<lake>')
    if (Array.isArray(value)) return value.map(strip)
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value)
          .filter(([key]) => !/^(ranAt|lastCommit|elapsedMs|peakRssBytes|seconds)$/.test(key))
          .map(([key, v]) => [key, strip(v)]),
      )
    }
    return value
  }
  return strip(JSON.parse(ran.stdout))
}

/** The same `--json` command on both lakes, asserting equal results; returns the S3 lake's. */
async function sameOnBoth(args: string[]): Promise<Record<string, unknown>> {
  const {local, s3} = await both([...args, '--json', '-q'])
  const s3Result = comparable(s3, s3Lake, `s3: ecap ${args.join(' ')}`)
  expect(s3Result, `ecap ${args.join(' ')}`).toEqual(comparable(local, localLake, `local: ecap ${args.join(' ')}`))
  return (s3Result as {result: Record<string, unknown>}).result
}

/** The Delta schema of a table as delta-rs reads it (JSON). */
function deltaRsSchema(table: string): unknown {
  const script = [
    'import os, sys',
    'from deltalake import DeltaTable',
    'print(DeltaTable(sys.argv[1]).schema().to_json(), flush=True)',
    'os._exit(0)',
  ].join('\n')
  return JSON.parse(execFileSync(PYTHON, ['-c', script, table], {encoding: 'utf8'}))
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ecap-s3-analytics-'))
  localLake = join(work, 'local-lake')
  bucket = await newBucket('analytics')
  s3Lake = `s3://${bucket}/shop/lake`
  const {local, s3} = await both([...GENERATE, '--json', '-q'])
  ok(local, 'generate into the local lake')
  ok(s3, 'generate into the S3 lake')
}, 300_000)

afterAll(() => {
  if (work) rmSync(work, {recursive: true, force: true})
})

describe('an s3:// lake', () => {
  it('is written by generate --to lake in the store, with the same events as a local lake of the same seed', () => {
    const local = readWithDeltaRs(join(localLake, 'events'))
    const s3 = readWithDeltaRs(`${s3Lake}/events`)
    expect(s3.rows).toBe(3000)
    expect(s3.distinct_event_ids).toBe(3000)
    expect(s3).toEqual(local)
    expect(eventIdsWithDeltaRs(`${s3Lake}/events`)).toEqual(eventIdsWithDeltaRs(join(localLake, 'events')))
    expect(deltaRsSchema(`${s3Lake}/events`)).toEqual(deltaRsSchema(join(localLake, 'events')))
    // The regression that started issue 14: the URL taken for a relative folder path.
    expect(existsSync(join(work, 's3:'))).toBe(false)
  })

  it('gives the same analyze results as the local lake, saved as result tables in the store', async () => {
    for (const analysis of ANALYSES) {
      const result = await sameOnBoth(['analyze', analysis])
      expect(result.analysis ?? analysis).toBe(analysis)
    }
    const all = await sameOnBoth(['analyze', 'all'])
    expect(JSON.stringify(all)).toContain('<lake>')
    // The results are Delta tables in the bucket that another engine reads.
    const rfm = readFileSync(join(localLake, 'analytics', 'rfm', '_delta_log', '00000000000000000000.json'), 'utf8')
    expect(rfm).toContain('"ecap.run"')
    const rows = execFileSync(
      PYTHON,
      [
        '-c',
        'import os, sys\nfrom deltalake import DeltaTable\nprint(DeltaTable(sys.argv[1]).to_pyarrow_table().num_rows, flush=True)\nos._exit(0)',
        `${s3Lake}/analytics/rfm`,
      ],
      {encoding: 'utf8'},
    )
    expect(Number(rows)).toBeGreaterThan(0)
    expect(existsSync(join(work, 's3:'))).toBe(false)
  }, 480_000)

  it('shows every report as on the local lake', async () => {
    for (const report of REPORTS) {
      const {local, s3} = await both(['report', report, '--format', 'json'])
      expect(comparable(s3, s3Lake, `s3: report ${report}`), report).toEqual(
        comparable(local, localLake, `local: report ${report}`),
      )
    }
  }, 360_000)

  it('answers queries and exports tables to local files as the local lake does', async () => {
    const sql = 'SELECT count(*) AS events, count(DISTINCT event_id) AS ids, sum(total)::VARCHAR AS total FROM events'
    const {local, s3} = await both(['query', sql, '--format', 'json'])
    expect(ok(s3, 'query').stdout).toBe(ok(local, 'query').stdout)
    expect(JSON.parse(s3.stdout)).toEqual([expect.objectContaining({events: 3000, ids: 3000})])
    const views = ok(
      // A trailing slash names the same lake.
      await run(['query', 'SELECT 1 AS one FROM rfm LIMIT 1', '--format', 'csv', '--lake', `${s3Lake}/`]),
      'rfm',
    )
    expect(views.stdout.trim()).toBe('one\n1')

    for (const [table, file] of [
      ['orders', 'orders.csv'],
      ['rfm', 'rfm.ndjson'],
    ] as const) {
      const exported = await Promise.all([
        run(['export', table, '-o', join(work, `local-${file}`), '--lake', localLake]),
        run(['export', table, '-o', join(work, `s3-${file}`), '--lake', s3Lake]),
      ])
      ok(exported[0], `local export ${table}`)
      ok(exported[1], `s3 export ${table}`)
      const lines = (name: string) => readFileSync(join(work, name), 'utf8').trim().split('\n').sort()
      expect(lines(`s3-${file}`).length).toBeGreaterThan(1)
      expect(lines(`s3-${file}`), table).toEqual(lines(`local-${file}`))
    }
    expect(existsSync(join(work, 's3:'))).toBe(false)
  }, 240_000)

  it('has its tables listed by lake status, compacted and vacuumed by the store LastModified', async () => {
    const status = await sameOnBoth(['lake', 'status'])
    const names = (status.tables as {name: string}[]).map((t) => t.name)
    expect(names).toContain('events')
    expect(names).toContain('analytics/rfm')
    expect(status.lake).toBe('<lake>')

    const more = await both([...GENERATE_MORE, '--events', '1000', '--json', '-q'])
    ok(more.local, 'second generate, local')
    ok(more.s3, 'second generate, s3')
    const compacted = await sameOnBoth(['lake', 'compact'])
    expect(compacted.version).toBe(1 + 1)
    expect(compacted.filesRemoved).toBeGreaterThan(compacted.filesAdded as number)

    // A file no commit names (a crashed writer's), written just now: its LastModified in the store is its age.
    const client = new S3Client({endpoint: process.env.AWS_ENDPOINT_URL, forcePathStyle: true, region: 'us-east-1'})
    const orphan = 'event_date=2026-01-05/part-orphan-of-a-crashed-writer.parquet'
    try {
      await client.send(
        new PutObjectCommand({Bucket: bucket, Key: `shop/lake/events/${orphan}`, Body: new Uint8Array(100)}),
      )
    } finally {
      client.destroy()
    }
    const vacuum = async (...flags: string[]) =>
      JSON.parse(ok(await run(['lake', 'vacuum', ...flags, '--json', '-q', '--lake', s3Lake]), 'vacuum').stdout)
        .result as {files: string[]; dryRun: boolean}

    // Files compaction removed a moment ago, and the fresh orphan, are within an hour's retention: nothing goes.
    expect((await vacuum('--retain', '1h')).files).toEqual([])
    const dryRun = await vacuum('--retain', '0', '--yes', '--dry-run')
    expect(dryRun.dryRun).toBe(true)
    expect(dryRun.files).toContain(orphan)
    expect(dryRun.files).toHaveLength((compacted.filesRemoved as number) + 1)
    // Under an hour needs --yes, as on disk.
    const refused = await run(['lake', 'vacuum', '--retain', '0', '--lake', s3Lake])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('VACUUM_RETENTION_TOO_SHORT')

    const deleted = await vacuum('--retain', '0', '--yes')
    expect(deleted.files.sort()).toEqual(dryRun.files.sort())
    expect((await vacuum('--retain', '0', '--yes', '--dry-run')).files).toEqual([])

    // delta-rs reads the same table after compaction and vacuum: no file it needs was deleted.
    const s3 = readWithDeltaRs(`${s3Lake}/events`)
    const local = readWithDeltaRs(join(localLake, 'events'))
    expect(s3.rows).toBe(local.rows)
    expect(s3.distinct_event_ids).toBe(local.distinct_event_ids)
    expect(s3.sum_total).toBe(local.sum_total)
    expect(s3.version).toBe(2)
    expect(readdirSync(work)).not.toContain('s3:')
  }, 360_000)

  it('reports a prefix with nothing in it as no lake (exit 2), and a missing bucket with its fix (exit 2)', async () => {
    const empty = await run(['lake', 'status', '--lake', `s3://${bucket}/nothing-here`])
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain(`There is no lake at s3://${bucket}/nothing-here`)
    const analyze = await run(['analyze', 'rfm', '--lake', `s3://${bucket}/nothing-here`])
    expect(analyze.code).toBe(3)
    expect(analyze.stderr).toContain('LAKE_EMPTY')
    const missing = await run([
      'export',
      'events',
      '-o',
      join(work, 'x.csv'),
      '--lake',
      's3://no-such-bucket-ecap/lake',
    ])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('S3_BUCKET_MISSING')
    expect(existsSync(join(work, 'x.csv'))).toBe(false)
    expect(existsSync(join(work, 's3:'))).toBe(false)
  }, 120_000)
})
