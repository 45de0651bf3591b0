import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {InterruptedError} from '../src/lib/errors.js'
import {checkpointFileName} from '../src/lib/lake/checkpoint.js'
import {compactTable} from '../src/lib/lake/compact.js'
import {commitFileName, logPath, readCommit, readSnapshot} from '../src/lib/lake/delta-log.js'
import {appendEvents, EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {vacuumTable} from '../src/lib/lake/vacuum.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {type NdjsonTruth, shopNdjson} from './helpers/lake.js'
import {readWithDeltaRs} from './helpers/python.js'

let dir: string
let engine: Engine
let shop: NdjsonTruth

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-lake-maintenance-'))
  engine = await Engine.open()
  shop = await shopNdjson(dir, 'shop.ndjson', {customers: 150, days: 10})
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

async function viewCount(table: string): Promise<{rows: number; totalCents: bigint}> {
  await registerTableView(engine, 'events', table)
  const [row] = await engine.rows(
    'SELECT count(*) AS n, CAST(sum(total) * 100 AS BIGINT)::VARCHAR AS cents FROM events',
  )
  return {rows: Number(row?.n), totalCents: BigInt(String(row?.cents))}
}

describe('checkpoints', () => {
  it('checkpoints every 10 commits, and snapshots from checkpoints equal a full log replay and what delta-rs reads', async () => {
    const lake = join(dir, 'checkpoints')
    for (let i = 0; i < 23; i++) await appendEvents(engine, lake, shop.path, {txns: [{appId: 'ecap:t:0', version: i}]})
    const table = tablePath(lake, EVENTS_TABLE)
    const log = readdirSync(logPath(table))
    expect(log).toContain(checkpointFileName(10))
    expect(log).toContain(checkpointFileName(20))
    expect(log).toContain('_last_checkpoint')

    const fromCheckpoint = await readSnapshot(table, {engine})
    // The same table without the checkpoint pointer: a plain replay of all 23 JSON commits.
    const replayed = join(dir, 'replayed')
    spawnSync('cp', ['-r', table, replayed])
    rmSync(join(logPath(replayed), '_last_checkpoint'))
    const fromLog = await readSnapshot(replayed, {engine})
    expect(fromCheckpoint.version).toBe(22)
    expect(fromLog.version).toBe(22)
    expect([...fromCheckpoint.files.keys()].sort()).toEqual([...fromLog.files.keys()].sort())
    expect([...fromCheckpoint.files.values()].map((a) => a.stats).sort()).toEqual(
      [...fromLog.files.values()].map((a) => a.stats).sort(),
    )
    expect(fromCheckpoint.txns.get('ecap:t:0')).toBe(22)
    expect(fromCheckpoint.metadata).toEqual(fromLog.metadata)
    expect(fromCheckpoint.lastCommitTimestamp).toBe(fromLog.lastCommitTimestamp)

    // Old JSON commits may be cleaned up once a checkpoint covers them: both readers must then use the checkpoint.
    for (let v = 0; v < 20; v++) rmSync(join(logPath(table), commitFileName(v)))
    const afterCleanup = await readSnapshot(table, {engine})
    expect(afterCleanup.files.size).toBe(fromLog.files.size)
    const delta = readWithDeltaRs(table)
    expect(delta.version).toBe(22)
    expect(delta.rows).toBe(23 * shop.lines)
    expect((await viewCount(table)).rows).toBe(23 * shop.lines)
  })
})

describe('compaction', () => {
  it('rewrites small files per partition with dataChange false, keeping every row, readable by delta-rs', async () => {
    const lake = join(dir, 'compact')
    for (let i = 0; i < 4; i++) await appendEvents(engine, lake, shop.path)
    const table = tablePath(lake, EVENTS_TABLE)
    const before = await readSnapshot(table, {engine})
    const result = await compactTable(engine, table)
    expect(result.version).toBe(4)
    expect(result.filesRemoved).toBe(before.files.size)
    expect(result.filesAdded).toBe(shop.dates.size)
    const after = await readSnapshot(table, {engine})
    expect(after.files.size).toBe(shop.dates.size)
    const commit = await readCommit(table, 4)
    for (const action of commit) {
      if ('add' in action) expect(action.add.dataChange).toBe(false)
      if ('remove' in action) expect(action.remove.dataChange).toBe(false)
    }
    const counted = await viewCount(table)
    expect(counted.rows).toBe(4 * shop.lines)
    expect(counted.totalCents).toBe(4n * shop.totalCents)
    // Compacted files carry no partition column of their own: the view has one event_date, from the log, right.
    const columns = (await engine.rows('SELECT column_name FROM (DESCRIBE events)')).map((c) => String(c.column_name))
    expect(columns.filter((c) => c.startsWith('event_date'))).toEqual(['event_date'])
    const [wrong] = await engine.rows(
      "SELECT count(*) AS n FROM events WHERE event_date IS DISTINCT FROM CAST(event_time AT TIME ZONE 'UTC' AS DATE)",
    )
    expect(Number(wrong?.n)).toBe(0)
    const delta = readWithDeltaRs(table)
    expect(delta.rows).toBe(4 * shop.lines)
    expect(delta.files).toBe(shop.dates.size)
    expect(delta.partitions).toEqual([...shop.dates].sort())
    // Compacting again finds nothing to do.
    expect((await compactTable(engine, table)).version).toBeNull()
  })

  it('commits nothing and leaves no file once interrupted, and a later run compacts everything', async () => {
    const lake = join(dir, 'compact-interrupted')
    for (let i = 0; i < 3; i++) await appendEvents(engine, lake, shop.path)
    const table = tablePath(lake, EVENTS_TABLE)
    const filesOnDisk = () => readdirSync(table, {recursive: true}).filter((f) => String(f).endsWith('.parquet'))
    const before = filesOnDisk()
    const ctrlC = new AbortController()
    ctrlC.abort(new InterruptedError('SIGINT'))
    // This engine has no signal: every COPY runs, so the check before the commit is the one that must hold.
    await expect(compactTable(engine, table, {signal: ctrlC.signal})).rejects.toMatchObject({code: 'INTERRUPTED'})
    expect((await readSnapshot(table, {engine})).version).toBe(2)
    expect(filesOnDisk().sort()).toEqual(before.sort())
    expect((await compactTable(engine, table)).version).toBe(3)
    expect((await viewCount(table)).rows).toBe(3 * shop.lines)
  })

  it('lands beside an append that races it, and a second compaction of the same files gives up cleanly', async () => {
    const lake = join(dir, 'race')
    for (let i = 0; i < 3; i++) await appendEvents(engine, lake, shop.path)
    const table = tablePath(lake, EVENTS_TABLE)
    const other = await Engine.open()
    try {
      const [compacted, appended] = await Promise.all([
        compactTable(engine, table),
        appendEvents(other, lake, shop.path),
      ])
      expect(new Set([compacted.version, appended.version])).toEqual(new Set([3, 4]))
      expect((await viewCount(table)).rows).toBe(4 * shop.lines)

      for (let i = 0; i < 2; i++) await appendEvents(engine, lake, shop.path)
      const outcomes = await Promise.allSettled([compactTable(engine, table), compactTable(other, table)])
      const failed = outcomes.filter((o) => o.status === 'rejected')
      // Both may succeed only if one ran after the other had committed (then it finds nothing to do).
      for (const f of failed) {
        expect((f as PromiseRejectedResult).reason).toMatchObject({code: 'COMPACT_CONFLICT', exitCode: 4})
      }
      expect((await viewCount(table)).rows).toBe(6 * shop.lines)
      expect(readWithDeltaRs(table).rows).toBe(6 * shop.lines)
      // The loser's files were removed: every Parquet file on disk is live or a tombstone of the log.
      const snapshot = await readSnapshot(table, {engine})
      const known = new Set([...snapshot.files.keys(), ...snapshot.tombstones.keys()])
      const onDisk = readdirSync(table, {recursive: true})
        .map(String)
        .filter((p) => p.endsWith('.parquet') && !p.startsWith('_delta_log'))
      for (const p of onDisk) expect(known.has(p)).toBe(true)
    } finally {
      other.close()
    }
  })
})

describe('vacuum', () => {
  it('removes files of a writer killed before its commit, and compacted-away files, never live ones', async () => {
    const lake = join(dir, 'vacuum')
    await appendEvents(engine, lake, shop.path)
    await appendEvents(engine, lake, shop.path)
    const table = tablePath(lake, EVENTS_TABLE)

    const crash = spawnSync(
      process.execPath,
      [join(import.meta.dirname, 'helpers', 'crash-writer.mjs'), table, shop.path],
      {
        encoding: 'utf8',
      },
    )
    expect(crash.signal).toBe('SIGKILL')
    const orphans = JSON.parse(crash.stdout) as string[]
    expect(orphans.length).toBeGreaterThan(0)
    for (const p of orphans) expect(existsSync(join(table, p))).toBe(true)
    // Invisible to ecap and to delta-rs.
    expect((await viewCount(table)).rows).toBe(2 * shop.lines)
    expect(readWithDeltaRs(table).rows).toBe(2 * shop.lines)

    // Young orphans survive a normal vacuum: a running writer may be about to commit them.
    const kept = await vacuumTable(table, {retainMs: 7 * 86_400_000, dryRun: false, force: false}, engine)
    expect(kept.files).toEqual([])
    await expect(vacuumTable(table, {retainMs: 0, dryRun: false, force: false}, engine)).rejects.toMatchObject({
      code: 'VACUUM_RETENTION_TOO_SHORT',
      exitCode: 2,
    })

    await compactTable(engine, table)
    const tombstones = [...(await readSnapshot(table, {engine})).tombstones.keys()]
    const dry = await vacuumTable(table, {retainMs: 0, dryRun: true, force: true}, engine)
    expect(dry.files.sort()).toEqual([...orphans, ...tombstones].sort())
    for (const p of orphans) expect(existsSync(join(table, p))).toBe(true)

    // Interrupted, vacuum stops before deleting anything more; the next run deletes the rest.
    const ctrlC = new AbortController()
    ctrlC.abort(new InterruptedError('SIGTERM'))
    await expect(
      vacuumTable(table, {retainMs: 0, dryRun: false, force: true, signal: ctrlC.signal}, engine),
    ).rejects.toMatchObject({code: 'INTERRUPTED', exitCode: 130})
    for (const p of [...orphans, ...tombstones]) expect(existsSync(join(table, p))).toBe(true)

    const done = await vacuumTable(table, {retainMs: 0, dryRun: false, force: true}, engine)
    expect(done.files.length).toBe(orphans.length + tombstones.length)
    for (const p of [...orphans, ...tombstones]) expect(existsSync(join(table, p))).toBe(false)
    expect((await viewCount(table)).rows).toBe(2 * shop.lines)
    expect(readWithDeltaRs(table).rows).toBe(2 * shop.lines)
  })
})

describe('appends refuse what they cannot write safely', () => {
  it('refuses a table with a newer writer protocol or another schema, and a txn that another writer committed', async () => {
    const lake = join(dir, 'guarded')
    await appendEvents(engine, lake, shop.path, {txns: [{appId: 'ecap:t:0', version: 5}]})
    const table = tablePath(lake, EVENTS_TABLE)
    const log = logPath(table)
    const {writeFileSync} = await import('node:fs')

    // A second writer committed offsets for the same partition after our read at version 0.
    await appendEvents(engine, lake, shop.path, {txns: [{appId: 'ecap:t:0', version: 9}]})
    const {writeEventFiles} = await import('../src/lib/lake/parquet-files.js')
    const {commitAppend} = await import('../src/lib/lake/lake.js')
    const adds = await writeEventFiles(engine, shop.path, table)
    await expect(
      commitAppend(lake, adds, [{appId: 'ecap:t:0', version: 7}], {engine, readVersion: 0}),
    ).rejects.toMatchObject({code: 'DELTA_TXN_CONFLICT', exitCode: 4})
    // Another app id does not conflict.
    await expect(
      commitAppend(lake, adds, [{appId: 'ecap:t:1', version: 3}], {engine, readVersion: 0}),
    ).resolves.toMatchObject({
      version: 2,
    })

    writeFileSync(
      join(log, commitFileName(3)),
      `${JSON.stringify({protocol: {minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly']}})}\n`,
    )
    await expect(appendEvents(engine, lake, shop.path)).rejects.toMatchObject({
      code: 'DELTA_PROTOCOL_UNSUPPORTED',
      exitCode: 3,
    })
    rmSync(join(log, commitFileName(3)))

    const snapshot = await readSnapshot(table, {engine})
    const foreign = {...snapshot.metadata, partitionColumns: ['event_type']}
    writeFileSync(join(log, commitFileName(3)), `${JSON.stringify({metaData: foreign})}\n`)
    await expect(appendEvents(engine, lake, shop.path)).rejects.toMatchObject({
      code: 'DELTA_SCHEMA_MISMATCH',
      exitCode: 3,
    })
  })
})
