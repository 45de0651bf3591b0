import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {FAILPOINTS} from '../src/lib/failpoints.js'
import {appendEvents} from '../src/lib/lake/lake.js'
import {ecap, startEcap} from './helpers/cli.js'
import {diffExactlyOnce, type LakeKeys, lakeKeysWithDeltaRs, lakeKeysWithDuckDb} from './helpers/exactly-once.js'
import {copyGroupOffsets, createTopic, produceBad, readTopicKeys} from './helpers/fault-input.js'
import {testBrokers, uniqueName} from './helpers/kafka.js'

/**
 * The failpoint sweep: every point of FAILPOINTS, armed in turn (crash = SIGKILL there, error = the call fails), under
 * a workload that reaches it; then an unarmed rerun finishes the work, and the lake must hold exactly what an
 * uncrashed run writes, read by DuckDB and by delta-rs. A point that no workload reaches fails the sweep, so a point
 * added to FAILPOINTS is swept (or its workload is added here) before it can pass.
 *
 * Workloads, on a fixed topic of valid and bad messages in 12 partitions:
 * - `ingest` (`--until-caught-up --score-fraud --alerts-topic`, `--flush-rows 100`): a flush per partition batch, 12+
 *   flushes each committing dead letters, alerts and events, so @1..@3 hit each table and the events table passes
 *   version 10 (a checkpoint). Live fraud scores depend on the order partitions arrive in (two uncrashed runs of this
 *   workload raise different alerts: a flush brings a partition's whole month at once), so here the alerts are checked
 *   for duplicates, for belonging to the input, and for reaching Kafka, not against a reference;
 * - `ingest-one-flush` (the whole topic in one flush): scoring sees every event in time order whatever happens, so the
 *   alerts must be exactly those of an uncrashed run;
 * - `compact` and `import` on a lake of ten commits, so that their commit is version 10 and writes a checkpoint.
 */

const PARTITIONS = 12
const EVENTS = 2000
const GENERATE = [
  '--events',
  String(EVENTS),
  '--customers',
  '200',
  '--days',
  '30',
  '--fraud-rate',
  '0.2',
  '--seed',
  '11',
]
/** Cases run at once: most of a case is waiting for Kafka and process start, but the box has 2 cores. */
const CONCURRENCY = 4

type Action = 'crash' | 'error'
type Workload = 'ingest' | 'ingest-one-flush' | 'compact' | 'import'

interface SweepCase {
  point: string
  action: Action
  at: number
  workload: Workload
}

/** The cases of one point, by its family: the workloads that reach it, and which hits (@N) to arm. */
function casesOf(point: string): SweepCase[] {
  const make = (workload: Workload, action: Action, at: number): SweepCase => ({point, action, at, workload})
  if (point.startsWith('lake.compact.')) return [make('compact', 'crash', 1), make('compact', 'error', 1)]
  // An export writes no lake: test/export-postgres.test.ts checks that PostgreSQL keeps the old table there.
  if (point.startsWith('export.')) return []
  if (point.startsWith('import.')) return [make('import', 'crash', 1), make('import', 'error', 1)]
  if (point.startsWith('lake.checkpoint.')) {
    return [
      make('ingest', 'crash', 1),
      make('compact', 'crash', 1),
      make('compact', 'error', 1),
      make('import', 'crash', 1),
    ]
  }
  if (point === 'lake.datafiles.after') {
    return [
      make('ingest', 'crash', 1),
      make('ingest', 'crash', 2),
      make('compact', 'crash', 1),
      make('import', 'crash', 1),
    ]
  }
  if (point.startsWith('lake.')) {
    // A failed commit runs the writers' clean-up paths (a compaction deletes its new files): sweep `error` where the
    // commit has landed.
    const landed = point === 'lake.commit.after'
    return [
      make('ingest', 'crash', 1),
      make('ingest', 'crash', 2),
      make('ingest', 'crash', 3),
      ...(landed ? [make('ingest', 'error', 3)] : []),
      // In one flush the second commit is the alerts'.
      make('ingest-one-flush', 'crash', 2),
      make('compact', 'crash', 1),
      ...(landed ? [make('compact', 'error', 1)] : []),
      make('import', 'crash', 1),
    ]
  }
  // ingest.* and any point of a family not named above: the ingest workloads, first and a later flush.
  return [make('ingest', 'crash', 1), make('ingest', 'crash', 4), make('ingest-one-flush', 'crash', 1)]
}

const caseName = (c: SweepCase) => `${c.workload}: ${c.point}=${c.action}@${c.at}`

let dir: string
let engine: Engine
let brokers: string
let topic: string
/** What an uncrashed run of each workload leaves in the lake (for `ingest`, alerts are not compared). */
let ingestTruth: LakeKeys
/** The order_ids of the input's purchases: every alert must be one of them. */
let purchases: Set<string>
let baseIds: string[]
let importIds: string[]
let baseLake: string
let retailCsv: string
/** Which cases fired, and how their process ended. */
const fired = new Map<string, string>()

/** A tiny semaphore, so that the concurrent tests run CONCURRENCY at a time. */
let running = 0
const waiting: (() => void)[] = []
async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve))
  running++
  try {
    return await work()
  } finally {
    running--
    waiting.shift()?.()
  }
}

interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs `ecap <args>` without blocking the other cases (spawnSync would hold the whole worker). */
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  const child = startEcap(args, {env})
  const timer = setTimeout(() => child.child.kill('SIGKILL'), 180_000)
  const exit = await child.exited
  clearTimeout(timer)
  return {...exit, stdout: child.stdout(), stderr: child.stderr()}
}

function ingestArgs(workload: Workload, lake: string, group: string, alertsTopic: string): string[] {
  // One flush: more rows than the topic holds, and no timer flush before the end.
  const flush =
    workload === 'ingest-one-flush' ? ['--flush-rows', '1000000', '--flush-interval', '1h'] : ['--flush-rows', '100']
  return [
    'ingest',
    '--brokers',
    brokers,
    '--topic',
    topic,
    '--lake',
    lake,
    '--group',
    group,
    '--until-caught-up',
    ...flush,
    '--score-fraud',
    '--alerts-topic',
    alertsTopic,
    '--json',
  ]
}

const importArgs = (lake: string) => ['import', retailCsv, '--preset', 'online-retail', '--lake', lake, '--json']
const compactArgs = (lake: string) => ['lake', 'compact', '--lake', lake, '--json']

/** Order lines in the UCI Online Retail layout: 40 invoices of 1 to 3 lines. */
function retailLines(): string {
  const lines = ['InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country']
  for (let invoice = 0; invoice < 40; invoice++) {
    for (let line = 0; line <= invoice % 3; line++) {
      lines.push(
        `${560_000 + invoice},${85_000 + line},ITEM ${line},${1 + ((invoice + line) % 5)},` +
          `12/${1 + (invoice % 28)}/2010 ${8 + (invoice % 10)}:${10 + line},${(1.25 + line).toFixed(2)},` +
          `${17_000 + (invoice % 7)}.0,United Kingdom`,
      )
    }
  }
  return `${lines.join('\n')}\n`
}

/** The sets a lake must hold after a case of `workload`, each key exactly once. */
function expected(workload: Workload): LakeKeys {
  if (workload.startsWith('ingest')) return ingestTruth
  return {events: workload === 'import' ? [...baseIds, ...importIds] : baseIds, deadLetters: [], alerts: []}
}

/**
 * Exactly once with both readers: every expected key once, nothing else. With `alertsOnce`, alerts are only checked to
 * be distinct purchases of the input (see the workloads above).
 */
async function expectExactly(lake: string, want: LakeKeys, what: string, alertsOnce = false): Promise<LakeKeys> {
  const duck = await lakeKeysWithDuckDb(engine, lake)
  const rs = await lakeKeysWithDeltaRs(lake)
  for (const [reader, keys] of [
    ['DuckDB', duck],
    ['delta-rs', rs],
  ] as const) {
    for (const table of ['events', 'deadLetters', 'alerts'] as const) {
      const diff = diffExactlyOnce(keys[table], table === 'alerts' && alertsOnce ? keys.alerts : want[table])
      expect(diff, `${what}: ${table} read by ${reader}`).toEqual({missing: [], unexpected: [], duplicated: []})
    }
    expect(
      keys.alerts.filter((k) => !purchases.has(k)),
      `${what}: alerts of no purchase of the input (${reader})`,
    ).toEqual([])
  }
  return duck
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-failpoint-sweep-'))
  engine = await Engine.open()
  brokers = testBrokers()
  topic = uniqueName('sweep')

  // The input: bad messages in every partition before and after the valid events.
  await createTopic(brokers, topic, PARTITIONS)
  const badBefore = await produceBad(brokers, topic, PARTITIONS, 2, 0)
  const sent = ecap(
    ['generate', '--to', 'kafka', '--brokers', brokers, '--topic', topic, ...GENERATE, '--json', '-q'],
    {
      timeoutMs: 120_000,
    },
  )
  expect(sent.status, sent.stderr).toBe(0)
  const badAfter = await produceBad(brokers, topic, PARTITIONS, 1, 1000)
  const ndjson = join(dir, 'input.ndjson')
  const written = ecap(['generate', ...GENERATE, '-o', ndjson, '-q'], {timeoutMs: 120_000})
  expect(written.status, written.stderr).toBe(0)
  const validIds = readFileSync(ndjson, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as {event_id: string}).event_id)
  expect(new Set(validIds).size).toBe(EVENTS)

  purchases = new Set(
    readFileSync(ndjson, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"purchase"'))
      .map((line) => (JSON.parse(line) as {order_id: string}).order_id),
  )

  // The reference: an uncrashed ingest in one flush, whose alerts are the ones every one-flush case must end with.
  const refLake = join(dir, 'reference')
  const refAlerts = `${topic}-alerts-reference`
  const ref = await run(ingestArgs('ingest-one-flush', refLake, uniqueName('g-ref'), refAlerts))
  expect(ref.code, ref.stderr).toBe(0)
  const refKeys = await lakeKeysWithDuckDb(engine, refLake)
  expect(refKeys.alerts.length, 'the reference run raised no alert: the sweep would not test alerts').toBeGreaterThan(5)
  ingestTruth = {events: validIds, deadLetters: [...badBefore, ...badAfter], alerts: refKeys.alerts}
  await expectExactly(refLake, ingestTruth, 'reference run')
  expect(diffExactlyOnce(refKeys.events, validIds).missing).toEqual([])
  const published = await readTopicKeys(brokers, refAlerts, uniqueName('reader'))
  expect(refKeys.alerts.filter((k) => !published.includes(k))).toEqual([])

  // Ten commits of events, so that the commit of a compaction or an import is version 10 and writes a checkpoint.
  baseLake = join(dir, 'base')
  const shop = join(dir, 'base.ndjson')
  const made = ecap(['generate', '--events', '2000', '--customers', '100', '--days', '20', '--seed', '5', '-o', shop])
  expect(made.status, made.stderr).toBe(0)
  const lines = readFileSync(shop, 'utf8').trim().split('\n')
  baseIds = lines.map((line) => (JSON.parse(line) as {event_id: string}).event_id)
  for (let i = 0; i < 10; i++) {
    const part = join(dir, `base-${i}.ndjson`)
    writeFileSync(part, `${lines.filter((_, n) => n % 10 === i).join('\n')}\n`)
    await appendEvents(engine, baseLake, part)
  }
  retailCsv = join(dir, 'retail.csv')
  writeFileSync(retailCsv, retailLines())
  const refImport = join(dir, 'reference-import')
  cpSync(baseLake, refImport, {recursive: true})
  const imported = await run(importArgs(refImport))
  expect(imported.code, imported.stderr).toBe(0)
  const base = new Set(baseIds)
  importIds = (await lakeKeysWithDuckDb(engine, refImport)).events.filter((id) => !base.has(id))
  expect(importIds.length).toBeGreaterThan(20)
}, 240_000)

afterAll(() => {
  engine?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
  const table = [...fired].map(([name, outcome]) => `  ${name}: ${outcome}`).join('\n')
  process.stdout.write(`failpoint sweep, ${fired.size} cases:\n${table}\n`)
})

/** Arms `c`, runs its workload to the crash or failure, checks what is visible, finishes unarmed, checks the lake. */
async function sweep(c: SweepCase, index: number): Promise<void> {
  const name = caseName(c)
  const lake = join(dir, `case-${index}`)
  const env = {ECAP_FAILPOINTS: `${c.point}=${c.action}@${c.at}`}
  const group = uniqueName('g-sweep')
  const alertsTopic = `${topic}-alerts-${index}`
  if (c.workload === 'compact' || c.workload === 'import') cpSync(baseLake, lake, {recursive: true})
  const ingesting = c.workload.startsWith('ingest')
  const args = ingesting
    ? ingestArgs(c.workload, lake, group, alertsTopic)
    : c.workload === 'import'
      ? importArgs(lake)
      : compactArgs(lake)

  const armed = await run(args, env)
  const mark =
    c.action === 'crash' ? `failpoint ${c.point} crashed the process` : `Failpoint ${c.point} failed this call.`
  const outcome = `exit ${armed.code ?? armed.signal}`
  // With --json an error goes to stdout, in the envelope.
  const output = armed.stderr + armed.stdout
  expect(
    output.includes(mark),
    `${name}: the workload never reached the point (${outcome}); give the point a workload in casesOf.\n${output.slice(-2000)}`,
  ).toBe(true)
  if (c.action === 'crash') expect(armed.signal, name).toBe('SIGKILL')
  // A failure the command survives and reports (a checkpoint after a durable commit) ends in 0, any other in 1.
  else expect([0, 1], `${name}\n${output.slice(-2000)}`).toContain(armed.code)
  fired.set(name, outcome)

  // What the dead or failed run left is readable, and holds nothing twice and nothing foreign.
  const want = expected(c.workload)
  const left = await lakeKeysWithDuckDb(engine, lake)
  for (const table of ['events', 'deadLetters', 'alerts'] as const) {
    const diff = diffExactlyOnce(left[table], table === 'alerts' && c.workload === 'ingest' ? left.alerts : want[table])
    expect({unexpected: diff.unexpected, duplicated: diff.duplicated}, `${name}: ${table} after the fault`).toEqual({
      unexpected: [],
      duplicated: [],
    })
    // A compaction only rewrites: whatever it did, every row is still there.
    if (c.workload === 'compact') expect(diff.missing, `${name}: ${table} after the fault`).toEqual([])
  }

  // Restart unarmed and finish the work. A crashed member's session would hold the group for 30 s: the restart takes
  // the group's committed Kafka offsets to a group of its own instead.
  let finishGroup = group
  if (ingesting && c.action === 'crash') {
    finishGroup = `${group}-restart`
    await copyGroupOffsets(brokers, topic, group, finishGroup)
  }
  const finishArgs = ingesting ? ingestArgs(c.workload, lake, finishGroup, alertsTopic) : args
  const finish = await run(finishArgs)
  expect(finish.code, `${name}: the unarmed rerun\n${finish.stderr.slice(-3000)}`).toBe(0)
  if (!ingesting) {
    // Files a dead writer left and no commit names may stay until vacuum; vacuum must not take anything committed.
    const vacuum = await run(['lake', 'vacuum', '--lake', lake, '--retain', '0s', '--yes', '--json'])
    expect(vacuum.code, `${name}: vacuum\n${vacuum.stderr}`).toBe(0)
  }

  const lakeKeys = await expectExactly(lake, want, name, c.workload === 'ingest')
  if (ingesting) {
    // Alerts reach Kafka at least once: every alert of the lake is on the topic.
    const published = new Set(await readTopicKeys(brokers, alertsTopic, uniqueName('reader')))
    expect(
      lakeKeys.alerts.filter((k) => !published.has(k)),
      `${name}: alerts in the lake never produced to ${alertsTopic}`,
    ).toEqual([])
  }
}

describe.concurrent('failpoint sweep', () => {
  for (const [index, c] of FAILPOINTS.flatMap(casesOf).entries()) {
    it(caseName(c), () => slot(() => sweep(c, index)), 900_000)
  }
})
