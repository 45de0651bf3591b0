import {createRequire} from 'node:module'
import {gunzipSync} from 'node:zlib'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {canWrite, registerCodecs} from '../src/lib/kafka/codecs.js'
import {seededRandom} from './helpers/random.js'

/**
 * ecap's kafkajs patch writes a produce request's records in one pass (`encodeRecords`) instead of one Encoder per
 * record, and computes CRC32C eight bytes at a time. The broker would refuse a wrong CRC, but a record encoded with
 * other bytes than kafkajs's (a length off by one inside a gzip payload, a key written as the value) might not be
 * refused at all: so the patched request is pinned, byte for byte, to the request kafkajs 2.2.4 builds from its own
 * per-record encoder, on random batches.
 */

const require = createRequire(import.meta.url)
type Bytes = Buffer | string | null | undefined
interface Message {
  key?: Bytes
  value: Bytes | number
  timestamp?: string | number | null
  headers?: Record<string, string | Buffer | (string | Buffer)[]>
}
interface KafkajsEncoder {
  buffer: Buffer
  size(): number
  writeInt32(value: number): KafkajsEncoder
  writeInt16(value: number): KafkajsEncoder
  writeString(value: string | null): KafkajsEncoder
  writeArray(values: unknown[]): KafkajsEncoder
  writeEncoder(value: KafkajsEncoder): KafkajsEncoder
}
const Encoder = require('kafkajs/src/protocol/encoder') as new () => KafkajsEncoder
const Long = require('kafkajs/src/utils/long') as {fromInt(value: number): unknown}
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (record: object) => KafkajsEncoder
const {RecordBatch} = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch(batch: object): Promise<KafkajsEncoder>
}
const encodeRecords = require('kafkajs/src/protocol/recordBatch/record/v0/encodeRecords') as (
  messages: Message[],
) => {count: number; buffer: Buffer} | null
const produceV3 = require('kafkajs/src/protocol/requests/produce/v3/request') as (request: object) => {
  encode(): Promise<KafkajsEncoder>
}
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C') as (buffer: Buffer) => number

const NOW = 1_764_800_000_123
const GZIP = 1
const ZSTD = 4
/** None, gzip, and zstd (ecap's codec, registered below) where Node.js writes it. */
const COMPRESSIONS = [0, GZIP, ...(canWrite('zstd') ? [ZSTD] : [])]
registerCodecs()

afterEach(() => {
  vi.restoreAllMocks()
})

/** kafkajs 2.2.4's partition encoder of produce v3, as it was before the patch: one Record per message, then joined. */
async function originalPartition(
  compression: number,
  partition: number,
  firstSequence: number,
  messages: Message[],
  transactional: boolean,
) {
  const dateNow = Date.now()
  const messageTimestamps = messages
    .map((m) => m.timestamp)
    .filter((timestamp) => timestamp != null)
    .sort()
  const timestamps = messageTimestamps.length === 0 ? [dateNow] : messageTimestamps
  const firstTimestamp = timestamps[0] as number
  const maxTimestamp = timestamps[timestamps.length - 1]
  const records = messages.map((message, i) =>
    Record({...message, offsetDelta: i, timestampDelta: ((message.timestamp as number) || dateNow) - firstTimestamp}),
  )
  const recordBatch = await RecordBatch({
    compression,
    records,
    firstTimestamp,
    maxTimestamp,
    producerId: Long.fromInt(4711),
    producerEpoch: 3,
    firstSequence,
    transactional,
    lastOffsetDelta: records.length - 1,
  })
  return new Encoder().writeInt32(partition).writeInt32(recordBatch.size()).writeEncoder(recordBatch)
}

/** The whole produce request kafkajs 2.2.4 built for one topic's partitions. */
async function originalRequest(
  compression: number,
  topic: string,
  partitions: Message[][],
  transactionalId: string | null = null,
): Promise<Buffer> {
  const encoded = []
  for (const [partition, messages] of partitions.entries())
    encoded.push(await originalPartition(compression, partition, 100 * partition, messages, transactionalId !== null))
  const topicData = new Encoder().writeString(topic).writeArray(encoded)
  return new Encoder().writeString(transactionalId).writeInt16(-1).writeInt32(30000).writeArray([topicData]).buffer
}

/** The same request through the patched kafkajs. */
async function patchedRequest(
  compression: number,
  topic: string,
  partitions: Message[][],
  transactionalId: string | null = null,
): Promise<Buffer> {
  const request = produceV3({
    transactionalId,
    acks: -1,
    timeout: 30000,
    producerId: Long.fromInt(4711),
    producerEpoch: 3,
    compression,
    topicData: [
      {
        topic,
        partitions: partitions.map((messages, partition) => ({partition, firstSequence: 100 * partition, messages})),
      },
    ],
  })
  return (await request.encode()).buffer
}

function randomText(random: () => number, length: number): string {
  // Mostly ASCII like ecap's events, with 2-, 3- and 4-byte characters and lone surrogates (3 bytes in UTF-8).
  const alphabets = ['abcdefghij{}":,0123456789', 'éüß', '€中文', '😀🛒', '\ud800\udfff']
  const alphabet = alphabets[random() < 0.7 ? 0 : Math.floor(random() * alphabets.length)] as string
  let text = ''
  while (text.length < length) text += alphabet[Math.floor(random() * alphabet.length)]
  return text
}

function randomBytes(random: () => number): Bytes {
  const roll = random()
  // Lengths across the varint boundaries: 63/64 (one to two bytes zigzagged), 8191/8192 (two to three).
  const length = [0, 1, 63, 64, 290, 325, 8191, 8192][Math.floor(random() * 8)] as number
  const jitter = Math.floor(random() * 3)
  if (roll < 0.05) return null
  if (roll < 0.1) return undefined
  if (roll < 0.35) return Buffer.from(randomText(random, length + jitter))
  return randomText(random, length + jitter)
}

function randomBatch(random: () => number, count: number): Message[] {
  return Array.from({length: count}, () => ({key: randomBytes(random), value: randomBytes(random)}))
}

describe('the one-pass record encoder of the kafkajs patch', () => {
  it('builds the same produce request as kafkajs 2.2.4, compressed or not, transactional or not, on random batches', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    const random = seededRandom(15)
    for (let round = 0; round < 25; round++) {
      // 1 to 6 partitions of 1 to 150 records (offsetDelta past 63 takes two bytes).
      const partitions = Array.from({length: 1 + Math.floor(random() * 6)}, () =>
        randomBatch(random, 1 + Math.floor(random() * 150)),
      )
      for (const batch of partitions) expect(encodeRecords(batch), 'the fast path is taken').not.toBeNull()
      // A transactional producer's batches carry the transactional attribute (ecap's are not, kafkajs's may be).
      const transactionalId = round % 3 === 2 ? 'tx-1' : null
      for (const compression of COMPRESSIONS) {
        const label = `round ${round}, compression ${compression}, ${transactionalId ?? 'not transactional'}`
        expect(
          (await patchedRequest(compression, 'shop-events', partitions, transactionalId)).equals(
            await originalRequest(compression, 'shop-events', partitions, transactionalId),
          ),
          label,
        ).toBe(true)
      }
    }
  })

  it('writes offset deltas past 8191 (three-byte varints) as kafkajs does', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    const random = seededRandom(16)
    const batch = Array.from({length: 9000}, (_, i) => ({key: `c${i}`, value: randomText(random, 20)}))
    const patched = await patchedRequest(0, 't', [batch])
    expect(patched.equals(await originalRequest(0, 't', [batch]))).toBe(true)
  })

  it('hands the codec the joined records: gzip decodes to the uncompressed records', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    const batch = randomBatch(seededRandom(17), 50)
    const joined = encodeRecords(batch)?.buffer as Buffer
    const request = await patchedRequest(GZIP, 't', [batch])
    // The gzip payload is what follows the batch header; gunzip stops at the member's end.
    const start = request.indexOf(Buffer.from([0x1f, 0x8b]))
    expect(gunzipSync(request.subarray(start)).equals(joined)).toBe(true)
  })

  it('leaves timestamps, headers and other value types to kafkajs, with the same bytes', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    const cases: Message[][] = [
      [
        {key: 'a', value: 'x', timestamp: NOW - 5},
        {key: 'b', value: 'y'},
      ],
      [{key: 'a', value: 'x', timestamp: String(NOW - 9)}],
      [{key: 'a', value: 'x', headers: {h: 'v', list: ['1', Buffer.from('2')]}}],
      [{key: 'a', value: 'x', headers: {}}],
      [
        {key: 'a', value: 'x'},
        {key: 'b', value: 'y', timestamp: 0},
      ],
    ]
    for (const [i, batch] of cases.entries()) {
      expect(encodeRecords(batch), `case ${i}`).toBeNull()
      for (const compression of [0, GZIP]) {
        expect(
          (await patchedRequest(compression, 't', [batch])).equals(await originalRequest(compression, 't', [batch])),
          `case ${i}`,
        ).toBe(true)
      }
    }
    // A value kafkajs cannot encode still fails as it did, not silently on the fast path.
    expect(encodeRecords([{key: 'a', value: 12345}])).toBeNull()
    await expect(patchedRequest(0, 't', [[{key: 'a', value: 12345}]])).rejects.toThrow(TypeError)
  })
})

describe('the slicing-by-8 CRC32C of the kafkajs patch', () => {
  /** CRC32C bit by bit, straight from its definition (reflected polynomial 0x82F63B78). */
  function bitwiseCrc32C(buffer: Buffer): number {
    let crc = ~0
    for (const byte of buffer) {
      crc ^= byte
      for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
    }
    return ~crc >>> 0
  }

  it('gives the check value and the bitwise CRC for every length and alignment', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283)
    const random = seededRandom(18)
    const data = Buffer.from(Array.from({length: 70_000}, () => Math.floor(random() * 256)))
    for (let length = 0; length < 100; length++) {
      const slice = data.subarray(length % 7, (length % 7) + length)
      expect(crc32C(slice), `length ${length}`).toBe(bitwiseCrc32C(slice))
    }
    expect(crc32C(data)).toBe(bitwiseCrc32C(data))
  })
})
