import {cpSync, readdirSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {Engine, withEngine} from '../src/lib/engine/engine.js'
import {type EcapError, UnavailableError} from '../src/lib/errors.js'
import {type FailpointName, resetFailpoints} from '../src/lib/failpoints.js'
import {type ImportResult, importOrders, resolveImportOptions} from '../src/lib/import/import.js'
import {listCommitVersions, readSnapshot} from '../src/lib/lake/delta-log.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {type EcapProcess, ecap, startEcap} from './helpers/cli.js'
import {uuid3} from './helpers/import-ids.js'
import {eventIdsWithDeltaRs, idsDigest} from './helpers/python.js'

/**
 * Imports racing each other (issue 12, case 6). Whatever the interleaving, every event_id lands once, and an import
 * reports "imported" only for the rows its own commit holds. Interleavings are driven deterministically: an import
 * runs in this process, and when its progress reaches a step, a real `ecap import` of another file (or the same)
 * runs to its end before the first import goes on. Real processes started at once cover the rest.
 */

const MAP = 'order=Order,product=Sku,quantity=Qty,price=Price,time=Time,customer=Customer'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecap-import-race-'))
})
afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})
afterEach(() => {
  delete process.env.ECAP_FAILPOINTS
  resetFailpoints()
})

/** Orders O<from> … O<to>, two lines each; the same order number always gets the same lines in every file. */
async function ordersFile(name: string, from: number, to: number): Promise<string> {
  const lines = ['Order,Sku,Qty,Price,Time,Customer']
  for (let n = from; n <= to; n++) {
    const time = new Date(Date.UTC(2024, 2, 1) + n * 60_000).toISOString()
    lines.push(`O${n},sku-a,${(n % 3) + 1},2.50,${time},c${n % 7}`, `O${n},sku-b,1,4.00,${time},c${n % 7}`)
  }
  const file = join(dir, name)
  await writeFile(file, `${lines.join('\n')}\n`)
  return file
}

type Range = [from: number, to: number]

function idsOf(...ranges: Range[]): string[] {
  const ids = new Set<string>()
  for (const [from, to] of ranges) for (let n = from; n <= to; n++) ids.add(uuid3(`purchase:O${n}`))
  return [...ids]
}

const importArgs = (file: string, lake: string) => ['import', file, '--lake', lake, '--map', MAP, '--currency', 'EUR']

function cliImport(file: string, lake: string, env?: NodeJS.ProcessEnv): ImportResult {
  const run = ecap([...importArgs(file, lake), '--json'], {timeoutMs: 120_000, env})
  expect(run.status, run.stderr).toBe(0)
  return JSON.parse(run.stdout).result as ImportResult
}

interface Rival {
  /** The progress text (its beginning) of the import under test at which the rival runs, on its next occurrence. */
  at: string
  file: string
}

/**
 * Imports `file` in this process; when its progress reaches each rival's step (in turn), a real `ecap import` of the
 * rival's file runs to its end first. Fails unless every rival ran.
 */
async function importBetween(
  file: string,
  lake: string,
  rivals: Rival[],
): Promise<{result?: ImportResult; error?: unknown; rivals: ImportResult[]}> {
  const pending = [...rivals]
  const landed: ImportResult[] = []
  const engine = await Engine.open()
  try {
    const options = resolveImportOptions({file, lake, map: MAP, currency: 'EUR'})
    const onProgress = (text: string) => {
      const next = pending[0]
      if (next === undefined || !text.startsWith(next.at)) return
      pending.shift()
      landed.push(cliImport(next.file, lake))
    }
    try {
      return {result: await importOrders(engine, {...options, onProgress}), rivals: landed}
    } catch (error) {
      return {error, rivals: landed}
    } finally {
      expect(pending, 'every rival ran').toEqual([])
    }
  } finally {
    engine.close()
  }
}

/** The lake's event_ids, each exactly once and exactly `expected`, as DuckDB (through ecap's view) and delta-rs read them. */
async function expectExactlyOnce(lake: string, expected: string[]): Promise<void> {
  const table = join(lake, 'events')
  const engine = await Engine.open()
  try {
    await registerTableView(engine, 'lake_events', table)
    const rows = await engine.rows('SELECT event_id, count(*) AS n FROM lake_events GROUP BY event_id')
    expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([])
    expect(rows.map((r) => String(r.event_id)).sort()).toEqual([...expected].sort())
  } finally {
    engine.close()
  }
  expect(eventIdsWithDeltaRs(table)).toEqual({
    rows: expected.length,
    distinct: expected.length,
    digest: idsDigest(expected),
  })
}

/** Parquet files under the table that no commit names: what a losing import left behind. */
async function orphans(lake: string): Promise<string[]> {
  const table = join(lake, 'events')
  const snapshot = await withEngine((engine) => readSnapshot(table, {engine}))
  const named = new Set([...snapshot.files.keys()].map((p) => decodeURIComponent(p)))
  const files = readdirSync(table, {recursive: true, encoding: 'utf8'})
    .filter((f) => f.endsWith('.parquet') && !f.startsWith('_delta_log'))
    .map((f) => relative(table, join(table, f)))
  return files.filter((f) => !named.has(f))
}

const written = (...results: (ImportResult | undefined)[]) =>
  results.reduce((sum, r) => sum + (r?.status === 'imported' ? r.eventsWritten : 0), 0)

describe('an import racing another at each step of its own (deterministic interleavings)', () => {
  // Steps of the import under test, in order: before it reads the lake, between reading and writing files, between
  // writing files and committing them.
  const steps = ['Comparing with the lake', 'Writing', 'Committing']
  const bases = [
    {name: 'an empty lake', ranges: [] as Range[]},
    {name: 'a lake holding other orders', ranges: [[900, 909]] as Range[]},
  ]

  for (const base of bases) {
    for (const step of steps) {
      it(`the same file, the rival landing at "${step}", into ${base.name}`, async () => {
        const lake = join(dir, `same-${base.ranges.length}-${step.split(' ')[0]}`)
        if (base.ranges.length > 0) cliImport(await ordersFile('base.csv', 900, 909), lake)
        const file = await ordersFile('a.csv', 1, 30)
        const {result, error, rivals} = await importBetween(file, lake, [{at: step, file}])
        expect(error).toBeUndefined()
        expect(rivals[0]).toMatchObject({status: 'imported', eventsWritten: 30})
        // The loser says the file is in the lake, and wrote nothing.
        expect(result).toMatchObject({status: 'already-imported', eventsWritten: 0, eventsAlreadyInLake: 30})
        await expectExactlyOnce(lake, idsOf(...base.ranges, [1, 30]))
        expect(await orphans(lake)).toEqual([])
        // A third run adds nothing and says so.
        expect(cliImport(file, lake)).toMatchObject({status: 'already-imported', eventsWritten: 0})
      })

      const overlapping: [Range, Range][] = [
        [
          [1, 30],
          [21, 50],
        ],
        [
          [21, 50],
          [1, 30],
        ],
      ]
      for (const [mine, theirs] of overlapping) {
        it(`overlapping files (O${mine[0]}-${mine[1]} racing O${theirs[0]}-${theirs[1]}), the rival landing at "${step}", into ${base.name}`, async () => {
          const lake = join(dir, `overlap-${base.ranges.length}-${mine[0]}-${step.split(' ')[0]}`)
          if (base.ranges.length > 0) cliImport(await ordersFile('base.csv', 900, 909), lake)
          const file = await ordersFile(`o${mine[0]}.csv`, ...mine)
          const rival = await ordersFile(`o${theirs[0]}.csv`, ...theirs)
          const {result, error, rivals} = await importBetween(file, lake, [{at: step, file: rival}])
          expect(error).toBeUndefined()
          expect(rivals[0]).toMatchObject({status: 'imported', eventsWritten: 30})
          // O21-O30 are in both files: the rival landed them first.
          expect(result).toMatchObject({status: 'imported', eventsWritten: 20, eventsAlreadyInLake: 10})
          expect(written(result, ...rivals)).toBe(50)
          await expectExactlyOnce(lake, idsOf(...base.ranges, [1, 50]))
          expect(await orphans(lake)).toEqual([])
        })
      }
    }
  }

  it('retries as often as other imports win, rewriting only when they landed some of its orders', async () => {
    const lake = join(dir, 'chain')
    const file = await ordersFile('chain-a.csv', 1, 40)
    const rivals = [
      {at: 'Committing', file: await ordersFile('chain-b.csv', 101, 110)}, // disjoint: its files stay right
      {at: 'Committing', file: await ordersFile('chain-c.csv', 31, 45)}, // overlaps: written again without O31-O40
      {at: 'Committing', file: await ordersFile('chain-d.csv', 1, 5)}, // overlaps again
    ]
    const {result, error, rivals: landed} = await importBetween(file, lake, rivals)
    expect(error).toBeUndefined()
    expect(landed.map((r) => r.eventsWritten)).toEqual([10, 15, 5])
    expect(result).toMatchObject({status: 'imported', eventsWritten: 25, eventsAlreadyInLake: 15, version: 3})
    await expectExactlyOnce(lake, idsOf([1, 45], [101, 110]))
    expect(await orphans(lake)).toEqual([])
  })

  it('gives up with a retriable error (exit 4) when other imports keep winning, leaving nothing of its own', async () => {
    const lake = join(dir, 'contended')
    const file = await ordersFile('contended.csv', 1, 10)
    const rivals: Rival[] = []
    for (let i = 0; i < 5; i++)
      rivals.push({at: 'Committing', file: await ordersFile(`r${i}.csv`, 100 * (i + 1), 100 * (i + 1) + 2)})
    const {result, error, rivals: landed} = await importBetween(file, lake, rivals)
    expect(result).toBeUndefined()
    expect(error).toBeInstanceOf(UnavailableError)
    expect(error).toMatchObject({code: 'IMPORT_CONTENDED', exitCode: 4})
    expect((error as EcapError).hints.join('\n')).toContain('ecap import')
    expect(landed).toHaveLength(5)
    const rivalIds = idsOf(...[1, 2, 3, 4, 5].map((i): Range => [100 * i, 100 * i + 2]))
    await expectExactlyOnce(lake, rivalIds)
    expect(await orphans(lake)).toEqual([])
    // Run again, as the error says: the rest lands once.
    expect(cliImport(file, lake)).toMatchObject({status: 'imported', eventsWritten: 10})
    await expectExactlyOnce(lake, [...rivalIds, ...idsOf([1, 10])])
  })
})

/** Starts `ecap import` of each file at once (the n-th after `staggerMs` × n), and returns their results in that order. */
async function importAtOnce(files: string[], lake: string, staggerMs = 0): Promise<ImportResult[]> {
  const runs: EcapProcess[] = []
  for (const file of files) {
    if (runs.length > 0 && staggerMs > 0) await new Promise((resolve) => setTimeout(resolve, staggerMs))
    runs.push(startEcap([...importArgs(file, lake), '--json']))
  }
  const exits = await Promise.all(runs.map((r) => r.exited))
  expect(exits, runs.map((r) => r.stderr()).join('\n')).toEqual(runs.map(() => ({code: 0, signal: null})))
  return runs.map((r) => JSON.parse(r.stdout()).result as ImportResult)
}

describe('ecap import processes started at once', () => {
  // As many orders as in the report (6,667), so that writing them keeps each import between its read and
  // its commit long enough for the others to get there too.
  const ORDERS = 6_667
  let round = 0

  it('the same file three times into an empty lake: one imports, the others find it imported', async () => {
    const file = await ordersFile('same-procs.csv', 1, ORDERS)
    for (const staggerMs of [0, 100]) {
      const lake = join(dir, `procs-same-${round++}`)
      const results = await importAtOnce([file, file, file], lake, staggerMs)
      expect(results.map((r) => r.status).sort()).toEqual(['already-imported', 'already-imported', 'imported'])
      expect(written(...results)).toBe(ORDERS)
      await expectExactlyOnce(lake, idsOf([1, ORDERS]))
    }
  }, 600_000)

  it('two files holding the same orders, each started first', async () => {
    const half = Math.floor(ORDERS / 2)
    const a = await ordersFile('procs-a.csv', 1, ORDERS)
    const b = await ordersFile('procs-b.csv', half + 1, ORDERS + half)
    for (const files of [
      [a, b],
      [b, a],
    ]) {
      const lake = join(dir, `procs-overlap-${round++}`)
      const results = await importAtOnce(files, lake)
      expect(results.map((r) => r.status)).toEqual(['imported', 'imported'])
      for (const r of results) expect(r.eventsWritten + r.eventsAlreadyInLake).toBe(ORDERS)
      expect(written(...results)).toBe(ORDERS + half)
      await expectExactlyOnce(lake, idsOf([1, ORDERS + half]))
    }
  }, 600_000)
})

describe('a crash at each write point of an import (failpoint sweep)', () => {
  // Every point an import passes, in order: its data files written, just before its commit, the commit's link, just
  // after it, and the checkpoint of version 10 (the base lake holds versions 0-9, so the import commits version 10).
  const POINTS = [
    'lake.datafiles.after',
    'import.commit.before',
    'lake.commit.before',
    'lake.commit.after',
    'lake.checkpoint.write',
    'lake.checkpoint.pointer',
  ] as const satisfies readonly FailpointName[]
  const LANDED: readonly string[] = ['lake.commit.after', 'lake.checkpoint.write', 'lake.checkpoint.pointer']
  const baseIds = idsOf([900, 919])
  let base: string

  beforeAll(async () => {
    base = join(dir, 'sweep-base')
    const engine = await Engine.open()
    try {
      for (let i = 0; i < 10; i++) {
        const file = await ordersFile(`sweep-base-${i}.csv`, 900 + 2 * i, 901 + 2 * i)
        await importOrders(engine, resolveImportOptions({file, lake: base, map: MAP, currency: 'EUR'}))
      }
    } finally {
      engine.close()
    }
    expect(await listCommitVersions(join(base, 'events'))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  for (const point of POINTS) {
    it(`${point}: nothing or everything is visible, and a re-run leaves every event once`, async () => {
      const lake = join(dir, `sweep-${point}`)
      cpSync(base, lake, {recursive: true})
      const file = await ordersFile('sweep.csv', 1, 20)
      const crashed = ecap(importArgs(file, lake), {timeoutMs: 120_000, env: {ECAP_FAILPOINTS: `${point}=crash`}})
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
      expect(crashed.stderr).toContain(`failpoint ${point} crashed the process`)
      const landed = LANDED.includes(point)
      expect((await listCommitVersions(join(lake, 'events'))).at(-1)).toBe(landed ? 10 : 9)
      await expectExactlyOnce(lake, landed ? [...baseIds, ...idsOf([1, 20])] : baseIds)

      const rerun = cliImport(file, lake)
      expect(rerun).toMatchObject(
        landed ? {status: 'already-imported', eventsWritten: 0} : {status: 'imported', eventsWritten: 20},
      )
      await expectExactlyOnce(lake, [...baseIds, ...idsOf([1, 20])])
      expect(cliImport(file, lake)).toMatchObject({status: 'already-imported', eventsWritten: 0})
    })
  }
})

describe('a failure on the retry after a lost race', () => {
  it('(failpoint import.commit.before, second time) commits nothing; the re-run lands only what the winner did not', async () => {
    const lake = join(dir, 'crash-retry')
    const file = await ordersFile('crash-retry.csv', 1, 20)
    process.env.ECAP_FAILPOINTS = 'import.commit.before=error@2'
    resetFailpoints()
    const rival = await ordersFile('crash-rival.csv', 11, 30)
    const {result, error} = await importBetween(file, lake, [{at: 'Committing', file: rival}])
    expect(result).toBeUndefined()
    expect(error).toMatchObject({code: 'FAILPOINT'})
    await expectExactlyOnce(lake, idsOf([11, 30]))
    delete process.env.ECAP_FAILPOINTS
    resetFailpoints()
    expect(cliImport(file, lake)).toMatchObject({status: 'imported', eventsWritten: 10, eventsAlreadyInLake: 10})
    await expectExactlyOnce(lake, idsOf([1, 30]))
  })
})
