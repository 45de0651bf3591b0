import {createRequire} from 'node:module'
import zlib from 'node:zlib'
import {decompress as zstdDecompress} from 'fzstd'
import kafkajs from 'kafkajs'
import {DataError, UsageError} from '../errors.js'
import type {Compression} from './types.js'

/**
 * Decoders of the record-batch codecs kafkajs leaves out (it ships gzip only and throws "not implemented" for snappy,
 * lz4 and zstd, which producers commonly use). Pure JavaScript, so nothing is compiled at install: lz4js, snappyjs
 * and fzstd. ecap itself produces with gzip, or with zstd where Node.js has it (node:zlib, from Node.js 22.15).
 */

// kafkajs's CommonJS exports are not all visible to ESM named imports (CompressionCodecs is not).
const {CompressionCodecs, CompressionTypes} = kafkajs
const require = createRequire(import.meta.url)
// lz4js and snappyjs are CommonJS without type declarations.
const lz4 = require('lz4js') as {decompress(src: Uint8Array, maxSize?: number): Uint8Array}
const snappy = require('snappyjs') as {uncompress(src: Uint8Array, maxLength?: number): Uint8Array}

/**
 * Java's producer writes snappy through xerial's SnappyOutputStream: a 16-byte header (this magic, then two int32
 * versions), then chunks of a big-endian int32 length and a raw snappy block. Other clients (librdkafka, Go) may
 * write one raw block instead.
 */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const XERIAL_HEADER_BYTES = 16

/** Decodes a snappy-compressed record batch payload, xerial-framed or a raw block. */
export function decodeSnappy(data: Buffer): Buffer {
  if (data.length < XERIAL_HEADER_BYTES || !data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) {
    return toBuffer(snappy.uncompress(data))
  }
  const chunks: Buffer[] = []
  let at = XERIAL_HEADER_BYTES
  while (at < data.length) {
    if (at + 4 > data.length) throw new Error('snappy chunk length cut short')
    const length = data.readInt32BE(at)
    at += 4
    if (length < 0 || at + length > data.length) throw new Error(`snappy chunk of ${length} bytes runs past the data`)
    chunks.push(toBuffer(snappy.uncompress(data.subarray(at, at + length))))
    at += length
  }
  return Buffer.concat(chunks)
}

/** Decodes an lz4-compressed record batch payload: an LZ4 frame (Kafka's record batches v2 write the standard one). */
export function decodeLz4(data: Buffer): Buffer {
  return toBuffer(lz4.decompress(data))
}

/** Decodes a zstd-compressed record batch payload: one or more zstd frames. */
export function decodeZstd(data: Buffer): Buffer {
  return toBuffer(zstdDecompress(data))
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

type Codec = 'snappy' | 'lz4' | 'zstd'

/** node:zlib's zstd (Node.js 22.15 and 23.8 on); absent from Node.js 20. */
type ZstdCompress = (
  data: Buffer,
  options: {params: Record<number, number>},
  callback: (error: Error | null, result: Buffer) => void,
) => void
const zstdCompress = (zlib as unknown as {zstdCompress?: ZstdCompress}).zstdCompress
const ZSTD_LEVEL_PARAMETER = (zlib.constants as Record<string, number>).ZSTD_c_compressionLevel

/**
 * zstd level 1: on ecap's events it compresses as small as gzip's default level (6.6 to 1 on 512 KiB of events) at
 * about six times its speed, and a backfill is bound by the producer's CPU. Kafka's own default is 3, no smaller here.
 */
const ZSTD_LEVEL = 1

/** Whether this Node.js can write record batches with the codec (gzip and none always). */
export function canWrite(compression: Compression): boolean {
  return compression !== 'zstd' || zstdCompress !== undefined
}

/** Encodes a record batch payload as one zstd frame (what Kafka's Java producer writes). */
export function encodeZstd(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (zstdCompress === undefined || ZSTD_LEVEL_PARAMETER === undefined) {
      reject(zstdMissing())
      return
    }
    const options = {params: {[ZSTD_LEVEL_PARAMETER]: ZSTD_LEVEL}}
    zstdCompress(data, options, (error, result) => (error ? reject(error) : resolve(result)))
  })
}

/** Writing zstd on a Node.js without it: a usage error that names what works. */
export function zstdMissing(): UsageError {
  return new UsageError(
    'KAFKA_CODEC_WRITE_UNSUPPORTED',
    `Writing zstd needs Node.js 22.15 or newer (node:zlib's zstd); this is Node.js ${process.versions.node}.`,
    {hints: ['--compression gzip', 'Or run ecap on Node.js 22.15+ or 24.']},
  )
}

/**
 * A kafkajs codec that decodes, and encodes with `encode` or refuses to. A payload the codec cannot decode is bad
 * data in the topic, not a broker that is down: retrying reads the same bytes again.
 */
function kafkajsCodec(name: Codec, decode: (data: Buffer) => Buffer, encode?: (data: Buffer) => Promise<Buffer>) {
  return {
    async compress(encoder: {buffer: Buffer}): Promise<Buffer> {
      if (encode) return encode(encoder.buffer)
      throw new UsageError(
        'KAFKA_CODEC_WRITE_UNSUPPORTED',
        `ecap reads ${name}-compressed topics but writes gzip${canWrite('zstd') ? ' or zstd' : ''} only.`,
        {
          hints: ['Produce with gzip (what ecap generate --to kafka uses by default).'],
        },
      )
    },
    async decompress(data: Buffer): Promise<Buffer> {
      try {
        return decode(data)
      } catch (error) {
        // retriable: false makes kafkajs give up at once instead of refetching the same batch for ever, and report
        // it as a crash that ingest ends with (the broker validates what producers send, so this means a bug).
        throw Object.assign(
          new DataError(
            'KAFKA_BATCH_UNREADABLE',
            `A ${name}-compressed record batch could not be decompressed: ${(error as Error).message}`,
            {
              cause: error,
              hints: ['Check the producer that wrote the topic: its client and its compression.type.'],
            },
          ),
          {retriable: false},
        )
      }
    },
  }
}

let registered = false

/**
 * Registers the snappy, lz4 and zstd decoders with kafkajs, for every client of this process (kafkajs keeps codecs in
 * one module-level table). Idempotent.
 */
export function registerCodecs(): void {
  if (registered) return
  registered = true
  const snappyCodec = kafkajsCodec('snappy', decodeSnappy)
  const lz4Codec = kafkajsCodec('lz4', decodeLz4)
  const zstdCodec = kafkajsCodec('zstd', decodeZstd, encodeZstd)
  CompressionCodecs[CompressionTypes.Snappy] = () => snappyCodec
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4Codec
  CompressionCodecs[CompressionTypes.ZSTD] = () => zstdCodec
}
