import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {analyzeFraud} from '../src/lib/analytics/fraud/analyze.js'
import {type FraudModelInfo, saveFraudModel} from '../src/lib/analytics/fraud/model.js'
import {FRAUD_RULES, type Scorecard} from '../src/lib/analytics/fraud/rules.js'
import {loadResult} from '../src/lib/analytics/store.js'
import {Engine} from '../src/lib/engine/engine.js'
import type {ShopEvent} from '../src/lib/events/index.js'
import {GENERATE_DEFAULTS, generateShop, NdjsonSink} from '../src/lib/generate/index.js'
import {LiveFraudScorer} from '../src/lib/ingest/fraud-scoring.js'
import {FRAUD_ALERTS_TABLE} from '../src/lib/lake/fraud-alerts.js'
import {appendEvents, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap as runEcap, spawnEcap} from './helpers/cli.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'
import {PYTHON} from './helpers/python.js'

function ecap(args: string[]) {
  return runEcap(args, {timeoutMs: 240_000})
}

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-fraud-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

interface Scored {
  score: number
  reasons: string[]
}

/** Batch scores of every order of a lake (`ecap analyze fraud`'s saved table). */
async function batchScores(lake: string): Promise<Map<string, Scored>> {
  await analyzeFraud(engine, {lake})
  await loadResult(engine, lake, 'fraud', 'fraud')
  const rows = await engine.rows('SELECT order_id, risk_score, reasons FROM fraud')
  return new Map(
    rows.map((r) => [String(r.order_id), {score: Number(r.risk_score), reasons: (r.reasons as string[]).map(String)}]),
  )
}

async function lakeAlerts(lake: string): Promise<{rows: number; byOrder: Map<string, Scored>}> {
  await registerTableView(engine, 'alerts', tablePath(lake, FRAUD_ALERTS_TABLE))
  const rows = await engine.rows('SELECT order_id, score, reasons FROM alerts')
  return {
    rows: rows.length,
    byOrder: new Map(
      rows.map((r) => [String(r.order_id), {score: Number(r.score), reasons: (r.reasons as string[]).map(String)}]),
    ),
  }
}

function flagged(scores: Map<string, Scored>, threshold = 50): Map<string, Scored> {
  return new Map([...scores].filter(([, s]) => s.score >= threshold))
}

/** Every message of a topic, from the start to the high-water mark at the time of the call. */
async function readTopic(topic: string): Promise<{key: string; value: Record<string, unknown>}[]> {
  const kafka = testKafka()
  const admin = kafka.admin()
  await admin.connect()
  const high = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const total = high.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
  const consumer = kafka.consumer({groupId: uniqueName('reader'), maxWaitTimeInMs: 500})
  const messages: {key: string; value: Record<string, unknown>}[] = []
  await consumer.connect()
  await consumer.subscribe({topic, fromBeginning: true})
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${total} messages`)), 60_000)
    if (total === 0) {
      clearTimeout(timer)
      resolve()
      return
    }
    consumer
      .run({
        eachMessage: async ({message}) => {
          messages.push({key: String(message.key), value: JSON.parse(String(message.value))})
          if (messages.length >= total) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
      .catch(reject)
  })
  await consumer.disconnect()
  return messages
}

function produceShop(topic: string, partitions: number, seed: number, labels: string): number {
  const produced = ecap([
    'generate',
    '--to',
    'kafka',
    '--brokers',
    testBrokers(),
    '--topic',
    topic,
    '--partitions',
    String(partitions),
    '--customers',
    '1500',
    '--days',
    '45',
    '--seed',
    String(seed),
    '--labels',
    labels,
    '--json',
    '-q',
  ])
  expect(produced.status, produced.stderr).toBe(0)
  return JSON.parse(produced.stdout).result.events as number
}

describe('live fraud state', () => {
  it('gives every order the batch score and reasons, from an empty state and from a state restored from the lake', async () => {
    const shopFile = join(dir, 'state.ndjson')
    await generateShop(
      {...GENERATE_DEFAULTS, seed: 9, customers: 1000, days: 40, fraudRate: 0.05},
      {events: NdjsonSink.toFile(shopFile)},
    )
    const events = readFileSync(shopFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ShopEvent)
    const lake = join(dir, 'state-lake')
    await appendEvents(engine, lake, shopFile)
    const batch = await batchScores(lake)
    expect(batch.size).toBeGreaterThan(1000)

    const live = (scorer: LiveFraudScorer, stream: ShopEvent[]) => {
      const scored = scorer.scoreAll(stream.map((event, i) => ({event, partition: 0, offset: i})))
      return new Map(
        scored.map(({item, result}) => [
          (item.event as {order_id: string}).order_id,
          {score: result.score, reasons: result.reasons},
        ]),
      )
    }
    const fromEmpty = live(new LiveFraudScorer({lake, topic: 't', group: 'g', connection: {brokers: 'x:1'}}), events)
    expect(fromEmpty).toEqual(batch)

    // Restored from the first 25 days, then fed the rest: the same scores for the orders after the cut.
    const cut = Date.parse(events[0]?.event_time as string) + 25 * 86_400_000
    const early = events.filter((e) => Date.parse(e.event_time) < cut)
    const late = events.filter((e) => Date.parse(e.event_time) >= cut)
    const earlyFile = join(dir, 'early.ndjson')
    writeFileSync(earlyFile, `${early.map((e) => JSON.stringify(e)).join('\n')}\n`)
    const earlyLake = join(dir, 'early-lake')
    await appendEvents(engine, earlyLake, earlyFile)
    const scorer = new LiveFraudScorer({lake: earlyLake, topic: 't', group: 'g', connection: {brokers: 'x:1'}})
    await scorer.restore(engine, earlyLake)
    const restored = live(scorer, late)
    expect(restored.size).toBeGreaterThan(200)
    for (const [orderId, scored] of restored) expect(scored, orderId).toEqual(batch.get(orderId))

    // With a learned model in the lake (other points, some negative), batch and a restored live scorer both use it.
    const learned: Scorecard = {
      baseLogOdds: -4.2,
      rules: FRAUD_RULES.map((rule, r) => ({
        ...rule,
        steps: rule.steps.map((s) => ({...s, points: r % 3 === 0 ? -s.points : s.points * 1.37})),
      })),
    }
    const info = {kind: 'fraud-model', threshold: 20} as unknown as FraudModelInfo
    for (const l of [lake, earlyLake]) await saveFraudModel(engine, l, learned, info)
    const learnedBatch = await batchScores(lake)
    expect(learnedBatch).not.toEqual(batch)
    const learnedScorer = new LiveFraudScorer({lake: earlyLake, topic: 't', group: 'g', connection: {brokers: 'x:1'}})
    await learnedScorer.restore(engine, earlyLake)
    expect(learnedScorer.model).toMatchObject({kind: 'learned', version: 0})
    expect(learnedScorer.threshold).toBe(20)
    const learnedLive = live(learnedScorer, late)
    expect(learnedLive.size).toBe(restored.size)
    for (const [orderId, scored] of learnedLive) expect(scored, orderId).toEqual(learnedBatch.get(orderId))
  }, 120_000)
})

describe('ecap ingest --score-fraud', () => {
  it('writes the alerts batch scoring flags on the same lake, and produces them to the alerts topic', async () => {
    const topic = uniqueName('fraud')
    const alertsTopic = uniqueName('alerts')
    const lake = join(dir, 'lake-one')
    const events = produceShop(topic, 1, 101, join(dir, 'labels-101.ndjson'))
    const run = ecap([
      'ingest',
      '--brokers',
      testBrokers(),
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      uniqueName('g'),
      '--until-caught-up',
      '--score-fraud',
      '--alerts-topic',
      alertsTopic,
      '--json',
    ])
    expect(run.status, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout).result
    expect(result.events).toBe(events)

    const batch = flagged(await batchScores(lake))
    const alerts = await lakeAlerts(lake)
    expect(batch.size).toBeGreaterThan(5)
    expect(alerts.rows).toBe(alerts.byOrder.size)
    expect(alerts.byOrder).toEqual(batch)
    expect(result.fraud).toMatchObject({
      alerts: batch.size,
      published: batch.size,
      resent: 0,
      // No model in this lake: the hand-set rules at their threshold.
      model: 'rules',
      modelVersion: null,
      threshold: 50,
    })
    // A real Delta reader (delta-rs) reads the alerts table too.
    const deltaRs = execFileSync(
      PYTHON,
      [
        '-c',
        'import os, sys, deltalake; print(deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table().num_rows, flush=True); os._exit(0)',
        tablePath(lake, FRAUD_ALERTS_TABLE),
      ],
      {encoding: 'utf8'},
    )
    expect(Number(deltaRs.trim())).toBe(batch.size)

    const messages = await readTopic(alertsTopic)
    expect(messages.length).toBe(batch.size)
    for (const m of messages) {
      expect(m.key).toBe(m.value.order_id)
      expect(m.value).toMatchObject({score: batch.get(m.key)?.score, reasons: batch.get(m.key)?.reasons})
      expect(Object.keys(m.value).sort()).toEqual(['customer_id', 'event_time', 'order_id', 'reasons', 'score'])
    }
  }, 240_000)

  it('after SIGKILLs mid-stream and a rerun, has every alert exactly once in the lake and at least once in Kafka', async () => {
    const topic = uniqueName('fraud-crash')
    const alertsTopic = uniqueName('alerts')
    const lake = join(dir, 'lake-crash')
    const group = uniqueName('g')
    produceShop(topic, 1, 202, join(dir, 'labels-202.ndjson'))
    const args = [
      'ingest',
      '--brokers',
      testBrokers(),
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      group,
      '--flush-rows',
      '2000',
      '--flush-interval',
      '1s',
      '--score-fraud',
      '--alerts-topic',
      alertsTopic,
    ]
    for (const wait of [3000, 4500, 6000]) {
      const child = spawnEcap(args)
      await new Promise((resolve) => setTimeout(resolve, wait))
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    const final = ecap([...args, '--until-caught-up', '--json'])
    expect(final.status, final.stderr).toBe(0)

    const batch = flagged(await batchScores(lake))
    const alerts = await lakeAlerts(lake)
    expect(batch.size).toBeGreaterThan(5)
    expect(alerts.rows).toBe(alerts.byOrder.size)
    expect(alerts.byOrder).toEqual(batch)
    const messages = await readTopic(alertsTopic)
    expect(new Set(messages.map((m) => m.key))).toEqual(new Set(batch.keys()))
  }, 300_000)

  it('with several partitions, scores every order once; only features across customers can see other partitions late', async () => {
    const topic = uniqueName('fraud-multi')
    const lake = join(dir, 'lake-multi')
    produceShop(topic, 3, 303, join(dir, 'labels-303.ndjson'))
    // Threshold 0: every order is an alert, so every live score can be compared.
    const run = ecap([
      'ingest',
      '--brokers',
      testBrokers(),
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      uniqueName('g'),
      '--until-caught-up',
      '--score-fraud',
      '--fraud-threshold',
      '0',
      '--json',
    ])
    expect(run.status, run.stderr).toBe(0)
    const batch = await batchScores(lake)
    const alerts = await lakeAlerts(lake)
    expect(alerts.rows).toBe(batch.size)
    expect(new Set(alerts.byOrder.keys())).toEqual(new Set(batch.keys()))
    // Partitions are keyed by customer, so each customer's own history is exact; rules over other customers' orders
    // (card, young accounts on the card, IP and shipping country, shop mean) may miss orders of a partition that arrives
    // behind (docs/fraud.md).
    const crossKey = new Set([
      'shared_card',
      'card_ring',
      'card_velocity',
      'ip_country_surge',
      'rare_ip_country',
      'rare_shipping_country',
      'amount_vs_shop',
    ])
    let same = 0
    for (const [orderId, b] of batch) {
      const l = alerts.byOrder.get(orderId) as Scored
      if (l.score === b.score) {
        same++
        continue
      }
      const differing = [...l.reasons, ...b.reasons].filter((r) => !(l.reasons.includes(r) && b.reasons.includes(r)))
      // A per-customer reason can only drop out of the top three when a cross-customer one displaced it.
      expect(
        differing.some((r) => crossKey.has(r)),
        `${orderId}: ${l.reasons} vs ${b.reasons}`,
      ).toBe(true)
    }
    expect(same / batch.size).toBeGreaterThan(0.9)
  }, 240_000)
})
