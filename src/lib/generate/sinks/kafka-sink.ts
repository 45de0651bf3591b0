import {serializeEvent} from '../../events/serialize.js'
import {writeEventBytes} from '../../events/serialize-bytes.js'
import type {ShopEvent} from '../../events/types.js'
import {type KafkaConnectionOptions, unavailable} from '../../kafka/client.js'
import {canWrite, zstdMissing} from '../../kafka/codecs.js'
import {kafkaClient} from '../../kafka/kafkajs-client.js'
import {keyPartition} from '../../kafka/murmur2.js'
import type {Compression, OutgoingRecord, RecordProducer} from '../../kafka/types.js'
import type {DrainableSink} from './paced-sink.js'

/**
 * Messages batched at a time over all producers: large batches amortise round trips and compress well. Each producer
 * sends its share, so what is held (a batch in flight and one being built, per producer) stays about what it is with one.
 */
const BATCH_MESSAGES = 6000

/**
 * Value bytes a producer batches at most. Its request holds one record batch per partition, and a broker refuses a
 * batch over the topic's max.message.bytes (1 MB by default), counted after compression: uncompressed 6000 events of
 * ~290 bytes would be 1.7 MB in one partition of a 1-partition topic.
 */
const BATCH_BYTES = 512 * 1024

/**
 * Size of the buffer a batch's values are written into: a batch is sent once its values reach BATCH_BYTES, so the room
 * above that is for the event that crosses it (an event too large for the room takes the string path).
 */
const ARENA_BYTES = BATCH_BYTES + 64 * 1024

/**
 * Idempotent producers the sink spreads the topic's partitions over. kafkajs keeps one request in flight per
 * idempotent producer; with several, the broker works on one request while the next is being encoded.
 */
const MAX_PRODUCERS = 3

export interface KafkaSinkOptions {
  connection: KafkaConnectionOptions
  topic: string
  /** Partitions of the topic when ecap creates it. */
  partitions: number
  /** Codec of the produced record batches (default gzip; zstd where Node.js has it, see canWrite). */
  compression?: Compression
}

/** One idempotent producer, the partitions it alone writes, and the records batched for it. */
interface Lane {
  producer: RecordProducer
  batch: OutgoingRecord[]
  /** UTF-16 units of the batch's keys and values: their bytes for the ASCII events the generator makes. */
  batchSize: number
  /**
   * The bytes the batch's values are written into, one after the other; each value is a view of it. A fresh one per
   * batch: kafkajs reads the values until the request is encoded, after send() has returned.
   */
  arena: Buffer
  /** Bytes of `arena` holding values. */
  arenaUsed: number
  /** The send in flight; the next one starts only after it is acknowledged. */
  sending: Promise<void> | undefined
}

/**
 * Produces events to a Kafka topic, keyed by customer_id and partitioned by murmur2 of the key (as Java's producer
 * does), in compressed batches. Each partition is written by one idempotent producer (its "lane"), with one request in
 * flight: its batches reach the partition in the order they were built, and a retried request is deduplicated by the
 * broker by producer id and sequence number. So one customer's events stay in order in one partition, each written
 * once. The next batch is built while the previous one is in flight (back-pressure: a lane waits for its previous
 * send before it sends again). Creates the topic when it is missing.
 */
export class KafkaSink implements DrainableSink {
  readonly target: string
  readonly closed = false
  readonly onAbort = 'sent-events-stay'
  private lanes: Lane[] = []
  /** The lane of each partition. */
  private laneOf: Lane[] = []
  private partitionCount = 0
  private unkeyed = 0
  private laneBatch = BATCH_MESSAGES
  produced = 0

  private constructor(private readonly options: KafkaSinkOptions) {
    this.target = `kafka://${options.connection.brokers}/${options.topic}`
  }

  static async open(options: KafkaSinkOptions): Promise<KafkaSink> {
    // Before anything is created or sent: every batch would fail to encode.
    if (!canWrite(options.compression ?? 'gzip')) throw zstdMissing()
    const sink = new KafkaSink(options)
    const kafka = kafkaClient(options.connection)
    const admin = kafka.admin()
    try {
      await admin.connect()
      const topics = await admin.listTopics()
      if (!topics.includes(options.topic)) {
        await admin.createTopics({
          topics: [{topic: options.topic, numPartitions: options.partitions}],
          waitForLeaders: true,
        })
      }
      const metadata = await admin.fetchTopicMetadata({topics: [options.topic]})
      const partitions = metadata.topics[0]?.partitions.map((p) => p.partitionId).sort((a, b) => a - b) ?? []
      if (partitions.length === 0) throw new Error(`Kafka reports no partitions for topic ${options.topic}.`)
      sink.partitionCount = partitions.length
      const laneCount = Math.max(1, Math.min(MAX_PRODUCERS, partitions.length))
      for (let i = 0; i < laneCount; i++) {
        // Idempotent: a retried send cannot write a message twice (which would reach the lake as a duplicate event).
        // The sink picks each record's partition itself (murmur2 of the key); the partitioner only backs that up.
        const producer = kafka.producer({idempotent: true, partitioner: 'murmur2'})
        sink.lanes.push({
          producer,
          batch: [],
          batchSize: 0,
          arena: Buffer.allocUnsafe(ARENA_BYTES),
          arenaUsed: 0,
          sending: undefined,
        })
        await producer.connect()
      }
      sink.laneBatch = Math.ceil(BATCH_MESSAGES / laneCount)
      sink.laneOf = partitions.map((_, i) => sink.lanes[i % laneCount] as Lane)
      return sink
    } catch (error) {
      await sink.disconnect()
      throw unavailable(error, options.connection.brokers)
    } finally {
      await admin.disconnect()
    }
  }

  write(event: ShopEvent): void | Promise<void> {
    const key = event.customer_id
    // Anonymous events have no key and no order to keep: they go round the partitions, as kafkajs's partitioner sends them.
    const partition = key === null ? this.nextUnkeyed() : keyPartition(key, this.partitionCount)
    const lane = this.laneOf[partition] as Lane
    const value = this.encode(lane, event)
    lane.batch.push({key, value, partition})
    lane.batchSize += value.length + (key?.length ?? 0)
    if (lane.batch.length >= this.laneBatch || lane.batchSize >= BATCH_BYTES) return this.send(lane)
    return undefined
  }

  /**
   * The event's JSON line as bytes written straight into the lane's arena (writeEventBytes): building it as a string
   * first left V8 a rope of pieces that kafkajs then flattened, a fifth of this thread's time. An event the byte
   * writer declines (text JSON escapes, non-ASCII) or that does not fit is sent as serializeEvent's string, which
   * holds the same bytes.
   */
  private encode(lane: Lane, event: ShopEvent): Buffer | string {
    const start = lane.arenaUsed
    const end = writeEventBytes(event, lane.arena, start)
    if (end < 0 || end > lane.arena.length) return serializeEvent(event)
    lane.arenaUsed = end
    return lane.arena.subarray(start, end)
  }

  private nextUnkeyed(): number {
    this.unkeyed = (this.unkeyed + 1) % this.partitionCount
    return this.unkeyed
  }

  /** Sends what is batched now and waits until Kafka has it: a live stream is about to wait for its next event. */
  async drain(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => this.send(lane)))
    await Promise.all(this.lanes.map((lane) => lane.sending))
  }

  /** Waits for the lane's send in flight, then starts sending its batch without waiting for it. */
  private async send(lane: Lane): Promise<void> {
    await lane.sending
    if (lane.batch.length === 0 || !this.lanes.includes(lane)) return
    const messages = lane.batch
    lane.batch = []
    lane.batchSize = 0
    lane.arena = Buffer.allocUnsafe(ARENA_BYTES)
    lane.arenaUsed = 0
    const sending = lane.producer
      .send({topic: this.options.topic, compression: this.options.compression ?? 'gzip', messages})
      .then(
        () => {
          this.produced += messages.length
        },
        (error: unknown) => {
          throw unavailable(error, this.options.connection.brokers)
        },
      )
    // Its failure is reported by whoever waits for it next (the next send, drain or commit).
    sending.catch(() => {})
    lane.sending = sending
  }

  async commit(): Promise<void> {
    try {
      await this.drain()
    } finally {
      await this.disconnect()
    }
  }

  /** Stops producing. Messages already acknowledged by Kafka stay in the topic: a stream cannot be unsent. */
  async abort(): Promise<void> {
    for (const lane of this.lanes) {
      lane.batch = []
      lane.batchSize = 0
      lane.arenaUsed = 0
    }
    await this.disconnect()
  }

  private async disconnect(): Promise<void> {
    const lanes = this.lanes
    this.lanes = []
    this.laneOf = []
    // Not waiting for a send in flight: commit has already waited for them, and an abort must not hang on a send that
    // retries without bound against a broker that is gone (the producer's disconnect ends it).
    await Promise.all(lanes.map((lane) => lane.producer.disconnect()))
  }
}
