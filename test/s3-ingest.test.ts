import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {FAILPOINTS} from '../src/lib/failpoints.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {FRAUD_ALERTS_TABLE} from '../src/lib/lake/fraud-alerts.js'
import {EVENTS_TABLE} from '../src/lib/lake/lake.js'
import {storageAt} from '../src/lib/lake/storage.js'
import {type EcapProcess, startEcap} from './helpers/cli.js'
import {diffExactlyOnce, type LakeKeys, lakeKeysWithDeltaRs, lakeKeysWithDuckDb} from './helpers/exactly-once.js'
import {copyGroupOffsets, createTopic, produceBad, readTopicKeys} from './helpers/fault-input.js'
import {testBrokers, uniqueName} from './helpers/kafka.js'
import {eventIdsWithDeltaRs, idsDigest} from './helpers/python.js'
import {seededRandom} from './helpers/random.js'
import {newBucket} from './helpers/s3.js'

/**
 * `ecap ingest` into a lake on S3 (the S3-compatible server of the test setup), with the real Kafka broker and the
 * built `ecap` binary: the exactly-once proof of the local crash tests, repeated where commits are conditional PUTs
 * and staging stays on each worker's own disk. Every check reads the lake back from the store, with DuckDB (ecap's
 * reader) and delta-rs (a foreign one), and lists each table's log: versions 0..N with no gap, each commit once.
 *
 * Each worker runs as a separate host would: a working folder and a $TMPDIR of its own (staging for an S3 lake lives
 * under $TMPDIR), sharing only the broker, the consumer group and the bucket. Long random runs belong in bench/; these
 * are kept to a few minutes in all.
 */

let dir: string
let engine: Engine
let brokers: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-s3-ingest-'))
  engine = await Engine.open()
  brokers = testBrokers()
})

afterAll(() => {
  engine?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A machine of its own, as far as ecap can tell: a working folder and a temp folder nobody else uses. */
interface Host {
  cwd: string
  tmp: string
}

function newHost(name: string): Host {
  const root = mkdtempSync(join(dir, `${name}-`))
  const host = {cwd: join(root, 'work'), tmp: join(root, 'tmp')}
  mkdirSync(host.cwd)
  mkdirSync(host.tmp)
  return host
}

/** Starts `ecap <args>` on `host`. */
function startOn(host: Host, args: string[], env: NodeJS.ProcessEnv = {}): EcapProcess {
  return startEcap(args, {cwd: host.cwd, env: {TMPDIR: host.tmp, ...env}})
}

interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs `ecap <args>` on `host` to its end without blocking the other cases (spawnSync would hold the worker). */
async function runOn(host: Host, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): Promise<Finished> {
  const child = startOn(host, args, env)
  const timer = setTimeout(() => child.child.kill('SIGKILL'), timeoutMs)
  const exit = await child.exited
  clearTimeout(timer)
  return {...exit, stdout: child.stdout(), stderr: child.stderr()}
}

/** A lake in a bucket of its own. */
async function s3Lake(): Promise<string> {
  return `s3://${await newBucket('ingest')}/lake`
}

const table = (lake: string, name: string) => `${lake}/${name}`

interface Input {
  ids: string[]
  deadLetters: string[]
  /** The order_id of every purchase (one shop per topic: order ids are unique). */
  purchases: Set<string>
}

/** Generator flags of a small shop whose events span few days (few partition files per flush: S3 PUTs are slow). */
function shop(seed: number, events: number): string[] {
  return [
    '--events',
    String(events),
    '--customers',
    '300',
    '--days',
    '3',
    '--fraud-rate',
    '0.2',
    '--seed',
    String(seed),
  ]
}

/** What the lake must hold of the seeded shop `flags` describes (the generator is deterministic: an NDJSON copy). */
async function shopTruth(flags: string[]): Promise<{ids: string[]; purchases: Set<string>}> {
  const host = newHost('truth')
  const ndjson = join(host.cwd, 'shop.ndjson')
  const written = await runOn(host, ['generate', ...flags, '-o', ndjson, '-q'])
  expect(written.code, written.stderr).toBe(0)
  const events = readFileSync(ndjson, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as {event_id: string; event_type: string; order_id?: string})
  return {
    ids: events.map((e) => e.event_id),
    purchases: new Set(events.filter((e) => e.event_type === 'purchase').map((e) => String(e.order_id))),
  }
}

/** `ecap generate --to kafka` of the shop `flags` describes, from a host of its own. */
function startProducer(topic: string, flags: string[]): EcapProcess {
  return startOn(newHost('producer'), [
    'generate',
    '--to',
    'kafka',
    '--brokers',
    brokers,
    '--topic',
    topic,
    ...flags,
    '-q',
  ])
}

/**
 * Fills `topic`: `bad` dead-letter messages per partition, the seeded shop, `bad` more; returns what the lake must
 * hold of it.
 */
async function produceInput(topic: string, partitions: number, flags: string[], bad: number): Promise<Input> {
  const before = await produceBad(brokers, topic, partitions, bad, 0)
  const producer = startProducer(topic, flags)
  expect(await producer.exited, producer.stderr()).toEqual({code: 0, signal: null})
  const after = await produceBad(brokers, topic, partitions, bad, 500)
  return {...(await shopTruth(flags)), deadLetters: [...before, ...after]}
}

function ingestArgs(topic: string, lake: string, group: string, alertsTopic: string, extra: string[] = []): string[] {
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
    '--score-fraud',
    '--alerts-topic',
    alertsTopic,
    '--json',
    ...extra,
  ]
}

const NOTHING_WRONG = {missing: [], unexpected: [], duplicated: []}

/**
 * The lake holds every event and dead letter of `input` exactly once, read by DuckDB and by delta-rs; alerts are
 * checked for duplicates and for belonging to a purchase of the input (live scores depend on the order partitions
 * arrive in, so two runs may raise different alerts), and for having reached the alerts topic. Returns the keys.
 */
async function expectExactly(
  lake: string,
  input: Input,
  alertsTopic: string,
  what: string,
  options: {digest?: boolean} = {},
): Promise<LakeKeys> {
  const duck = await lakeKeysWithDuckDb(engine, lake)
  const rs = await lakeKeysWithDeltaRs(lake)
  for (const [reader, keys] of [
    ['DuckDB', duck],
    ['delta-rs', rs],
  ] as const) {
    expect(diffExactlyOnce(keys.events, input.ids), `${what}: events read by ${reader}`).toEqual(NOTHING_WRONG)
    expect(diffExactlyOnce(keys.deadLetters, input.deadLetters), `${what}: dead letters read by ${reader}`).toEqual(
      NOTHING_WRONG,
    )
    expect(diffExactlyOnce(keys.alerts, keys.alerts).duplicated, `${what}: alerts twice (${reader})`).toEqual([])
    expect(
      keys.alerts.filter((k) => !input.purchases.has(k)),
      `${what}: alerts of no purchase of the input (${reader})`,
    ).toEqual([])
  }
  expect([...rs.alerts].sort(), `${what}: alerts, delta-rs against DuckDB`).toEqual([...duck.alerts].sort())
  const published = new Set(await readTopicKeys(brokers, alertsTopic, uniqueName('reader')))
  expect(
    duck.alerts.filter((k) => !published.has(k)),
    `${what}: alerts in the lake never produced to ${alertsTopic}`,
  ).toEqual([])
  if (options.digest === false) return duck
  // The foreign reader agrees on the exact set, not only on the keys as listed.
  expect(eventIdsWithDeltaRs(table(lake, EVENTS_TABLE)), `${what}: events by delta-rs`).toEqual({
    rows: input.ids.length,
    distinct: input.ids.length,
    digest: idsDigest(input.ids),
  })
  return duck
}

/**
 * A table's log in the store: commit versions 0..N with none missing, each carrying a transaction id no other commit
 * has (a commit written twice, or a retried PUT landing as a second version, would show). Returns N (-1: no table).
 */
async function expectContiguousLog(tableLocation: string, what: string): Promise<number> {
  const storage = storageAt(tableLocation)
  const versions = (await storage.list('_delta_log'))
    .map((e) => /^(\d{20})\.json$/.exec(e.name)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b)
  expect(versions, `${what}: versions of ${tableLocation}`).toEqual(versions.map((_, i) => i))
  const txnIds: string[] = []
  for (const version of versions) {
    const text = await storage.readText(`_delta_log/${String(version).padStart(20, '0')}.json`)
    expect(text, `${what}: commit ${version} of ${tableLocation} readable`).toBeDefined()
    const info = (text as string)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as {commitInfo?: {txnId?: string}})
      .find((a) => a.commitInfo)?.commitInfo
    txnIds.push(String(info?.txnId))
  }
  expect(diffExactlyOnce(txnIds, txnIds).duplicated, `${what}: a commit of ${tableLocation} landed twice`).toEqual([])
  return versions.length - 1
}

/** The newest commit version of a table (-1: none yet). */
async function lastVersion(tableLocation: string): Promise<number> {
  const versions = (await storageAt(tableLocation).list('_delta_log')).map((e) =>
    Number(/^(\d{20})\.json$/.exec(e.name)?.[1] ?? -1),
  )
  return Math.max(-1, ...versions)
}

async function expectContiguousLogs(lake: string, what: string): Promise<Record<string, number>> {
  const last: Record<string, number> = {}
  for (const name of [EVENTS_TABLE, DEAD_LETTERS_TABLE, FRAUD_ALERTS_TABLE]) {
    last[name] = await expectContiguousLog(table(lake, name), what)
  }
  return last
}

/** Nothing of the lake went to the host's disk: no folder named after the URL, no staging file left behind. */
function expectNothingLocal(host: Host, what: string): void {
  expect(existsSync(join(host.cwd, 's3:')), `${what}: a local folder named s3: in ${host.cwd}`).toBe(false)
  const staging = join(host.tmp, 'ecap-staging')
  const left = existsSync(staging) ? readdirSync(staging, {recursive: true, withFileTypes: true}) : []
  expect(
    left.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)),
    `${what}: staging files left`,
  ).toEqual([])
}

function resultOf(stdout: string) {
  return JSON.parse(stdout).result
}

describe('ecap ingest into an s3:// lake', () => {
  it('--until-caught-up lands every event, dead letter and fraud alert in S3 tables exactly once; status reads the lake', async () => {
    const topic = uniqueName('s3-ingest')
    const alertsTopic = `${topic}-alerts`
    const group = uniqueName('g-s3')
    await createTopic(brokers, topic, 6)
    const input = await produceInput(topic, 6, shop(31, 3000), 2)
    const lake = await s3Lake()
    const host = newHost('host')

    const run = await runOn(
      host,
      ingestArgs(topic, lake, group, alertsTopic, ['--until-caught-up', '--flush-rows', '500']),
    )
    expect(run.code, run.stderr).toBe(0)
    const result = resultOf(run.stdout)
    expect(result).toMatchObject({messages: 3024, events: 3000, deadLetters: 24, stoppedBy: 'caught-up'})
    expect(result.fraud.alerts, 'no alert raised: the alerts table would go untested').toBeGreaterThan(0)

    const keys = await expectExactly(lake, input, alertsTopic, 'one run')
    expect(keys.alerts.length).toBe(result.fraud.alerts)
    const versions = await expectContiguousLogs(lake, 'one run')
    expectNothingLocal(host, 'one run')

    // The lag, measured against the lake's offsets of record read from S3.
    const status = await runOn(host, [
      'ingest',
      'status',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--group',
      group,
      '--lake',
      lake,
      '--json',
    ])
    expect(status.code, status.stderr).toBe(0)
    const report = resultOf(status.stdout)
    expect(report.lake).toBe(lake)
    expect(report.total.lagMessages).toBe(0)
    expect(report.events.version).toBe(versions[EVENTS_TABLE])
    expect(report.events.latestEventTime).not.toBeNull()
    for (const p of report.partitions) expect(p.lakeNext, JSON.stringify(p)).toBe(p.logEnd)

    // Run again from another host in another group: the lake's txns say everything is there.
    const again = await runOn(
      newHost('again'),
      ingestArgs(topic, lake, uniqueName('g-s3'), `${alertsTopic}-again`, ['--until-caught-up']),
    )
    expect(again.code, again.stderr).toBe(0)
    expect(resultOf(again.stdout)).toMatchObject({messages: 0, events: 0, stoppedBy: 'caught-up'})
    await expectExactly(lake, input, alertsTopic, 'after a second run')
    expect(await expectContiguousLogs(lake, 'after a second run')).toEqual(versions)
  }, 300_000)

  it('three workers on three hosts, one group, one S3 lake: seeded SIGKILLs and restarts while a producer writes, every message once', async () => {
    const seed = 20261203
    const rand = seededRandom(seed)
    const partitions = 6
    const topic = uniqueName(`s3-kill-${seed}`)
    const alertsTopic = `${topic}-alerts`
    const group = uniqueName('g-s3-kill')
    await createTopic(brokers, topic, partitions)
    // A live stream: 6000 events at 200 a second, so that the workers commit (and die) while it is produced.
    const flags = [...shop(seed, 6000), '--rate', '200']
    const badBefore = await produceBad(brokers, topic, partitions, 2, 0)
    const lake = await s3Lake()
    const hosts = [newHost('host-a'), newHost('host-b'), newHost('host-c')]
    const args = ingestArgs(topic, lake, group, alertsTopic, ['--flush-rows', '400', '--flush-interval', '1s'])
    const members = hosts.map((host) => startOn(host, args))
    const everyone: EcapProcess[] = [...members]
    const producer = startProducer(topic, flags)
    const log: string[] = []
    /** The events table's version at each kill. */
    const killedAt: number[] = []
    const seconds = 45
    const context = () =>
      `${log.join('\n')}\n${members.map((m, i) => `host ${i}: ${m.stderr().slice(-1500)}`).join('\n')}`
    try {
      const began = Date.now()
      // Seeded kills: three, at least 5 s apart, after the workers had time to join and commit.
      const times = Array.from({length: 3}, () => 6 + rand() * (seconds - 20)).sort((a, b) => a - b)
      for (let i = 1; i < times.length; i++) times[i] = Math.max(times[i] as number, (times[i - 1] as number) + 5)
      for (const at of times) {
        await sleep(Math.max(0, began + at * 1000 - Date.now()))
        const index = Math.floor(rand() * members.length)
        const victim = members[index] as EcapProcess
        victim.child.kill('SIGKILL')
        await victim.exited
        const version = await lastVersion(table(lake, EVENTS_TABLE))
        killedAt.push(version)
        log.push(`t=${at.toFixed(1)}s killed the worker on host ${index} (events at version ${version})`)
        await sleep(rand() * 2000)
        // The host restarts its worker: same working and temp folders (the dead one's staging is still there).
        const restarted = startOn(hosts[index] as Host, args)
        members[index] = restarted
        everyone.push(restarted)
      }
      expect(await producer.exited, producer.stderr()).toEqual({code: 0, signal: null})
      const badAfter = await produceBad(brokers, topic, partitions, 1, 500)
      await sleep(Math.max(0, began + seconds * 1000 - Date.now()))

      // The workers alive stop as a user stops them: each writes what it holds and exits 0.
      for (const m of members) m.child.kill('SIGINT')
      const exits = await Promise.all(members.map((m) => m.exited))
      for (const exit of exits) expect(exit, context()).toEqual({code: 0, signal: null})

      // A cron run finishes the topic: another host, and a group of its own (the killed workers' sessions would hold
      // the first one for 30 s); the lake's txns are the offsets of record.
      const finishGroup = `${group}-finish`
      await copyGroupOffsets(brokers, topic, group, finishGroup)
      const final = await runOn(
        newHost('host-final'),
        ingestArgs(topic, lake, finishGroup, alertsTopic, ['--until-caught-up']),
      )
      expect(final.code, final.stderr).toBe(0)

      const input = {...(await shopTruth(shop(seed, 6000))), deadLetters: [...badBefore, ...badAfter]}
      const what = `seed ${seed}\n${log.join('\n')}`
      await expectExactly(lake, input, alertsTopic, what)
      const versions = await expectContiguousLogs(lake, what)
      // The kills fell in the middle of the stream: the group had committed before the first and went on after the
      // last. (Between two kills it may not have: a rebalance waits for a killed member until its session expires.)
      expect(killedAt[0], what).toBeGreaterThanOrEqual(0)
      expect(versions[EVENTS_TABLE], what).toBeGreaterThan(killedAt.at(-1) as number)
      // Staging stayed on each host: every host's temp folder was used, no host wrote a local `s3:` folder.
      for (const host of hosts) {
        expect(existsSync(join(host.tmp, 'ecap-staging')), host.tmp).toBe(true)
        expect(existsSync(join(host.cwd, 's3:'))).toBe(false)
      }
    } finally {
      for (const m of everyone) m.child.kill('SIGKILL')
      producer.child.kill('SIGKILL')
    }
  }, 420_000)
})

/**
 * Every failpoint an ingest reaches, armed as a crash (SIGKILL there) on an S3 lake: the dead run leaves nothing twice
 * and nothing foreign, a restart on another host (the dead one's staging is gone with it) finishes, and the lake
 * holds the input exactly once. The points of compaction and import are swept by their commands' tests.
 */
const SWEEP: {point: string; at: number}[] = [
  {point: 'lake.datafiles.after', at: 2},
  {point: 'lake.commit.before', at: 3},
  {point: 'lake.commit.after', at: 3},
  // A table's tenth commit writes a checkpoint (12 partitions of ~170 messages, --flush-rows 100: a flush at least per
  // partition, each committing dead letters, alerts and events).
  {point: 'lake.checkpoint.write', at: 1},
  {point: 'lake.checkpoint.pointer', at: 1},
  {point: 'ingest.dead-letters.after-commit', at: 2},
  {point: 'ingest.events.after-commit', at: 2},
  {point: 'ingest.kafka-commit.before', at: 2},
  {point: 'ingest.alerts.produce.before', at: 1},
]
const SWEEP_PARTITIONS = 12
const SWEEP_CONCURRENCY = 3

describe.concurrent('failpoints of ingest on an s3:// lake', () => {
  let topic: string
  let input: Input

  beforeAll(async () => {
    topic = uniqueName('s3-sweep')
    await createTopic(brokers, topic, SWEEP_PARTITIONS)
    input = await produceInput(topic, SWEEP_PARTITIONS, shop(11, 2000), 1)
  }, 240_000)

  it('sweeps every ingest write-path failpoint of FAILPOINTS', () => {
    const ingestPoints = FAILPOINTS.filter(
      (p) => !p.startsWith('lake.compact.') && !p.startsWith('import.') && !p.startsWith('export.'),
    )
    expect(SWEEP.map((c) => c.point).sort()).toEqual([...ingestPoints].sort())
  })

  let running = 0
  const waiting: (() => void)[] = []
  async function slot<T>(work: () => Promise<T>): Promise<T> {
    if (running >= SWEEP_CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve))
    running++
    try {
      return await work()
    } finally {
      running--
      waiting.shift()?.()
    }
  }

  for (const c of SWEEP) {
    const name = `${c.point}=crash@${c.at}`
    it(
      name,
      () =>
        slot(async () => {
          const lake = await s3Lake()
          const group = uniqueName('g-s3-sweep')
          const alertsTopic = uniqueName(`${topic}-alerts`)
          const args = (g: string) =>
            ingestArgs(topic, lake, g, alertsTopic, ['--until-caught-up', '--flush-rows', '100'])

          const armed = await runOn(newHost('armed'), args(group), {ECAP_FAILPOINTS: `${c.point}=crash@${c.at}`})
          expect(
            (armed.stderr + armed.stdout).includes(`failpoint ${c.point} crashed the process`),
            `${name}: the run never reached the point (exit ${armed.code ?? armed.signal})\n${armed.stderr.slice(-2000)}`,
          ).toBe(true)
          expect(armed.signal, name).toBe('SIGKILL')

          // What the dead run left is readable, and holds nothing twice and nothing foreign.
          const left = await lakeKeysWithDuckDb(engine, lake)
          for (const [what, keys, want] of [
            ['events', left.events, input.ids],
            ['dead letters', left.deadLetters, input.deadLetters],
          ] as const) {
            const diff = diffExactlyOnce(keys, want)
            expect(
              {unexpected: diff.unexpected, duplicated: diff.duplicated},
              `${name}: ${what} after the crash`,
            ).toEqual({unexpected: [], duplicated: []})
          }
          await expectContiguousLogs(lake, `${name}, after the crash`)

          // Another host finishes (the killed member's session would hold the group for 30 s: a group of its own).
          const finishGroup = `${group}-restart`
          await copyGroupOffsets(brokers, topic, group, finishGroup)
          const finish = await runOn(newHost('restart'), args(finishGroup))
          expect(finish.code, `${name}: the unarmed rerun\n${finish.stderr.slice(-3000)}`).toBe(0)

          await expectExactly(lake, input, alertsTopic, name, {digest: false})
          const versions = await expectContiguousLogs(lake, name)
          if (c.point.startsWith('lake.checkpoint.'))
            expect(Math.max(...Object.values(versions))).toBeGreaterThanOrEqual(10)
        }),
      600_000,
    )
  }
})
