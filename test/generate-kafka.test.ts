import type {SpawnSyncReturns} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Partitioners} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {canWrite, registerCodecs} from '../src/lib/kafka/codecs.js'
import {keyPartition} from '../src/lib/kafka/murmur2.js'
import {ecap} from './helpers/cli.js'
import {diffExactlyOnce, lakeKeysWithDuckDb} from './helpers/exactly-once.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

/** Enough events for several batches per producer of the sink (6000 messages a round, 3 producers over 6 partitions). */
const EVENTS = 36_000
const PARTITIONS = 6
const GENERATE = ['--events', String(EVENTS), '--seed', '2026', '--days', '60']
/** zstd is written where node:zlib has it (Node.js 22.15 on): CI's Node 24 line writes it, its Node 20 line refuses. */
const COMPRESSIONS = ['none', 'gzip', ...(canWrite('zstd') ? ['zstd'] : [])]

interface Sent {
  id: string
  customer: string | null
}

let dir: string
let engine: Engine
/** The generated events in the simulator's order. */
let truth: Sent[]

beforeAll(async () => {
  // The test's own reader decodes zstd with ecap's codec, as ingest does.
  registerCodecs()
  dir = mkdtempSync(join(tmpdir(), 'ecap-generate-kafka-'))
  engine = await Engine.open()
  const ndjson = join(dir, 'truth.ndjson')
  const written = ecap(['generate', ...GENERATE, '-o', ndjson, '-q'], {timeoutMs: 120_000})
  expect(written.status, written.stderr).toBe(0)
  truth = readFileSync(ndjson, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as {event_id: string; customer_id: string | null})
    .map((e) => ({id: e.event_id, customer: e.customer_id}))
  expect(new Set(truth.map((e) => e.id)).size).toBe(EVENTS)
}, 180_000)

afterAll(async () => {
  await engine?.close()
  rmSync(dir, {recursive: true, force: true})
})

/** Every record of the topic: per partition, in offset order. */
async function readTopic(topic: string): Promise<Map<number, {key: string | null; id: string}[]>> {
  const consumer = testKafka().consumer({groupId: uniqueName('reader')})
  const partitions = new Map<number, {key: string | null; id: string}[]>()
  let seen = 0
  await consumer.connect()
  try {
    await consumer.subscribe({topic, fromBeginning: true})
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen} of ${EVENTS} records`)), 60_000)
      consumer
        .run({
          eachBatch: async ({batch}) => {
            const list = partitions.get(batch.partition) ?? []
            partitions.set(batch.partition, list)
            for (const m of batch.messages) {
              const id = (JSON.parse(String(m.value)) as {event_id: string}).event_id
              list.push({key: m.key === null ? null : String(m.key), id})
              seen++
            }
            if (seen >= EVENTS) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return partitions
}

/** Runs `ecap generate --to kafka` of the test's shop into `topic` with the codec (and any other flags), --json. */
function generateToKafka(topic: string, compression: string, flags: string[] = []): SpawnSyncReturns<string> {
  return ecap(
    [
      'generate',
      '--to',
      'kafka',
      '--brokers',
      testBrokers(),
      '--topic',
      topic,
      '--compression',
      compression,
      ...GENERATE,
      ...flags,
      '--json',
      '-q',
    ],
    {timeoutMs: 120_000},
  )
}

/** `ecap generate --to kafka` of the test's shop into `topic`; fails the test unless it exits 0. */
function backfill(topic: string, partitions: number, compression: string): void {
  const sent = generateToKafka(topic, compression, ['--partitions', String(partitions)])
  expect(sent.status, sent.stderr).toBe(0)
}

describe('generate --to kafka', () => {
  it('places keys on the partitions Java and kafkajs pick (murmur2)', () => {
    const kafkajs = Partitioners.DefaultPartitioner()
    for (const partitions of [1, 3, 6, 7]) {
      const partitionMetadata = Array.from({length: partitions}, (_, partitionId) => ({
        partitionId,
        leader: 1,
        replicas: [1],
        isr: [1],
        partitionErrorCode: 0,
      }))
      for (let i = 0; i < 5000; i++) {
        const key = i % 97 === 0 ? `ü-${i}` : `c${String(i).padStart(6, '0')}${'x'.repeat(i % 5)}`
        expect(keyPartition(key, partitions), key).toBe(
          kafkajs({topic: 't', partitionMetadata, message: {key, value: ''}}),
        )
      }
    }
  })

  it.each(COMPRESSIONS)(
    'with --compression %s, writes each event once, each customer in order in one partition, and ingest reads back the exact set',
    async (compression) => {
      const brokers = testBrokers()
      const topic = uniqueName(`backfill-${compression}`)
      backfill(topic, PARTITIONS, compression)

      const partitions = await readTopic(topic)
      const read = [...partitions.values()].flat()
      expect(
        diffExactlyOnce(
          read.map((r) => r.id),
          truth.map((e) => e.id),
        ),
      ).toEqual({
        missing: [],
        unexpected: [],
        duplicated: [],
      })
      // Per customer: one partition, and the events in the order the simulator made them.
      const expected = new Map<string, string[]>()
      for (const e of truth)
        if (e.customer !== null) expected.set(e.customer, [...(expected.get(e.customer) ?? []), e.id])
      const actual = new Map<string, string[]>()
      const home = new Map<string, number>()
      for (const [partition, records] of partitions) {
        for (const r of records) {
          if (r.key === null) continue
          expect(home.get(r.key) ?? partition, `customer ${r.key} in two partitions`).toBe(partition)
          home.set(r.key, partition)
          expect(partition).toBe(keyPartition(r.key, PARTITIONS))
          actual.set(r.key, [...(actual.get(r.key) ?? []), r.id])
        }
      }
      expect(actual.size).toBe(expected.size)
      for (const [customer, ids] of expected) expect(actual.get(customer), customer).toEqual(ids)

      const lake = join(dir, `lake-${compression}`)
      const ingested = ecap(
        [
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
          '--json',
        ],
        {timeoutMs: 180_000},
      )
      expect(ingested.status, ingested.stderr).toBe(0)
      const keys = await lakeKeysWithDuckDb(engine, lake)
      expect(
        diffExactlyOnce(
          keys.events,
          truth.map((e) => e.id),
        ),
      ).toEqual({missing: [], unexpected: [], duplicated: []})
      expect(keys.deadLetters).toEqual([])
    },
    300_000,
  )

  it.runIf(!canWrite('zstd'))('refuses --compression zstd where Node.js has no zstd: exit 2, naming gzip', () => {
    const sent = generateToKafka(uniqueName('no-zstd'), 'zstd')
    expect(sent.status, sent.stderr).toBe(2)
    const {error} = JSON.parse(sent.stdout)
    expect(error.code).toBe('KAFKA_CODEC_WRITE_UNSUPPORTED')
    expect(error.hints).toContain('--compression gzip')
  })

  it('keeps each batch under the broker limit of 1 MB per partition: uncompressed, to a topic of one partition', async () => {
    // 6000 events of ~290 bytes in one partition would be 1.7 MB, which the broker refuses (MESSAGE_TOO_LARGE).
    const topic = uniqueName('one-partition')
    backfill(topic, 1, 'none')
    const partitions = await readTopic(topic)
    expect([...partitions.keys()]).toEqual([0])
    expect(
      diffExactlyOnce(
        (partitions.get(0) ?? []).map((r) => r.id),
        truth.map((e) => e.id),
      ),
    ).toEqual({missing: [], unexpected: [], duplicated: []})
  }, 180_000)

  it('says a topic refused a batch as too large (exit 2, what to change), not that Kafka is unreachable', async () => {
    const topic = uniqueName('small-messages')
    const admin = testKafka().admin()
    await admin.connect()
    try {
      await admin.createTopics({
        topics: [{topic, numPartitions: 1, configEntries: [{name: 'max.message.bytes', value: '4096'}]}],
        waitForLeaders: true,
      })
    } finally {
      await admin.disconnect()
    }
    const sent = generateToKafka(topic, 'none')
    expect(sent.status, sent.stderr).toBe(2)
    const envelope = JSON.parse(sent.stdout)
    expect(envelope.error.code).toBe('KAFKA_MESSAGE_TOO_LARGE')
    expect(envelope.error.message).toContain('too large for the topic')
    expect(JSON.stringify(envelope.error.hints)).toContain('max.message.bytes')
  }, 180_000)
})
