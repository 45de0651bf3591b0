import {cpSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, truncateSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {resultPath} from '../src/lib/analytics/store.js'
import {Engine} from '../src/lib/engine/engine.js'
import {resetFailpoints} from '../src/lib/failpoints.js'
import type {AddAction} from '../src/lib/lake/actions.js'
import {checkpointFileName} from '../src/lib/lake/checkpoint.js'
import {compactTable} from '../src/lib/lake/compact.js'
import {commitFileName, listCommitVersions, logPath, readCommit, readSnapshot} from '../src/lib/lake/delta-log.js'
import {appendEvents, EVENTS_TABLE, maybeCheckpoint, tablePath} from '../src/lib/lake/lake.js'
import {replaceTable} from '../src/lib/lake/result-table.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap} from './helpers/cli.js'
import {type NdjsonTruth, shopNdjson} from './helpers/lake.js'
import {readWithDeltaRs} from './helpers/python.js'
import {type Syscall, straceEcap} from './helpers/strace.js'

/**
 * Issue 12, cases 1 and 5: no writer deletes a file once the commit naming it has landed, whatever fails after it;
 * every data file, checkpoint and pointer is on disk before the commit or rename that names it, and the log folder
 * after; a reader survives a torn checkpoint.
 */

let dir: string
let engine: Engine
let shop: NdjsonTruth
/** Ten commits (versions 0-9) of the same small shop, with a checkpoint at version 5; each test works on a copy. */
let baseLake: string

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'ecap-lake-durability-')))
  engine = await Engine.open()
  shop = await shopNdjson(dir, 'shop.ndjson', {customers: 60, days: 5})
  baseLake = join(dir, 'base')
  const table = tablePath(baseLake, EVENTS_TABLE)
  for (let i = 0; i < 10; i++) {
    await appendEvents(engine, baseLake, shop.path)
    if (i === 5) await maybeCheckpoint(table, 5, {engine, checkpointInterval: 5})
  }
}, 120_000)

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

let copies = 0
function copyBase(): {lake: string; table: string} {
  const lake = join(dir, `lake-${++copies}`)
  cpSync(baseLake, lake, {recursive: true})
  return {lake, table: tablePath(lake, EVENTS_TABLE)}
}

/** The table at `version`, every file it names on disk, and `rows` rows as ecap (and delta-rs, unless told) read them. */
async function expectIntact(table: string, version: number, rows: number, withDeltaRs = true): Promise<void> {
  const snapshot = await readSnapshot(table, {engine})
  expect(snapshot.version).toBe(version)
  const missing = [...snapshot.files.keys()].filter((p) => !existsSync(join(table, decodeURIComponent(p))))
  expect(missing).toEqual([])
  await registerTableView(engine, 'events', table)
  const [row] = await engine.rows('SELECT count(*) AS n FROM events')
  expect(Number(row?.n)).toBe(rows)
  if (!withDeltaRs) return
  const delta = readWithDeltaRs(table)
  expect(delta.version).toBe(version)
  expect(delta.rows).toBe(rows)
}

describe('a commit that has landed keeps its files', () => {
  it('ecap lake compact whose checkpoint fails (TMPDIR=/nonexistent) lands with a warning, and vacuum then deletes only what it replaced', async () => {
    const {lake, table} = copyBase()
    const run = ecap(['lake', 'compact', '--lake', lake], {env: {TMPDIR: '/nonexistent'}})
    expect(run.stderr).toContain('Warning: The compaction landed, but its checkpoint failed')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('Version 10:')
    expect((await readCommit(table, 10)).filter((a) => 'add' in a).length).toBe(shop.dates.size)
    expect(existsSync(join(logPath(table), checkpointFileName(10)))).toBe(false)
    await expectIntact(table, 10, 10 * shop.lines)

    const replaced = [...(await readSnapshot(table, {engine})).tombstones.keys()].map(decodeURIComponent)
    const vacuum = ecap(['lake', 'vacuum', '--lake', lake, '--retain', '0', '--yes'])
    expect(vacuum.status).toBe(0)
    expect(vacuum.stdout.trim().split('\n').sort()).toEqual(replaced.sort())
    await expectIntact(table, 10, 10 * shop.lines)
  })

  it('ecap generate --to lake whose checkpoint fails lands with a warning', async () => {
    const {lake, table} = copyBase()
    const run = ecap(
      ['generate', '--to', 'lake', '--lake', lake, '--events', '500', '--start', '2025-06-01', '--days', '3'],
      {env: {TMPDIR: '/nonexistent'}},
    )
    expect(run.stderr).toContain('Warning: The lake commit landed, but its checkpoint failed')
    expect(run.status).toBe(0)
    await expectIntact(table, 10, 10 * shop.lines + 500)
  })

  it('a compaction, a lake run and a result replacement that fail just after their commit keep its files', async () => {
    const {lake, table} = copyBase()
    const failAfterCommit = {ECAP_FAILPOINTS: 'lake.commit.after=error'}

    const compact = ecap(['lake', 'compact', '--lake', lake], {env: failAfterCommit})
    expect(compact.stderr).toContain('FAILPOINT')
    expect(compact.status).toBe(1)
    await expectIntact(table, 10, 10 * shop.lines)

    const generate = ecap(
      ['generate', '--to', 'lake', '--lake', lake, '--events', '500', '--start', '2025-06-01', '--days', '3', '-q'],
      {env: failAfterCommit},
    )
    expect(generate.stderr).toContain('FAILPOINT')
    expect(generate.status).toBe(1)
    await expectIntact(table, 11, 10 * shop.lines + 500)

    const result = resultPath(lake, 'durability')
    process.env.ECAP_FAILPOINTS = failAfterCommit.ECAP_FAILPOINTS
    resetFailpoints()
    try {
      await expect(replaceTable(engine, result, 'SELECT 42 AS answer', {run: 1})).rejects.toMatchObject({
        code: 'FAILPOINT',
      })
    } finally {
      delete process.env.ECAP_FAILPOINTS
      resetFailpoints()
    }
    const saved = await readSnapshot(result, {engine})
    const [file] = [...saved.files.keys()]
    const [row] = await engine.rows('SELECT answer FROM read_parquet(?)', [join(result, file as string)])
    expect(Number(row?.answer)).toBe(42)
  })
})

describe('crashes at the write points of compaction, checkpoints and data files', () => {
  // [failpoint, command, version after the crash]: a crash before the commit leaves version 9, one after it 10.
  const cases: [string, string[], number][] = [
    [
      'lake.datafiles.after',
      ['generate', '--to', 'lake', '--events', '500', '--start', '2025-06-01', '--days', '3'],
      9,
    ],
    ['lake.compact.before-commit', ['lake', 'compact'], 9],
    ['lake.commit.after', ['lake', 'compact'], 10],
    ['lake.checkpoint.write', ['lake', 'compact'], 10],
    ['lake.checkpoint.pointer', ['lake', 'compact'], 10],
  ]
  for (const [point, args, version] of cases) {
    it(`${point}=crash during ecap ${args.slice(0, 2).join(' ')}: the table stays whole at version ${version}, and the next run completes it`, async () => {
      const {lake, table} = copyBase()
      const crash = ecap([...args, '--lake', lake], {env: {ECAP_FAILPOINTS: `${point}=crash`}})
      expect(crash.stderr).toContain(`failpoint ${point} crashed the process`)
      expect(crash.signal).toBe('SIGKILL')
      await expectIntact(table, version, 10 * shop.lines)
      // Orphans of the crash are invisible, and vacuum takes them and nothing live.
      expect(ecap(['lake', 'vacuum', '--lake', lake, '--retain', '0', '--yes']).status).toBe(0)
      await expectIntact(table, version, 10 * shop.lines)
      const again = ecap([...args, '--lake', lake, '-q'])
      expect(again.status).toBe(0)
      const rows = 10 * shop.lines + (args[0] === 'generate' ? 500 : 0)
      await expectIntact(table, (await listCommitVersions(table)).at(-1) as number, rows)
    })
  }
})

describe('a torn or missing checkpoint', () => {
  it('is read past: an older checkpoint or the JSON log gives the same snapshot; with neither, a data error', async () => {
    const {table} = copyBase()
    await compactTable(engine, table)
    const log = logPath(table)
    const checkpoint = join(log, checkpointFileName(10))
    expect(existsSync(checkpoint)).toBe(true)
    const whole = await readSnapshot(table, {engine})
    const same = async () => {
      const read = await readSnapshot(table, {engine})
      expect(read.version).toBe(10)
      expect([...read.files.keys()].sort()).toEqual([...whole.files.keys()].sort())
      expect([...read.tombstones.keys()].sort()).toEqual([...whole.tombstones.keys()].sort())
      expect(read.metadata).toEqual(whole.metadata)
      // delta-rs 1.6 fails on a torn checkpoint ("Corrupt footer") rather than fall back: ecap alone here.
      await expectIntact(table, 10, 10 * shop.lines, false)
    }

    // Torn by a power cut: half the file, its Parquet footer gone.
    const {size} = await import('node:fs').then((fs) => fs.statSync(checkpoint))
    truncateSync(checkpoint, Math.floor(size / 2))
    await same()
    truncateSync(checkpoint, 0)
    await same()
    const status = ecap(['lake', 'status', '--lake', dirname(table), '--json'])
    expect(status.status).toBe(0)
    expect(JSON.parse(status.stdout).result.tables[0]).toMatchObject({version: 10, rows: 10 * shop.lines})

    // The JSON commits the older checkpoint covers are gone too: checkpoint 5, then commits 6-10.
    for (let v = 0; v <= 5; v++) rmSync(join(log, commitFileName(v)))
    await same()
    // The pointer names a checkpoint that is not there at all.
    rmSync(checkpoint)
    writeFileSync(join(log, '_last_checkpoint'), JSON.stringify({version: 10, size: 1}))
    await same()

    // Nothing complete to start from: refused (exit 3), never guessed.
    rmSync(join(log, checkpointFileName(5)))
    await expect(readSnapshot(table, {engine})).rejects.toMatchObject({exitCode: 3})
  })
})

describe('what reaches the disk, in order (watched with strace)', () => {
  const fsyncs = (calls: Syscall[]) => calls.filter((c) => c.name === 'fsync' && c.ok)

  /**
   * Each data file a commit adds was fsynced before the link() that made the commit, then every folder between it and
   * the table (new partition folders are entries of the table's); the log folder was fsynced after the link.
   * Returns how many files and folders it checked, so that a trace with nothing in it cannot pass.
   */
  async function expectDurableCommit(
    calls: Syscall[],
    table: string,
    version: number,
  ): Promise<{files: number; folders: number}> {
    const log = logPath(table)
    const link = calls.find((c) => c.name === 'link' && c.ok && c.to === join(log, commitFileName(version)))
    expect(link, `link() of commit ${version} of ${table}`).toBeDefined()
    const at = link as Syscall
    const adds = (await readCommit(table, version)).flatMap((a) => ('add' in a ? [a.add] : ([] as AddAction[])))
    const folders = new Set<string>()
    for (const add of adds) {
      const file = join(table, decodeURIComponent(add.path))
      const synced = fsyncs(calls).find((f) => f.path === file && f.end < at.start)
      expect(synced, `fsync of ${file} before commit ${version}`).toBeDefined()
      for (let folder = dirname(file); ; folder = dirname(folder)) {
        const after = fsyncs(calls).some(
          (f) => f.path === folder && f.start > (synced as Syscall).end && f.end < at.start,
        )
        expect(after, `fsync of ${folder} after ${file}, before commit ${version}`).toBe(true)
        folders.add(folder)
        if (folder === table) break
      }
    }
    expect(
      fsyncs(calls).some((f) => f.path === log && f.start > at.end),
      `fsync of ${log} after commit ${version}`,
    ).toBe(true)
    return {files: adds.length, folders: folders.size}
  }

  /** The checkpoint was fsynced before its rename, the log folder after it; the same for `_last_checkpoint`. */
  function expectDurableCheckpoint(calls: Syscall[], table: string, version: number): void {
    const log = logPath(table)
    const renamed = (to: string) => calls.find((c) => c.name === 'rename' && c.ok && c.to === join(log, to))
    const checkpoint = renamed(checkpointFileName(version)) as Syscall
    const pointer = renamed('_last_checkpoint') as Syscall
    expect(checkpoint, `rename of checkpoint ${version}`).toBeDefined()
    expect(pointer, 'rename of _last_checkpoint').toBeDefined()
    const synced = (path: string | undefined, after: number, before: number) =>
      fsyncs(calls).some((f) => f.path === path && f.start > after && f.end < before)
    expect(synced(checkpoint.from, -1, checkpoint.start), 'checkpoint fsynced before its rename').toBe(true)
    expect(synced(log, checkpoint.end, pointer.start), 'log fsynced after the checkpoint rename').toBe(true)
    expect(synced(pointer.from, -1, pointer.start), '_last_checkpoint fsynced before its rename').toBe(true)
    expect(synced(log, pointer.end, Number.POSITIVE_INFINITY), 'log fsynced after the pointer rename').toBe(true)
  }

  it('data files and their folders before the commit, checkpoints and the pointer before their rename, the log folder after each', async () => {
    const {lake, table} = copyBase()
    // A lake run into new partitions (version 10, which also writes checkpoint 10).
    const generate = straceEcap(
      ['generate', '--to', 'lake', '--lake', lake, '--events', '2000', '--start', '2025-06-01', '--days', '3', '-q'],
      join(dir, 'generate.trace'),
    )
    expect(generate.stderr).toBe('')
    expect(generate.status).toBe(0)
    const appended = await expectDurableCommit(generate.calls, table, 10)
    expect(appended.files).toBeGreaterThanOrEqual(3)
    expect(appended.folders).toBe(appended.files + 1)
    expectDurableCheckpoint(generate.calls, table, 10)

    // A compaction (version 11): a rewritten file for each partition of the ten small runs.
    const compact = straceEcap(['lake', 'compact', '--lake', lake], join(dir, 'compact.trace'))
    expect(compact.status).toBe(0)
    expect((await expectDurableCommit(compact.calls, table, 11)).files).toBe(shop.dates.size)

    // A result table's first commit: the file that writeQueryFile writes (as for dead letters and alerts).
    const analyze = straceEcap(['analyze', 'funnel', '--lake', lake, '-q'], join(dir, 'analyze.trace'))
    expect(analyze.status).toBe(0)
    expect((await expectDurableCommit(analyze.calls, resultPath(lake, 'funnel'), 0)).files).toBe(1)
    expect(readdirSync(logPath(resultPath(lake, 'funnel')))).toContain(commitFileName(0))
  })
})
