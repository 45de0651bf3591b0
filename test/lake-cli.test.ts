import type {SpawnSyncReturns} from 'node:child_process'
import {existsSync} from 'node:fs'
import {appendFile, cp, mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {withEngine} from '../src/lib/engine/engine.js'
import {commitFileName, LOG_DIR} from '../src/lib/lake/delta-log.js'
import {appendEvents, EVENTS_TABLE, STAGING_DIR} from '../src/lib/lake/lake.js'
import {ecap as runEcap} from './helpers/cli.js'
import {shopNdjson} from './helpers/lake.js'
import {readWithDeltaRs} from './helpers/python.js'

// End-to-end: the built CLI as a user runs it. `npm test` builds dist/ first (pretest).
const BUILT_COMMAND = fileURLToPath(new URL('../dist/commands/lake/status.js', import.meta.url))

/** A lake with three commits (versions 0-2), built once and copied by each test that damages it. */
let baseLake: string
let baseDir: string
let root: string
/** The working directory of each run; it holds nothing but what ecap writes, so leftovers are easy to see. */
let cwd: string
let xdgHome: string

beforeAll(async () => {
  expect(existsSync(BUILT_COMMAND), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
  baseDir = await mkdtemp(join(tmpdir(), 'ecap-lake-cli-base-'))
  baseLake = join(baseDir, 'lake')
  const input = await shopNdjson(baseDir, 'in.ndjson', {seed: 21, customers: 50, days: 5})
  await withEngine(async (engine) => {
    for (let i = 0; i < 3; i++) await appendEvents(engine, baseLake, input.path)
  })
})

afterAll(async () => {
  await rm(baseDir, {recursive: true, force: true})
})

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecap-lake-cli-'))
  cwd = join(root, 'work')
  xdgHome = join(root, 'xdg')
  await mkdir(cwd)
  await mkdir(xdgHome)
})

afterEach(async () => {
  await rm(root, {recursive: true, force: true})
})

/** Runs the built `ecap` in this test's own working and config folders. */
function ecap(args: string[]): SpawnSyncReturns<string> {
  return runEcap(args, {cwd, xdgHome})
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true})
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
}

describe('ecap generate --to lake and ecap lake status', () => {
  it('commits a run as version 0 that lake status and delta-rs both count', async () => {
    const run = ecap(['generate', '--to', 'lake', '--lake', 'lake', '--customers', '300', '--days', '30', '--json'])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const generated = JSON.parse(run.stdout)
    expect(generated).toMatchObject({status: 0, warnings: []})
    const {result} = generated
    expect(result.events).toBeGreaterThan(1000)
    expect(result.lake).toMatchObject({version: 0, rows: result.events})
    expect(result.lake.files).toBeGreaterThan(0)
    expect(result.output).toBe(join(cwd, 'lake', EVENTS_TABLE))

    const status = ecap(['lake', 'status', '--lake', 'lake', '--json'])
    expect(status.status).toBe(0)
    const {result: lake} = JSON.parse(status.stdout)
    expect(lake.lake).toBe(join(cwd, 'lake'))
    expect(lake.tables).toHaveLength(1)
    expect(lake.tables[0]).toMatchObject({
      name: EVENTS_TABLE,
      version: 0,
      rows: result.events,
      files: result.lake.files,
      bytes: result.lake.bytes,
    })

    const delta = readWithDeltaRs(join(cwd, 'lake', EVENTS_TABLE))
    expect(delta).toMatchObject({version: 0, rows: result.events, files: result.lake.files})
    expect(lake.tables[0].partitions).toBe(delta.partitions.length)

    // The staged NDJSON chunks are gone; only the table remains.
    expect(await filesUnder(join(cwd, 'lake', STAGING_DIR))).toEqual([])
    expect(await readdir(cwd)).toEqual(['lake'])

    // Without --json: a table on stdout, nothing on stderr.
    const human = ecap(['lake', 'status', '--lake', 'lake'])
    expect(human.status).toBe(0)
    expect(human.stdout).toContain(result.events.toLocaleString('en-US'))
    expect(human.stdout).toMatch(/events/)
  })

  it('refuses -o with --to lake (exit 2) and creates nothing', async () => {
    const run = ecap(['generate', '--to', 'lake', '-o', 'x', '--customers', '10', '--days', '5'])
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('OUTPUT_NOT_A_FILE_SINK')
    expect(run.stdout).toBe('')
    expect(await readdir(cwd)).toEqual([])
  })

  it('says there is no lake (exit 2, LAKE_MISSING) for a folder that does not exist', () => {
    const human = ecap(['lake', 'status', '--lake', 'nowhere'])
    expect(human.status).toBe(2)
    expect(human.stderr).toContain('LAKE_MISSING')
    expect(human.stderr).toContain(join(cwd, 'nowhere'))
    expect(human.stdout).toBe('')
    const json = ecap(['lake', 'status', '--lake', 'nowhere', '--json'])
    expect(json.status).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({status: 2, result: null, error: {code: 'LAKE_MISSING'}})
  })
})

describe('ecap lake status on damaged or foreign tables', () => {
  const log = (lake: string) => join(lake, EVENTS_TABLE, LOG_DIR)

  it.each<[string, (lake: string) => Promise<void>, string, RegExp]>([
    [
      'a half-written commit (a torn last line)',
      (lake) => appendFile(join(log(lake), commitFileName(2)), '{"add":{"path":"event_date=2026-01-0'),
      'DELTA_LOG_CORRUPT',
      /00000000000000000002\.json is damaged: line \d+ is not valid JSON/,
    ],
    [
      'a gap in the log (version 1 deleted)',
      (lake) => rm(join(log(lake), commitFileName(1))),
      'DELTA_LOG_GAP',
      /missing version 1\b/,
    ],
    [
      'a protocol newer than ecap reads (minReaderVersion 3)',
      (lake) =>
        writeFile(
          join(log(lake), commitFileName(3)),
          `${[
            {commitInfo: {timestamp: Date.now(), operation: 'ENABLE DELETION VECTORS'}},
            {
              protocol: {
                minReaderVersion: 3,
                minWriterVersion: 7,
                readerFeatures: ['deletionVectors'],
                writerFeatures: ['deletionVectors'],
              },
            },
          ]
            .map((a) => JSON.stringify(a))
            .join('\n')}\n`,
        ),
      'DELTA_PROTOCOL_UNSUPPORTED',
      /needs reader version 3/,
    ],
    [
      'an empty _delta_log folder',
      async (lake) => {
        await rm(log(lake), {recursive: true})
        await mkdir(log(lake))
      },
      'DELTA_TABLE_MISSING',
      /has no commits/,
    ],
  ])('fails with exit 3 on %s', async (_name, damage, code, message) => {
    const lake = join(cwd, 'lake')
    await cp(baseLake, lake, {recursive: true})
    await damage(lake)

    const human = ecap(['lake', 'status', '--lake', 'lake'])
    expect(human.status).toBe(3)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain(`Error (${code})`)
    expect(human.stderr).toMatch(message)
    expect(human.stderr).toContain(join(lake, EVENTS_TABLE))
    expect(human.stderr).toContain('Try this:')

    const json = ecap(['lake', 'status', '--lake', 'lake', '--json'])
    expect(json.status).toBe(3)
    const envelope = JSON.parse(json.stdout)
    expect(envelope).toMatchObject({status: 3, result: null, error: {name: 'DataError', code}})
    expect(envelope.error.message).toMatch(message)
  })
})
