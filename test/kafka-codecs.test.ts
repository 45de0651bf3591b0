import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {DataError, EcapError, UsageError} from '../src/lib/errors.js'
import {createKafka, unavailable} from '../src/lib/kafka/client.js'
import {decodeLz4, decodeSnappy, decodeZstd, registerCodecs} from '../src/lib/kafka/codecs.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap} from './helpers/cli.js'
import {type JavaCompression, produceWithJava} from './helpers/java-producer.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

/**
 * Compressed topics (issue 12, case 10): producers commonly compress with snappy, lz4 or zstd, which kafkajs cannot
 * read. The messages here are written by Kafka's own Java producer, so the record batches are framed exactly as real
 * producers frame them (xerial snappy chunks, LZ4 frames, zstd frames), and read by the real `ecap ingest`.
 */

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-kafka-codecs-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = testKafka().admin()
  await admin.connect()
  try {
    await admin.createTopics({topics: [{topic, numPartitions: partitions}], waitForLeaders: true})
  } finally {
    await admin.disconnect()
  }
}

/** Seeded events from `ecap generate`, as the NDJSON lines a producer would send. */
function generatedLines(events: number, seed: number): string[] {
  const file = join(dir, `seed-${seed}.ndjson`)
  const run = ecap(['generate', '--events', String(events), '--seed', String(seed), '-o', file, '-q'])
  expect(run.status, run.stderr).toBe(0)
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
}

const CODECS: JavaCompression[] = ['gzip', 'snappy', 'lz4', 'zstd']

describe('compressed topics', () => {
  it('ingests every event once from a topic that the Java producer wrote with gzip, snappy, lz4 and zstd', async () => {
    const topic = uniqueName('codecs')
    const lake = join(dir, 'lake-all')
    await createTopic(topic, 3)
    // Enough per codec that record batches exceed an LZ4 block (64 KiB) and a xerial snappy chunk (32 KiB).
    const lines = generatedLines(6000, 12)
    const perCodec = lines.length / CODECS.length
    await produceWithJava(
      testBrokers(),
      lines.map((value, i) => ({
        topic,
        compression: CODECS[Math.floor(i / perCodec)] as JavaCompression,
        key: (JSON.parse(value) as {customer_id: string | null}).customer_id,
        value,
      })),
    )

    const group = uniqueName('codecs-group')
    const run = ecap(
      [
        'ingest',
        '--brokers',
        testBrokers(),
        '--topic',
        topic,
        '--lake',
        lake,
        '--group',
        group,
        '--from',
        'earliest',
        '--until-caught-up',
        '--json',
      ],
      {timeoutMs: 180_000},
    )
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout).result).toMatchObject({messages: lines.length, events: lines.length, deadLetters: 0})

    await registerTableView(engine, 'codec_events', tablePath(lake, EVENTS_TABLE))
    const landed = (await engine.rows('SELECT event_id FROM codec_events')).map((r) => String(r.event_id))
    const sent = lines.map((line) => (JSON.parse(line) as {event_id: string}).event_id)
    expect(landed.length).toBe(sent.length)
    expect(new Set(landed)).toEqual(new Set(sent))
  }, 300_000)

  it('reads what the Java producer wrote with each codec, byte for byte, through ecap’s kafkajs client', async () => {
    registerCodecs()
    const topics = new Map(CODECS.map((codec) => [uniqueName(`codec-${codec}`), codec]))
    for (const topic of topics.keys()) await createTopic(topic, 1)
    // Values of every byte, with and without keys, including an empty value and a null one.
    const messages = Array.from({length: 300}, (_, i) => ({
      key: i % 3 === 0 ? null : `k${i}`,
      value: i === 7 ? null : Buffer.from(Array.from({length: (i * 37) % 900}, (_, j) => (i * 31 + j * j) % 256)),
    }))
    await produceWithJava(
      testBrokers(),
      [...topics].flatMap(([topic, compression]) => messages.map((m) => ({topic, compression, ...m}))),
    )

    const consumer = createKafka({brokers: testBrokers()}).consumer({groupId: uniqueName('codec-read')})
    const received = new Map<string, {key: string | null; value: string | null}[]>()
    await consumer.connect()
    try {
      await consumer.subscribe({topics: [...topics.keys()], fromBeginning: true})
      let count = 0
      await new Promise<void>((resolve, reject) => {
        consumer.on(consumer.events.CRASH, ({payload}) => reject(payload.error))
        consumer
          .run({
            eachMessage: async ({topic, message}) => {
              const list = received.get(topic) ?? []
              received.set(topic, list)
              list.push({
                key: message.key?.toString() ?? null,
                value: message.value === null ? null : message.value.toString('hex'),
              })
              if (++count === topics.size * messages.length) resolve()
            },
          })
          .catch(reject)
      })
    } finally {
      await consumer.disconnect()
    }
    const expected = messages.map((m) => ({key: m.key, value: m.value === null ? null : m.value.toString('hex')}))
    for (const [topic, codec] of topics) expect(received.get(topic), codec).toEqual(expected)
  }, 300_000)
})

describe('codec decoders', () => {
  it('reads a raw snappy block as well as xerial-framed chunks (clients other than Java write raw blocks)', () => {
    const snappy = createRequire(import.meta.url)('snappyjs') as {compress(data: Uint8Array): Uint8Array}
    const text = Buffer.from('ecap '.repeat(20_000))
    expect(decodeSnappy(Buffer.from(snappy.compress(text))).equals(text)).toBe(true)
    const chunk = (part: Buffer) => {
      const block = Buffer.from(snappy.compress(part))
      const length = Buffer.alloc(4)
      length.writeInt32BE(block.length)
      return Buffer.concat([length, block])
    }
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])
    const framed = Buffer.concat([header, chunk(text.subarray(0, 32_768)), chunk(text.subarray(32_768))])
    expect(decodeSnappy(framed).equals(text)).toBe(true)
  })

  it('fails on bytes that are not what the codec says, as bad data (exit 3) that no retry fixes', async () => {
    registerCodecs()
    const {CompressionCodecs, CompressionTypes} = (await import('kafkajs')).default
    const codecs = [
      CompressionCodecs[CompressionTypes.Snappy](),
      CompressionCodecs[CompressionTypes.LZ4](),
      CompressionCodecs[CompressionTypes.ZSTD](),
    ]
    for (const codec of codecs) {
      const error = await codec.decompress(Buffer.from('not compressed at all')).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DataError)
      expect((error as DataError).exitCode).toBe(3)
      expect((error as {retriable?: boolean}).retriable).toBe(false)
      expect(unavailable(error, 'localhost:9092')).toBe(error)
    }
    expect(() => decodeLz4(Buffer.from('nope'))).toThrow()
    expect(() => decodeZstd(Buffer.from('nope'))).toThrow()
  })

  it('turns a codec kafkajs does not implement into exit 2 with the fix, never exit 4 (retry later)', () => {
    const notImplemented = Object.assign(new Error('LZ4 compression not implemented'), {name: 'KafkaJSNotImplemented'})
    const wrapped = Object.assign(new Error('Crash'), {name: 'KafkaJSNumberOfRetriesExceeded', cause: notImplemented})
    for (const error of [notImplemented, wrapped]) {
      const mapped = unavailable(error, '127.0.0.1:9092')
      expect(mapped).toBeInstanceOf(UsageError)
      expect(mapped.exitCode).toBe(2)
      expect(mapped.message).toContain('LZ4 compression not implemented')
      expect(mapped.hints.join(' ')).toMatch(/gzip, snappy, lz4 and zstd/)
    }
    expect(unavailable(new Error('Connection error: ECONNREFUSED'), '127.0.0.1:9')).not.toBeInstanceOf(UsageError)
    expect(unavailable(new Error('ECONNREFUSED'), '127.0.0.1:9')).toBeInstanceOf(EcapError)
  })
})
