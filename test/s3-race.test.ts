import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {S3Storage} from '../src/lib/lake/s3-storage.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap, startEcap} from './helpers/cli.js'
import {eventIdsWithDeltaRs, idsDigest} from './helpers/python.js'
import {newBucket} from './helpers/s3.js'

const dir = mkdtempSync(join(tmpdir(), 'ecap-s3-race-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const SHOP = ['--days', '12', '--customers', '150', '--events', '2500']

/** The event ids `generate` makes for a seed, from its NDJSON output: the ground truth the lake must hold. */
function generatedIds(seed: number): string[] {
  const file = join(dir, `seed-${seed}.ndjson`)
  const run = ecap(['generate', '--to', 'ndjson', '-o', file, '--seed', String(seed), ...SHOP], {timeoutMs: 120_000})
  expect(run.status, run.stderr).toBe(0)
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as {event_id: string}).event_id)
}

/** The commits of a table: versions must run 0..N with no gap, each with a txnId of its own. */
async function commitLog(table: string): Promise<{versions: number[]; txnIds: string[]; operations: string[]}> {
  const storage = new S3Storage(table)
  const names = (await storage.list('_delta_log')).map((e) => e.name).filter((n) => /^\d{20}\.json$/.test(n))
  const versions = names.map((n) => Number(n.slice(0, 20))).sort((a, b) => a - b)
  const txnIds: string[] = []
  const operations: string[] = []
  for (const version of versions) {
    const text = (await storage.readText(`_delta_log/${String(version).padStart(20, '0')}.json`)) ?? ''
    const info = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as {commitInfo?: {txnId?: string; operation?: string}})
      .find((a) => a.commitInfo)?.commitInfo
    txnIds.push(info?.txnId ?? '')
    operations.push(info?.operation ?? '')
  }
  return {versions, txnIds, operations}
}

describe('writers racing on one S3 table', () => {
  it('three generate processes and two compactions land contiguous versions, every event once', async () => {
    const bucket = await newBucket('race')
    const lake = `s3://${bucket}/lake`
    const seeds = [11, 12, 13]
    const expected = seeds.flatMap(generatedIds)

    const writers = seeds.map((seed) =>
      startEcap(['generate', '--to', 'lake', '--lake', lake, '--seed', String(seed), ...SHOP], {cwd: dir}),
    )
    // Compactions start once the first commit is there, and race the writers' later commits.
    const first = await Promise.race(writers.map((w) => w.exited.then(() => w)))
    expect((await first.exited).code, first.stderr()).toBe(0)
    const compactions = [0, 1].map(() => startEcap(['lake', 'compact', '--lake', lake, '--json'], {cwd: dir}))
    for (const run of writers) {
      const {code} = await run.exited
      expect(code, run.stderr()).toBe(0)
    }
    // Two compactions of the same files: as on local disk, one wins and the other stops with COMPACT_CONFLICT (exit
    // 4) rather than remove files twice; appends racing a compaction never conflict with it.
    const compacted: number[] = []
    for (const run of compactions) {
      const {code} = await run.exited
      if (code === 4) expect(JSON.parse(run.stdout()).error.code).toBe('COMPACT_CONFLICT')
      else expect(code, run.stdout()).toBe(0)
      if (code === 0) compacted.push(1)
    }
    expect(compacted.length).toBeGreaterThanOrEqual(1)

    const log = await commitLog(`${lake}/events`)
    expect(log.versions).toEqual(log.versions.map((_, i) => i))
    expect(log.operations.filter((o) => o !== 'OPTIMIZE')).toHaveLength(3)
    expect(log.operations.filter((o) => o === 'OPTIMIZE')).toHaveLength(compacted.length)
    expect(new Set(log.txnIds).size).toBe(log.versions.length)
    expect(log.txnIds.every((id) => /^[0-9a-f-]{36}$/.test(id))).toBe(true)

    const read = eventIdsWithDeltaRs(`${lake}/events`)
    expect(read.rows).toBe(expected.length)
    expect(read.distinct).toBe(expected.length)
    expect(read.digest).toBe(idsDigest(expected))

    // ecap reads the same set back through DuckDB's httpfs.
    const engine = await Engine.open()
    try {
      await registerTableView(engine, 'events', `${lake}/events`)
      const columns = await engine.columns('SELECT count(*), count(DISTINCT event_id) FROM events')
      expect(columns.map((c) => Number(c[0]))).toEqual([expected.length, expected.length])
    } finally {
      engine.close()
    }
  }, 600_000)
})
