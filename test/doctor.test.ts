import {existsSync} from 'node:fs'
import {cp, mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {withEngine} from '../src/lib/engine/engine.js'
import {commitFileName, LOG_DIR} from '../src/lib/lake/delta-log.js'
import {appendEvents, EVENTS_TABLE, STAGING_DIR} from '../src/lib/lake/lake.js'
import {checkDuckDb, checkNode, type DoctorCheck, runDoctor} from '../src/lib/setup/doctor.js'
import {ecap} from './helpers/cli.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'
import {shopNdjson} from './helpers/lake.js'

const BUILT_COMMAND = fileURLToPath(new URL('../dist/commands/doctor.js', import.meta.url))

/** A closed port: nothing listens on port 1 of the loopback interface. */
const UNREACHABLE = '127.0.0.1:1'

let baseDir: string
let baseLake: string
let topic: string
let root: string
let cwd: string
let xdgHome: string

beforeAll(async () => {
  expect(existsSync(BUILT_COMMAND), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
  baseDir = await mkdtemp(join(tmpdir(), 'ecap-doctor-base-'))
  baseLake = join(baseDir, 'lake')
  const input = await shopNdjson(baseDir, 'in.ndjson', {seed: 5, customers: 40, days: 5})
  await withEngine(async (engine) => {
    await appendEvents(engine, baseLake, input.path)
    await appendEvents(engine, baseLake, input.path)
  })
  topic = uniqueName('doctor')
  const admin = testKafka().admin()
  await admin.connect()
  try {
    await admin.createTopics({topics: [{topic, numPartitions: 3, replicationFactor: 1}], waitForLeaders: true})
  } finally {
    await admin.disconnect()
  }
})

afterAll(async () => {
  await rm(baseDir, {recursive: true, force: true})
})

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecap-doctor-'))
  cwd = join(root, 'work')
  xdgHome = join(root, 'xdg')
  await mkdir(cwd)
  await mkdir(xdgHome)
  await cp(baseLake, join(cwd, 'lake'), {recursive: true})
})

afterEach(async () => {
  await rm(root, {recursive: true, force: true})
})

function doctor(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = ecap(['doctor', ...args], {cwd, xdgHome, env})
  return run
}

function doctorJson(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = doctor([...args, '--json'], env)
  const envelope = JSON.parse(run.stdout) as {status: number; result: {exitCode: number; checks: DoctorCheck[]}}
  const byName = new Map(envelope.result.checks.map((c) => [c.name, c]))
  return {run, envelope, byName}
}

describe('ecap doctor', () => {
  it('passes a healthy lake and the real test broker with its topic: exit 0, one line per check', () => {
    const run = doctor(['--lake', './lake', '--brokers', testBrokers(), '--topic', topic])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines.map((line) => line.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      '✓ node',
      '✓ config',
      '✓ kafka',
      '✓ topic',
      '✓ lake',
      '✓ duckdb',
    ])
    expect(run.stdout).toContain(`${topic}: 3 partitions`)
    expect(run.stdout).toMatch(/events v1 \([\d,]+ rows in \d+ files\)/)
    expect(run.stdout).toContain(`lake=./lake (flag)`)
    expect(run.stdout).toContain('topic=')
  })

  it('gives every check under --json, with the exit code as the status', () => {
    const {run, envelope, byName} = doctorJson(['--lake', './lake', '--brokers', testBrokers(), '--topic', topic])
    expect(run.status).toBe(0)
    expect(envelope.status).toBe(0)
    expect([...byName.keys()]).toEqual(['node', 'config', 'kafka', 'topic', 'lake', 'duckdb'])
    expect(byName.get('topic')?.data).toEqual({topic, exists: true, partitions: 3})
    const lake = byName.get('lake')?.data as {tables: {table: string; version: number; rows: number}[]}
    expect(lake.tables).toEqual([expect.objectContaining({table: 'events', version: 1, orphanFiles: 0})])
    expect(lake.tables[0]?.rows).toBeGreaterThan(0)
    const config = byName.get('config')?.data as {settings: Record<string, {value: string; source: string}>}
    expect(config.settings.brokers).toEqual({value: testBrokers(), source: 'flag'})
    expect(config.settings.group).toEqual({value: 'ecap-ingest', source: 'default'})
  })

  it('exits 4 when Kafka is unreachable, and still checks the lake and DuckDB', () => {
    const {run, envelope, byName} = doctorJson(['--lake', './lake', '--brokers', UNREACHABLE, '--timeout', '1000'])
    expect(run.status).toBe(4)
    expect(envelope.status).toBe(4)
    expect(byName.get('kafka')).toMatchObject({status: 'fail', exitCode: 4})
    expect(byName.get('kafka')?.detail).toContain(UNREACHABLE)
    expect(byName.get('topic')?.status).toBe('skip')
    expect(byName.get('lake')?.status).toBe('ok')
    expect(byName.get('duckdb')?.status).toBe('ok')

    const text = doctor(['--lake', './lake', '--brokers', UNREACHABLE, '--timeout', '1000'])
    expect(text.status).toBe(4)
    expect(text.stdout).toMatch(/^✗ kafka .*127\.0\.0\.1:1 is not reachable/m)
  })

  it('exits 3 when a table log is damaged, naming the table', async () => {
    await writeFile(join(cwd, 'lake', EVENTS_TABLE, LOG_DIR, commitFileName(1)), '{"add": {"path": \n')
    const {run, byName} = doctorJson(['--lake', './lake', '--brokers', testBrokers(), '--topic', topic])
    expect(run.status).toBe(3)
    expect(byName.get('lake')).toMatchObject({status: 'fail', exitCode: 3})
    expect(byName.get('lake:events')).toMatchObject({status: 'fail', exitCode: 3})
    expect(byName.get('lake:events')?.detail).toContain('damaged')
  })

  it('exits 3 when unreachable Kafka and a corrupt lake meet: the data problem needs a person first', async () => {
    await rm(join(cwd, 'lake', EVENTS_TABLE, LOG_DIR, commitFileName(0)))
    const {run} = doctorJson(['--lake', './lake', '--brokers', UNREACHABLE, '--timeout', '1000'])
    expect(run.status).toBe(3)
  })

  it('exits 2 on an invalid config file, and skips what needs the config', async () => {
    await writeFile(join(cwd, 'ecap.config.json'), '{"lake": ')
    const {run, byName} = doctorJson([])
    expect(run.status).toBe(2)
    expect(byName.get('config')).toMatchObject({status: 'fail', exitCode: 2})
    expect(byName.get('config')?.detail).toContain('ecap.config.json')
    expect(['kafka', 'topic', 'lake'].map((name) => byName.get(name)?.status)).toEqual(['skip', 'skip', 'skip'])
    expect(byName.get('node')?.status).toBe('ok')
  })

  it('exits 2 when the config asks for SASL and the named password variable is not set', async () => {
    await writeFile(
      join(cwd, 'ecap.config.json'),
      JSON.stringify({'sasl-mechanism': 'plain', 'sasl-username': 'ecap', 'sasl-password-env': 'SHOP_KAFKA_PW'}),
    )
    const {run, byName} = doctorJson(['--lake', './lake'])
    expect(run.status).toBe(2)
    expect(byName.get('config')?.detail).toContain('SHOP_KAFKA_PW')
  })

  it('warns about a missing topic and lake without failing (ecap creates both)', () => {
    const {run, byName} = doctorJson(['--lake', './no-lake', '--brokers', testBrokers(), '--topic', uniqueName('none')])
    expect(run.status).toBe(0)
    expect(byName.get('topic')).toMatchObject({status: 'warn', data: {exists: false}})
    expect(byName.get('lake')).toMatchObject({status: 'warn', data: {exists: false}})
  })

  it('warns about staging folders of dead writers and data files no commit references', async () => {
    // A pid far above any real one: the writer is gone.
    const dead = join(cwd, 'lake', STAGING_DIR, 'ingest-99999999-abc')
    await mkdir(dead, {recursive: true})
    await writeFile(join(dead, 'events.ndjson'), '{}\n')
    const live = join(cwd, 'lake', STAGING_DIR, `generate-${process.pid}-abc`)
    await mkdir(live, {recursive: true})
    const partition = (await readdir(join(cwd, 'lake', EVENTS_TABLE))).find((name) => name.startsWith('event_date='))
    await writeFile(join(cwd, 'lake', EVENTS_TABLE, partition as string, 'crashed.parquet'), 'x')
    const {run, byName} = doctorJson(['--lake', './lake', '--brokers', testBrokers(), '--topic', topic])
    expect(run.status).toBe(0)
    const lake = byName.get('lake')
    expect(lake?.status).toBe('warn')
    expect(lake?.data?.orphanStaging).toEqual(['ingest-99999999-abc'])
    expect(lake?.hints.join(' ')).toContain('ingest-99999999-abc')
    expect(byName.get('lake:events')).toMatchObject({status: 'warn', data: {orphanFiles: 1}})
  })
})

describe('runDoctor (lib)', () => {
  it('fails Node older than 20 as a setup problem', () => {
    expect(checkNode('18.19.0')).toMatchObject({status: 'fail', exitCode: 2})
    expect(checkNode('20.0.0').status).toBe('ok')
    expect(checkNode('22.11.0').status).toBe('ok')
  })

  it('checks DuckDB with a session from the opener it is given, and fails it (exit 1) when none opens', async () => {
    expect(await checkDuckDb(withEngine)).toMatchObject({name: 'duckdb', status: 'ok'})
    const broken = await checkDuckDb(async () => {
      throw new Error('libduckdb.so: cannot open shared object file')
    })
    expect(broken).toMatchObject({name: 'duckdb', status: 'fail', exitCode: 1})
    expect(broken.detail).toContain('libduckdb.so')
  })

  it('reports each check as it completes, in order', async () => {
    const seen: string[] = []
    const result = await runDoctor({
      config: {flags: {lake: join(cwd, 'lake'), brokers: UNREACHABLE}, env: {}, cwd},
      kafkaTimeoutMs: 500,
      onCheck: (check) => seen.push(check.name),
      openEngine: withEngine,
    })
    expect(seen).toEqual(result.checks.map((c) => c.name))
    expect(result.exitCode).toBe(4)
  })
})
