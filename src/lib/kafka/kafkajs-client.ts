import {CompressionTypes, type Consumer, type Kafka, Partitioners, type Producer, type ProducerConfig} from 'kafkajs'
import {createKafka, type KafkaConnectionOptions} from './client.js'
import type {
  Compression,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaClient,
  Partitioner,
  RecordProducer,
  RecordProducerOptions,
} from './types.js'

/**
 * ecap's Kafka client, implemented with kafkajs: the one place that says how ecap's types map onto it. The objects
 * kafkajs returns are handed through wherever their shape already is ecap's (admin calls, batches, seek), so nothing
 * stands between ingest and kafkajs's own behaviour.
 */
export function kafkaClient(options: KafkaConnectionOptions, env: NodeJS.ProcessEnv = process.env): KafkaClient {
  const kafka = createKafka(options, env)
  return {
    admin: () => kafka.admin(),
    consumer: (consumerOptions) => groupConsumer(kafka, consumerOptions),
    producer: (producerOptions) => recordProducer(kafka, producerOptions),
  }
}

function groupConsumer(kafka: Kafka, options: GroupConsumerOptions): GroupConsumer {
  const {restartOnFailure, ...config} = options
  const consumer: Consumer = kafka.consumer({...config, retry: {restartOnFailure}})
  return {
    connect: () => consumer.connect(),
    subscribe: (subscription) => consumer.subscribe(subscription),
    run: ({partitionsConsumedConcurrently, eachBatch}) =>
      consumer.run({
        // Offsets move only when ecap says: resolved by the handler, committed after the lake commit.
        eachBatchAutoResolve: false,
        autoCommit: false,
        partitionsConsumedConcurrently,
        eachBatch,
      }),
    pause: (topics) => consumer.pause(topics),
    resume: (topics) => consumer.resume(topics),
    seek: (position) => consumer.seek(position),
    commitOffsets: (positions) => consumer.commitOffsets(positions),
    stop: () => consumer.stop(),
    disconnect: () => consumer.disconnect(),
    onGroupJoin: (listener) => {
      consumer.on(consumer.events.GROUP_JOIN, ({payload}) => listener(payload.memberAssignment))
    },
    onCrash: (listener) => {
      consumer.on(consumer.events.CRASH, ({payload}) => listener(payload.error, payload.restart))
    },
  }
}

const COMPRESSION: Record<Compression, CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  zstd: CompressionTypes.ZSTD,
}

const PARTITIONER: Record<Partitioner, ProducerConfig['createPartitioner']> = {
  murmur2: Partitioners.DefaultPartitioner,
}

function recordProducer(kafka: Kafka, options: RecordProducerOptions = {}): RecordProducer {
  const config: ProducerConfig = {allowAutoTopicCreation: false}
  if (options.idempotent) {
    // kafkajs requires unbounded retries for that (it warns that fewer may invalidate exactly-once delivery); a broker
    // that stays down still fails the connect. One request in flight keeps retried batches in order.
    Object.assign(config, {
      idempotent: true,
      maxInFlightRequests: 1,
      retry: {retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 5000},
    })
  }
  if (options.partitioner) config.createPartitioner = PARTITIONER[options.partitioner]
  const producer: Producer = kafka.producer(config)
  return {
    connect: () => producer.connect(),
    send: async ({topic, messages, compression}) => {
      const acknowledged = await producer.send({
        topic,
        ...(compression !== undefined && {compression: COMPRESSION[compression]}),
        acks: -1,
        messages,
      })
      // kafkajs leaves out, without an error, the records of a partition its metadata has no leader for (a topic just
      // created or grown, or recreated smaller): every partition the records were sent to must be acknowledged.
      // A loop, not flatMap: a backfill sends thousands of records a request, and flatMap made an array of each.
      const sentTo = new Set<number>()
      for (const m of messages) if (m.partition !== undefined) sentTo.add(m.partition)
      for (const ack of acknowledged) if (ack.errorCode === 0) sentTo.delete(ack.partition)
      if (sentTo.size > 0) {
        throw new Error(
          `Kafka did not acknowledge the records sent to partition${sentTo.size > 1 ? 's' : ''} ${[...sentTo].join(', ')} of ${topic}; they may be missing.`,
        )
      }
    },
    disconnect: () => producer.disconnect(),
  }
}
