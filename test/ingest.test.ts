import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Partitioners} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap as runEcap, spawnEcap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'
import {readWithDeltaRs} from './helpers/python.js'

function ecap(args: string[]) {
  return runEcap(args, {timeoutMs: 120_000})
}

/** Kinds of bad message mixed into valid traffic; each must land in dead_letters with a reason. */
function badMessages(): {key: string | null; value: Buffer | null}[] {
  const good = makeEvent('purchase') as Record<string, unknown>
  const json = (v: unknown) => Buffer.from(JSON.stringify(v))
  return [
    {key: null, value: Buffer.from('not json at all')},
    {key: null, value: Buffer.from('{"event_type": "page_view", "event_id":')},
    {key: null, value: json([1, 2, 3])},
    {key: null, value: json(42)},
    {key: null, value: json({...good, event_type: 'teleport'})},
    {key: null, value: json({...good, total: 'lots'})},
    {key: null, value: json({...good, total: -5})},
    {key: null, value: json({...good, total: 1e15})},
    {key: null, value: json({...good, event_time: '2026-02-30T00:00:00.000Z'})},
    {key: null, value: json({...good, items: []})},
    {key: null, value: json({...good, surprise: true})},
    {key: null, value: json({...good, schema_version: 99})},
    {key: 'c1', value: Buffer.alloc(0)},
    {key: 'c1', value: null},
    {key: null, value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d])},
    {key: null, value: Buffer.from(`{"a":${'['.repeat(2000)}${']'.repeat(2000)}}`)},
    {key: null, value: json({...good, event_id: undefined})},
    {key: null, value: json({...good, event_id: 'not-a-uuid'})},
    {key: null, value: json({...good, customer_id: 42})},
    {key: null, value: json({...good, event_time: '2999-01-01T00:00:00.000Z'})},
    {key: null, value: json({...good, event_time: '1970-01-01T00:00:00.000Z'})},
    {key: null, value: json({...good, event_time: '2026-03-01 10:00:00'})},
    {key: null, value: Buffer.from(JSON.stringify(good).replace('"total":', '"total":NaN,"x":'))},
    {key: null, value: json({...good, items: [{product_id: 'p1', quantity: -1, unit_price: 1}]})},
    {key: null, value: json({...good, billing_country: 'de'})},
    {key: null, value: json({...good, payment_method: null})},
    {key: null, value: json({...good, query: 'x'.repeat(1_000_000)})},
    {key: null, value: Buffer.from(`${JSON.stringify(good)} trailing`)},
    {key: null, value: Buffer.from(JSON.stringify(good).replace('"total":', '"total":0.01,"total":'))},
  ]
}

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

async function lakeCounts(lake: string): Promise<{events: number; distinct: number; dead: number; reasons: string[]}> {
  await registerTableView(engine, 'events', tablePath(lake, EVENTS_TABLE))
  const [e] = await engine.rows('SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events')
  let dead = 0
  let reasons: string[] = []
  try {
    await registerTableView(engine, 'dead', tablePath(lake, DEAD_LETTERS_TABLE))
    const rows = await engine.rows('SELECT reason FROM dead ORDER BY "partition", "offset"')
    dead = rows.length
    reasons = rows.map((r) => String(r.reason))
  } catch {
    // No dead letters table yet.
  }
  return {events: Number(e?.n), distinct: Number(e?.d), dead, reasons}
}

describe('ecap ingest', () => {
  it('lands every valid event once and every bad message as a dead letter with its reason, across reruns', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('ingest')
    const lake = join(dir, 'lake-basic')
    const produced = ecap([
      'generate',
      '--to',
      'kafka',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--partitions',
      '3',
      '--customers',
      '200',
      '--days',
      '20',
      '--json',
      '-q',
    ])
    expect(produced.status, produced.stderr).toBe(0)
    const good = JSON.parse(produced.stdout).result.events as number
    const bad = badMessages()
    const producer = testKafka().producer({createPartitioner: Partitioners.DefaultPartitioner})
    await producer.connect()
    // One request each: the 1 MB message alone nearly fills the broker's default request limit.
    for (const message of bad) await producer.send({topic, messages: [message]})
    await producer.disconnect()

    const args = [
      'ingest',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      uniqueName('g'),
      '--until-caught-up',
      '--flush-rows',
      '2000',
      '--json',
    ]
    const first = ecap(args)
    expect(first.status, first.stderr).toBe(0)
    const result = JSON.parse(first.stdout).result
    expect(result).toMatchObject({
      messages: good + bad.length,
      events: good,
      deadLetters: bad.length,
      stoppedBy: 'caught-up',
    })

    const counts = await lakeCounts(lake)
    expect(counts).toMatchObject({events: good, distinct: good, dead: bad.length})
    for (const reason of counts.reasons) expect(reason.length).toBeGreaterThan(5)
    expect(counts.reasons).toContain('not valid UTF-8')
    expect(counts.reasons).toContain('empty message (null value)')
    expect(counts.reasons).toContain('duplicate key "total"')
    expect(readWithDeltaRs(tablePath(lake, EVENTS_TABLE)).rows).toBe(good)

    // A rerun finds nothing new; a new message is taken exactly once.
    const again = ecap(args)
    expect(again.status, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).result.messages).toBe(0)
    const extra = makeEvent('page_view', {event_id: '11111111-2222-4333-8444-555555555555'})
    const p2 = testKafka().producer({createPartitioner: Partitioners.DefaultPartitioner})
    await p2.connect()
    await p2.send({topic, messages: [{key: null, value: JSON.stringify(extra)}]})
    await p2.disconnect()
    const third = ecap(args)
    expect(third.status, third.stderr).toBe(0)
    expect(await lakeCounts(lake)).toMatchObject({events: good + 1, distinct: good + 1, dead: bad.length})
  })

  it('survives SIGKILL at random moments: after restarts, every event is in the lake exactly once', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('crash')
    const lake = join(dir, 'lake-crash')
    const group = uniqueName('g')
    const produced = ecap([
      'generate',
      '--to',
      'kafka',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--partitions',
      '3',
      '--events',
      '60000',
      '--json',
      '-q',
    ])
    expect(produced.status, produced.stderr).toBe(0)
    const args = [
      'ingest',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      group,
      '--flush-rows',
      '3000',
      '--flush-interval',
      '1s',
    ]
    let seed = 12345
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let i = 0; i < 10; i++) {
      const child = spawnEcap(args)
      await new Promise((resolve) => setTimeout(resolve, 1200 + random() * 2500))
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    const final = ecap([...args, '--until-caught-up', '--json'])
    expect(final.status, final.stderr).toBe(0)
    const counts = await lakeCounts(lake)
    expect(counts.events).toBe(60_000)
    expect(counts.distinct).toBe(60_000)
    expect(counts.dead).toBe(0)
    expect(readWithDeltaRs(tablePath(lake, EVENTS_TABLE)).distinct_event_ids).toBe(60_000)
  }, 180_000)

  it('runs until SIGINT, then flushes what it holds, commits and exits 0', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('sigint')
    const lake = join(dir, 'lake-sigint')
    const produced = ecap([
      'generate',
      '--to',
      'kafka',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--partitions',
      '2',
      '--events',
      '20000',
      '--json',
      '-q',
    ])
    expect(produced.status, produced.stderr).toBe(0)
    // Flush thresholds far beyond the test: only the shutdown can write these events.
    const child = spawnEcap([
      'ingest',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      uniqueName('g'),
      '--flush-rows',
      '1000000',
      '--flush-interval',
      '600s',
      '--json',
    ])
    let stdout = ''
    child.stdout?.on('data', (chunk) => {
      stdout += chunk
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    await new Promise((resolve) => setTimeout(resolve, 8000))
    const signalled = Date.now()
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    expect(Date.now() - signalled).toBeLessThan(10_000)
    expect(JSON.parse(stdout).result).toMatchObject({events: 20_000, stoppedBy: 'signal'})
    expect(await lakeCounts(lake)).toMatchObject({events: 20_000, distinct: 20_000})
  })

  it('exits 4 with a hint when Kafka is unreachable, and 2 for a missing topic', () => {
    const down = ecap(['ingest', '--brokers', '127.0.0.1:1', '--lake', join(dir, 'x'), '--until-caught-up'])
    expect(down.status).toBe(4)
    expect(down.stderr).toContain('KAFKA_UNAVAILABLE')
    const missing = ecap([
      'ingest',
      '--brokers',
      testBrokers(),
      '--topic',
      uniqueName('nope'),
      '--lake',
      join(dir, 'y'),
      '--until-caught-up',
    ])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('TOPIC_MISSING')
  })
})
