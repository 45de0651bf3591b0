import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Kafka, logLevel, Partitioners} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {Engine, withEngine} from '../src/lib/engine/engine.js'
import {lakeOffsets} from '../src/lib/ingest/lake-offsets.js'
import {type LocalBroker, startLocalBroker} from '../src/lib/kafka/local-broker.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {type EcapProcess, type EcapRunOptions, ecap, startEcap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {type TestSasl, testBrokers, uniqueName} from './helpers/kafka.js'
import {eventIdsWithDeltaRs, idsDigest} from './helpers/python.js'

/**
 * Reliability of `ecap ingest` against real components: a real Kafka broker (the shared one, or one of the test's own
 * when it must be stopped), the built `ecap` binary as a child process, and the lake read back by DuckDB and delta-rs.
 */

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-reliability-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function run(args: string[], options: EcapRunOptions = {}) {
  return ecap(args, {timeoutMs: 240_000, ...options})
}

/**
 * Produces `events` seeded events to `topic` with the real `ecap generate --to kafka`, and returns their ids, taken
 * from the same seed written as NDJSON (the generator is deterministic; the lake comparison proves it again).
 */
function produce(
  brokers: string,
  topic: string,
  events: number,
  seed: number,
  extra: string[] = [],
  options: EcapRunOptions = {},
) {
  const sent = run(
    [
      'generate',
      '--to',
      'kafka',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--partitions',
      '6',
      '--events',
      String(events),
      '--seed',
      String(seed),
      '--json',
      '-q',
      ...extra,
    ],
    options,
  )
  expect(sent.status, sent.stderr).toBe(0)
  expect(JSON.parse(sent.stdout).result.events).toBe(events)
  return expectedIds(events, seed)
}

function expectedIds(events: number, seed: number): string[] {
  const file = join(dir, `seed-${seed}-${events}.ndjson`)
  const written = run(['generate', '--events', String(events), '--seed', String(seed), '-o', file, '-q'])
  expect(written.status, written.stderr).toBe(0)
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as {event_id: string}).event_id)
}

/** Messages ingest must dead-letter, each once. */
async function produceBad(brokers: string, topic: string, count: number): Promise<void> {
  const kafka = new Kafka({clientId: 'ecap-test', brokers: [brokers], logLevel: logLevel.NOTHING})
  const producer = kafka.producer({createPartitioner: Partitioners.DefaultPartitioner})
  await producer.connect()
  try {
    const messages = Array.from({length: count}, (_, i) => ({
      key: `bad-${i}`,
      value: i % 2 === 0 ? `not json ${i}` : JSON.stringify({...makeEvent('purchase'), total: -i - 1}),
    }))
    await producer.send({topic, messages})
  } finally {
    await producer.disconnect()
  }
}

/** True once the events table records every partition up to the topic's current high-water mark. */
async function lakeHasAll(brokers: string, topic: string, lake: string): Promise<boolean> {
  const admin = new Kafka({clientId: 'ecap-test', brokers: [brokers], logLevel: logLevel.NOTHING}).admin()
  await admin.connect()
  try {
    const high = await admin.fetchTopicOffsets(topic)
    const {offsets} = await withEngine((engine) => lakeOffsets(tablePath(lake, EVENTS_TABLE), topic, engine))
    return high.every((p) => Number(p.high) === 0 || (offsets.get(p.partition) ?? -1) >= Number(p.high) - 1)
  } finally {
    await admin.disconnect()
  }
}

/** Polls `check` until it holds; on timeout fails with `context()` (e.g. what the ingest processes printed). */
async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  stepMs = 500,
  context: () => string = () => '',
) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.\n${context()}`)
    await sleep(stepMs)
  }
}

/** The end of what ingest processes printed, for failure messages. */
function outputs(processes: EcapProcess[]): string {
  return processes
    .map(
      (p, i) =>
        `process ${i} (pid ${p.child.pid}):\nstdout: ${p.stdout().slice(-1500)}\nstderr: ${p.stderr().slice(-2500)}`,
    )
    .join('\n')
}

/** Rows in the events table now (0 before its first commit), as ecap's own reader sees them. */
async function eventRows(lake: string): Promise<number> {
  try {
    await registerTableView(engine, 'now_events', tablePath(lake, EVENTS_TABLE))
    const [row] = await engine.rows('SELECT count(*) AS n FROM now_events')
    return Number(row?.n)
  } catch {
    return 0
  }
}

/**
 * The lake holds exactly `ids` once each and exactly `rejected` dead letters once each, read by DuckDB (ecap's
 * reader) and by delta-rs (a foreign Delta reader).
 */
async function expectExactlyOnce(lake: string, ids: string[], rejected: number): Promise<void> {
  await registerTableView(engine, 'events', tablePath(lake, EVENTS_TABLE))
  const [counts] = await engine.rows('SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events')
  expect({rows: Number(counts?.n), distinct: Number(counts?.d)}).toEqual({rows: ids.length, distinct: ids.length})
  const landed = (await engine.rows('SELECT event_id FROM events')).map((r) => String(r.event_id))
  const expected = new Set(ids)
  expect(expected.size).toBe(ids.length)
  expect(landed.filter((id) => !expected.has(id))).toEqual([])
  expect(new Set(landed).size).toBe(expected.size)

  const deltaRs = eventIdsWithDeltaRs(tablePath(lake, EVENTS_TABLE))
  expect(deltaRs).toEqual({rows: ids.length, distinct: ids.length, digest: idsDigest(ids)})

  if (rejected === 0) return
  await registerTableView(engine, 'dead', tablePath(lake, DEAD_LETTERS_TABLE))
  const [dead] = await engine.rows(
    `SELECT count(*) AS n, count(DISTINCT ("partition", "offset")) AS d, count(reason) AS r FROM dead`,
  )
  expect({rows: Number(dead?.n), distinct: Number(dead?.d), reasons: Number(dead?.r)}).toEqual({
    rows: rejected,
    distinct: rejected,
    reasons: rejected,
  })
}

type Exit = {code: number | null; signal: NodeJS.Signals | null}

/** The process's exit, or a failure naming what it printed if it has not exited within `ms` (it is then killed). */
async function exitWithin(process: EcapProcess, ms: number, what: string): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms)
  })
  const outcome = await Promise.race([process.exited, late])
  clearTimeout(timer)
  if (outcome !== 'late') return outcome
  process.child.kill('SIGKILL')
  throw new Error(
    `${what} did not exit within ${ms} ms.\nstdout: ${process.stdout().slice(-2000)}\nstderr: ${process.stderr().slice(-4000)}`,
  )
}

function ingestArgs(brokers: string, topic: string, lake: string, group: string, extra: string[] = []): string[] {
  return ['ingest', '--brokers', brokers, '--topic', topic, '--lake', lake, '--group', group, ...extra]
}

function resultOf(process: EcapProcess | {stdout: string}) {
  const text = typeof process.stdout === 'function' ? process.stdout() : process.stdout
  return JSON.parse(text).result
}

describe('ecap ingest reliability', () => {
  it('splits partitions over three members, survives one SIGKILLed and replaced mid-stream, and lands every event once', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('rebalance')
    const group = uniqueName('g')
    const lake = join(dir, 'lake-rebalance')
    const first = produce(brokers, topic, 20_000, 101)
    await produceBad(brokers, topic, 6)

    const args = ingestArgs(brokers, topic, lake, group, ['--flush-rows', '1000', '--flush-interval', '1s', '--json'])
    const members = [startEcap(args), startEcap(args), startEcap(args)]
    const victim = members[1] as EcapProcess
    try {
      // Mid-stream: some of the first batch is in the lake, not all of it.
      await waitFor('the first commits', async () => (await eventRows(lake)) >= 2000, 120_000, 200)
      victim.child.kill('SIGKILL')
      expect((await victim.exited).signal).toBe('SIGKILL')
      members.push(startEcap(args))

      // A second batch arrives while the group rebalances and ingests.
      const second = produce(brokers, topic, 20_000, 202)
      await produceBad(brokers, topic, 6)
      const ids = [...first, ...second]
      expect(new Set(ids).size).toBe(40_000)

      await waitFor(
        'the lake to hold the whole topic',
        () => lakeHasAll(brokers, topic, lake),
        180_000,
        1000,
        () => outputs(members),
      )
      const survivors = members.filter((m) => m !== victim)
      // Continuous members run until told to stop: none may have ended (or given its result) on its own.
      for (const member of survivors) expect(member.stdout(), outputs(survivors)).toBe('')
      for (const member of survivors) member.child.kill('SIGINT')
      const exits = await Promise.all(survivors.map((m, i) => exitWithin(m, 60_000, `member ${i} after SIGINT`)))
      for (const exit of exits) expect(exit, outputs(survivors)).toEqual({code: 0, signal: null})
      const results = survivors.map(resultOf)
      for (const result of results) expect(result.stoppedBy).toBe('signal')
      // The test is only about a group if several members really wrote to the lake.
      expect(results.filter((r) => r.commits > 0 && r.messages > 0).length).toBeGreaterThanOrEqual(2)

      const final = run(ingestArgs(brokers, topic, lake, group, ['--until-caught-up', '--json']))
      expect(final.status, final.stderr).toBe(0)
      expect(resultOf(final)).toMatchObject({messages: 0, stoppedBy: 'caught-up'})
      await expectExactlyOnce(lake, ids, 12)
    } finally {
      for (const member of members) member.child.kill('SIGKILL')
    }
  }, 420_000)

  it('rides out a broker stopped and restarted mid-ingest, and a rerun completes exactly once', async () => {
    const brokerDir = join(dir, 'own-broker')
    let broker: LocalBroker | undefined = await startLocalBroker({dir: brokerDir})
    const {port, controllerPort} = broker
    const brokers = broker.brokers
    const topic = uniqueName('restart')
    const group = uniqueName('g')
    const lake = join(dir, 'lake-restart')
    let member: EcapProcess | undefined
    try {
      const ids = produce(brokers, topic, 40_000, 303)
      member = startEcap(ingestArgs(brokers, topic, lake, group, ['--flush-rows', '500', '--flush-interval', '1s']))
      await waitFor('the first commits', async () => (await eventRows(lake)) > 0, 120_000, 100)
      expect(await lakeHasAll(brokers, topic, lake)).toBe(false)
      await broker.stop()
      broker = undefined
      const whileDown = await eventRows(lake)
      expect(whileDown).toBeLessThan(40_000)
      await sleep(5000)
      broker = await startLocalBroker({dir: brokerDir, port, controllerPort})
      expect(broker.brokers).toBe(brokers)

      // Either it keeps going and reaches the end, or it has given up with exit 4 naming Kafka; nothing else.
      let exit: Exit | undefined
      void member.exited.then((e) => {
        exit = e
      })
      // Just after the restart, the broker may not lead its partitions again yet: the offsets lookup then fails with a
      // retriable error (NOT_LEADER_FOR_PARTITION), which only means "not yet".
      const finished = () =>
        lakeHasAll(brokers, topic, lake).catch((error: {retriable?: boolean}) => {
          if (error?.retriable === true) return false
          throw error
        })
      await waitFor(
        'ingest to finish the topic or exit',
        async () => exit !== undefined || (await finished()),
        180_000,
        1000,
        () => outputs([member as EcapProcess]),
      )
      if (exit === undefined) {
        member.child.kill('SIGINT')
        exit = await exitWithin(member, 60_000, 'ingest after SIGINT')
        expect(exit, member.stderr()).toEqual({code: 0, signal: null})
      } else {
        expect(exit, member.stderr()).toEqual({code: 4, signal: null})
        expect(member.stderr()).toMatch(/Error \(KAFKA_UNAVAILABLE\): Kafka at 127\.0\.0\.1:\d+ is not reachable/)
      }

      const rerun = run(ingestArgs(brokers, topic, lake, group, ['--until-caught-up', '--json']))
      expect(rerun.status, rerun.stderr).toBe(0)
      expect(resultOf(rerun).stoppedBy).toBe('caught-up')
      await expectExactlyOnce(lake, ids, 0)
    } finally {
      member?.child.kill('SIGKILL')
      await broker?.stop()
      rmSync(brokerDir, {recursive: true, force: true})
    }
  }, 420_000)

  describe('over SASL/PLAIN', () => {
    let sasl: TestSasl
    let ownBroker: LocalBroker | undefined

    beforeAll(async () => {
      const shared = inject('kafkaSasl')
      if (shared) {
        sasl = shared
        return
      }
      // Tests run against an external broker without a SASL listener: start one here rather than skip.
      const password = 'ecap-sasl-test-secret'
      ownBroker = await startLocalBroker({sasl: {users: {'ecap-test': password}}})
      sasl = {brokers: ownBroker.sasl!.brokers, username: 'ecap-test', password}
    })

    afterAll(async () => {
      await ownBroker?.stop()
    })

    const saslFlags = () => ['--sasl-mechanism', 'plain', '--sasl-username', sasl.username]

    it('produces and ingests with the password from ECAP_KAFKA_PASSWORD', async () => {
      const topic = uniqueName('sasl-env')
      const lake = join(dir, 'lake-sasl-env')
      const env = {ECAP_KAFKA_PASSWORD: sasl.password}
      const ids = produce(sasl.brokers, topic, 5000, 404, saslFlags(), {env})
      const ingested = run(
        ingestArgs(sasl.brokers, topic, lake, uniqueName('g'), [...saslFlags(), '--until-caught-up', '--json']),
        {env},
      )
      expect(ingested.status, ingested.stderr).toBe(0)
      expect(resultOf(ingested)).toMatchObject({messages: 5000, events: 5000, stoppedBy: 'caught-up'})
      await expectExactlyOnce(lake, ids, 0)
    }, 180_000)

    it('produces and ingests with the password from --sasl-password-file', async () => {
      const topic = uniqueName('sasl-file')
      const lake = join(dir, 'lake-sasl-file')
      const file = join(dir, 'kafka-password')
      writeFileSync(file, `${sasl.password}\n`)
      chmodSync(file, 0o600)
      const flags = [...saslFlags(), '--sasl-password-file', file]
      const ids = produce(sasl.brokers, topic, 5000, 505, flags)
      const ingested = run(
        ingestArgs(sasl.brokers, topic, lake, uniqueName('g'), [...flags, '--until-caught-up', '--json']),
      )
      expect(ingested.status, ingested.stderr).toBe(0)
      expect(resultOf(ingested)).toMatchObject({messages: 5000, events: 5000, stoppedBy: 'caught-up'})
      await expectExactlyOnce(lake, ids, 0)
    }, 180_000)

    it('takes the whole connection from ecap.config.json, with the password in the variable it names', async () => {
      const project = join(dir, 'sasl-project')
      mkdirSync(project)
      const lake = join(project, 'lake')
      const group = uniqueName('g')
      writeFileSync(
        join(project, 'ecap.config.json'),
        JSON.stringify({
          lake,
          brokers: sasl.brokers,
          topic: uniqueName('sasl-config'),
          group,
          tls: false,
          'sasl-mechanism': 'plain',
          'sasl-username': sasl.username,
          'sasl-password-env': 'SHOP_KAFKA_PW',
        }),
      )
      // No connection flag and no ECAP_KAFKA_PASSWORD: generate, ingest and ingest status read the file alone.
      const options = {cwd: project, env: {SHOP_KAFKA_PW: sasl.password}}
      const sent = run(['generate', '--to', 'kafka', '--events', '3000', '--seed', '707', '--json', '-q'], options)
      expect(sent.status, sent.stderr).toBe(0)
      const ingested = run(['ingest', '--until-caught-up', '--json'], options)
      expect(ingested.status, ingested.stderr).toBe(0)
      expect(resultOf(ingested)).toMatchObject({messages: 3000, events: 3000, stoppedBy: 'caught-up'})
      const status = run(['ingest', 'status', '--json'], options)
      expect(status.status, status.stderr).toBe(0)
      expect(resultOf(status)).toMatchObject({group, lake, total: {lagMessages: 0}})
      await expectExactlyOnce(lake, expectedIds(3000, 707), 0)
      // The variable the file names is where the password must be: without it, a precise usage error.
      const missing = run(['ingest', '--until-caught-up'], {cwd: project})
      expect(missing.status).toBe(2)
      expect(missing.stderr).toContain('SHOP_KAFKA_PW is not set')
    }, 180_000)

    it('exits 2 saying the credentials were refused for a wrong password, and never prints a password', () => {
      const wrong = 'wrong-password-7f3a9c'
      const lake = join(dir, 'lake-sasl-wrong')
      const args = ingestArgs(sasl.brokers, uniqueName('sasl-wrong'), lake, uniqueName('g'), [
        ...saslFlags(),
        '--until-caught-up',
      ])
      for (const json of [false, true]) {
        const refused = run(json ? [...args, '--json'] : args, {env: {ECAP_KAFKA_PASSWORD: wrong}})
        const output = refused.stdout + refused.stderr
        // Refused credentials are a configuration mistake: exit 2, which cron must not retry as it would exit 4.
        expect(refused.status, output).toBe(2)
        expect(output).toMatch(/refused the credentials/)
        expect(output).toMatch(/authentication failed/i)
        expect(output).not.toContain(wrong)
        expect(output).not.toContain(sasl.password)
        if (json) expect(JSON.parse(refused.stdout)).toMatchObject({status: 2, error: {code: 'KAFKA_AUTH_FAILED'}})
      }
    }, 120_000)
  })

  it('lets two cron runs that start at once in one group share the work, and a third finds nothing to do', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('cron')
    const group = uniqueName('g')
    const lake = join(dir, 'lake-cron')
    const ids = produce(brokers, topic, 30_000, 606)
    await produceBad(brokers, topic, 4)

    const args = ingestArgs(brokers, topic, lake, group, ['--until-caught-up', '--flush-rows', '2000', '--json'])
    const runs = [startEcap(args), startEcap(args)]
    try {
      const exits = await Promise.all(runs.map((r, i) => exitWithin(r, 120_000, `cron run ${i}`)))
      // Both finish: a commit race on the same partitions after the rebalance rewinds to the lake, it does not fail.
      for (const exit of exits) expect(exit, outputs(runs)).toEqual({code: 0, signal: null})
      const results = runs.map(resultOf)
      for (const result of results) expect(result.stoppedBy).toBe('caught-up')
      // Between them they wrote every message at least once (the lake skips what the other already wrote).
      expect(results.reduce((sum, r) => sum + r.messages, 0)).toBeGreaterThanOrEqual(30_004)
      await expectExactlyOnce(lake, ids, 4)
    } finally {
      for (const r of runs) r.child.kill('SIGKILL')
    }

    const third = run(args)
    expect(third.status, third.stderr).toBe(0)
    expect(resultOf(third)).toMatchObject({messages: 0, events: 0, commits: 0, stoppedBy: 'caught-up'})
    await expectExactlyOnce(lake, ids, 4)
  }, 300_000)
})
