import {serializeEvent} from '../../events/serialize.js'
import type {ShopEvent} from '../../events/types.js'
import {type KafkaConnectionOptions, unavailable} from '../../kafka/client.js'
import {kafkaClient} from '../../kafka/kafkajs-client.js'
import type {OutgoingRecord, RecordProducer} from '../../kafka/types.js'
import type {DrainableSink} from './paced-sink.js'

/** Messages per produce request: large batches amortise round trips and compress well. */
const BATCH_MESSAGES = 5000

export interface KafkaSinkOptions {
  connection: KafkaConnectionOptions
  topic: string
  /** Partitions of the topic when ecap creates it. */
  partitions: number
}

/**
 * Produces events to a Kafka topic, keyed by customer_id (so one customer's events stay in order in one
 * partition), in GZIP-compressed batches, waiting for each batch (back-pressure) before building the next.
 * Creates the topic when it is missing.
 */
export class KafkaSink implements DrainableSink {
  readonly target: string
  readonly closed = false
  private batch: OutgoingRecord[] = []
  private producer: RecordProducer | undefined
  produced = 0

  private constructor(private readonly options: KafkaSinkOptions) {
    this.target = `kafka://${options.connection.brokers}/${options.topic}`
  }

  static async open(options: KafkaSinkOptions): Promise<KafkaSink> {
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
      // Idempotent: a retried send cannot write a message twice (which would reach the lake as a duplicate event).
      // Keys hash to partitions with murmur2, as Java's producer does: one customer's events stay in one partition.
      const producer = kafka.producer({idempotent: true, partitioner: 'murmur2'})
      await producer.connect()
      sink.producer = producer
      return sink
    } catch (error) {
      throw unavailable(error, options.connection.brokers)
    } finally {
      await admin.disconnect()
    }
  }

  write(event: ShopEvent): void | Promise<void> {
    this.batch.push({key: event.customer_id, value: serializeEvent(event)})
    if (this.batch.length >= BATCH_MESSAGES) return this.flush()
    return undefined
  }

  /** Sends what is batched now: a live stream is about to wait for its next event. */
  drain(): Promise<void> {
    return this.flush()
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0 || !this.producer) return
    const messages = this.batch
    this.batch = []
    try {
      await this.producer.send({topic: this.options.topic, compression: 'gzip', messages})
    } catch (error) {
      throw unavailable(error, this.options.connection.brokers)
    }
    this.produced += messages.length
  }

  async commit(): Promise<void> {
    await this.flush()
    await this.disconnect()
  }

  /** Stops producing. Messages already acknowledged by Kafka stay in the topic: a stream cannot be unsent. */
  async abort(): Promise<void> {
    this.batch = []
    await this.disconnect()
  }

  private async disconnect(): Promise<void> {
    const producer = this.producer
    this.producer = undefined
    await producer?.disconnect()
  }
}
