import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {cpSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {resultPath} from '../src/lib/analytics/store.js'
import {Engine} from '../src/lib/engine/engine.js'
import {readCheckpoint, writeCheckpoint} from '../src/lib/lake/checkpoint.js'
import {compactTable} from '../src/lib/lake/compact.js'
import {checkpointActions, commitFileName, logPath, readSnapshot} from '../src/lib/lake/delta-log.js'
import {EVENTS_TABLE, maybeCheckpoint, tablePath} from '../src/lib/lake/lake.js'
import {replaceTable} from '../src/lib/lake/result-table.js'
import {ecap} from './helpers/cli.js'
import {PYTHON, readWithDeltaRs} from './helpers/python.js'

/**
 * Issue 12, case 8: ecap writes Delta protocol 1/2 without table features. A table that delta-rs (or Spark) upgraded
 * to writer version 7 with a feature such as appendOnly is refused (exit 3, nothing changed on disk) by every command
 * that writes, and a checkpoint, if one is written at all, carries the whole protocol.
 */

let dir: string
let engine: Engine
/** Two lake runs (events versions 0-1) and a saved funnel, as ecap made them; each test works on a copy. */
let baseLake: string

/** Runs Python with delta-rs on a table: `body` sees `dt`, the DeltaTable, and `DeltaTable`, `TableFeatures`. */
function deltaRs(table: string, body: string): string {
  const script = [
    'import json, os, sys',
    'from deltalake import DeltaTable',
    'from deltalake.table import TableFeatures',
    'dt = DeltaTable(sys.argv[1])',
    body,
    'sys.stdout.flush()',
    // Skip interpreter teardown, where delta-rs/Arrow threads have been seen to abort the process (see read_delta.py).
    'os._exit(0)',
  ].join('\n')
  return execFileSync(PYTHON, ['-c', script, table], {encoding: 'utf8'})
}

const UPGRADE = 'dt.alter.add_feature(TableFeatures.AppendOnly, allow_protocol_versions_increase=True)'
const PROTOCOL =
  'p = DeltaTable(sys.argv[1]).protocol(); print(json.dumps([p.min_reader_version, p.min_writer_version, p.writer_features]))'

/** Every file and folder under `root` with a digest of each file's bytes: equal digests, nothing changed on disk. */
function tree(root: string): string[] {
  return readdirSync(root, {recursive: true, withFileTypes: true})
    .map((e) => {
      const path = join(e.parentPath, e.name)
      const rel = path.slice(root.length + 1)
      return e.isFile() ? `${rel} ${createHash('sha256').update(readFileSync(path)).digest('hex')}` : `${rel}/`
    })
    .sort()
}

let copies = 0
function copyBase(): string {
  const lake = join(dir, `lake-${++copies}`)
  cpSync(baseLake, lake, {recursive: true})
  return lake
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-lake-protocol-'))
  engine = await Engine.open()
  baseLake = join(dir, 'base')
  for (const seed of ['1', '2']) {
    const run = ecap([
      'generate',
      '--to',
      'lake',
      '--lake',
      baseLake,
      '--events',
      '1500',
      '--days',
      '4',
      '--seed',
      seed,
      '-q',
    ])
    expect(run.status, run.stderr).toBe(0)
  }
  const funnel = ecap(['analyze', 'funnel', '--lake', baseLake, '-q'])
  expect(funnel.status, funnel.stderr).toBe(0)
}, 120_000)

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

describe('a table delta-rs upgraded to writer version 7 (appendOnly)', () => {
  it('is refused by every command that writes: compact, vacuum, a lake run, an analysis saving over it (exit 3, nothing changed)', () => {
    const lake = copyBase()
    const events = tablePath(lake, EVENTS_TABLE)
    const funnel = resultPath(lake, 'funnel')
    deltaRs(events, UPGRADE)
    deltaRs(funnel, UPGRADE)
    expect(JSON.parse(deltaRs(events, PROTOCOL))).toEqual([1, 7, ['appendOnly']])
    const before = tree(lake)

    const commands: [string[], string][] = [
      [['lake', 'compact'], events],
      [['lake', 'vacuum', '--retain', '0', '--yes'], events],
      [['generate', '--to', 'lake', '--events', '500', '--seed', '3'], events],
      // Reading the upgraded events table is fine (reader version 1); replacing the saved funnel is not.
      [['analyze', 'funnel'], funnel],
    ]
    for (const [args, table] of commands) {
      const run = ecap([...args, '--lake', lake])
      expect(run.stderr, args.join(' ')).toContain('Error (DELTA_PROTOCOL_UNSUPPORTED)')
      expect(run.stderr).toContain(`Delta table ${table} needs writer version 7 with table features appendOnly`)
      expect(run.status, args.join(' ')).toBe(3)
      expect(tree(lake), args.join(' ')).toEqual(before)
    }
    // Still what delta-rs made it.
    expect(JSON.parse(deltaRs(events, PROTOCOL))).toEqual([1, 7, ['appendOnly']])
    expect(readWithDeltaRs(events).rows).toBe(3000)
  })

  it('keeps its whole protocol in a checkpoint, and ecap writes no checkpoint of it', async () => {
    const table = tablePath(copyBase(), EVENTS_TABLE)
    deltaRs(table, UPGRADE)
    const snapshot = await readSnapshot(table, {engine})
    expect(snapshot.version).toBe(2)
    await expect(maybeCheckpoint(table, 2, {engine, checkpointInterval: 1})).rejects.toMatchObject({
      code: 'DELTA_PROTOCOL_UNSUPPORTED',
      exitCode: 3,
    })

    // Written all the same, a checkpoint holds the features, for ecap and for delta-rs (which then reads no commit up to it).
    await writeCheckpoint(engine, table, 2, checkpointActions(snapshot))
    const protocol = (await readCheckpoint(engine, table, 2)).find((a) => 'protocol' in a)
    expect(protocol).toEqual({protocol: {minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly']}})
    // Readers start from checkpoint 2 and read no commit up to it (the commits before it are gone, to be sure).
    for (let v = 0; v < 2; v++) rmSync(join(logPath(table), commitFileName(v)))
    expect(JSON.parse(deltaRs(table, PROTOCOL))).toEqual([1, 7, ['appendOnly']])
    expect((await readSnapshot(table, {engine})).protocol).toEqual(protocol?.protocol)
  })
})

describe('an append-only table at writer version 2 (delta.appendOnly = true)', () => {
  it('may be compacted (no data changes) but not overwritten', async () => {
    const lake = copyBase()
    const events = tablePath(lake, EVENTS_TABLE)
    const funnel = resultPath(lake, 'funnel')
    for (const table of [events, funnel]) deltaRs(table, "dt.alter.set_table_properties({'delta.appendOnly': 'true'})")
    expect(JSON.parse(deltaRs(events, PROTOCOL))).toEqual([1, 2, null])

    const before = tree(funnel)
    await expect(replaceTable(engine, funnel, 'SELECT 1 AS x', {})).rejects.toMatchObject({
      code: 'DELTA_TABLE_APPEND_ONLY',
      exitCode: 3,
    })
    expect(tree(funnel)).toEqual(before)

    const compacted = await compactTable(engine, events)
    expect(compacted.version).toBe(3)
    expect(readWithDeltaRs(events).rows).toBe(3000)
  })
})
