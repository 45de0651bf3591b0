/**
 * What ecap needs of a Kafka client, and nothing more: the rest of ecap sees these types, and only src/lib/kafka/
 * knows which client library implements them (kafkajs today, see kafkajs-client.ts and docs/kafka-client.md).
 * Offsets are decimal strings: Kafka's are int64, past a JavaScript number's exact range.
 */

/** A topic, one of its partitions, and an offset in it. */
export interface PartitionOffset {
  topic: string
  partition: number
  offset: string
}

/** A record as fetched from a partition. */
export interface ReceivedRecord {
  offset: string
  key: Buffer | null
  value: Buffer | null
  /** Milliseconds since the epoch (the record's CreateTime or LogAppendTime), as a decimal string. */
  timestamp: string
}

/**
 * One partition's fetched records as the run loop is handed them, with the controls that go with them. Nothing is
 * resolved until `resolveOffset` says so: resolving an offset resolves every one before it in the partition, and the
 * consumer fetches on after the last offset resolved.
 */
export interface FetchedBatch {
  batch: {topic: string; partition: number; messages: ReceivedRecord[]}
  resolveOffset(offset: string): void
  /** Keeps the group membership alive; refused (it throws) while the group rebalances. */
  heartbeat(): Promise<void>
  /** False once the consumer is stopping: the batch is to be left alone. */
  isRunning(): boolean
  /** True while a seek of this batch's partition is pending: its records may be from an old position. */
  isStale(): boolean
}

/** What a flush or a rewind does to the group's consumer: move fetch positions, and commit offsets (for lag tools). */
export interface ConsumerPositions {
  /** Fetching of the partition goes on from `offset`; takes effect before the next batch of that partition. */
  seek(position: PartitionOffset): void
  /** Commits the group's offsets (the next offset to read, per partition). */
  commitOffsets(positions: PartitionOffset[]): Promise<void>
}

/** How the ingest consumer joins its group and fetches. */
export interface GroupConsumerOptions {
  groupId: string
  sessionTimeout: number
  heartbeatInterval: number
  /** Bytes of one fetch response, in all and per partition: what bounds the memory of a fetch. */
  maxBytes: number
  maxBytesPerPartition: number
  /** How long a fetch waits for data before it returns with none. */
  maxWaitTimeInMs: number
  /** Asked after the consumer crashed on an error it retries: true restarts it (it rejoins the group). */
  restartOnFailure: (error: Error) => Promise<boolean>
}

/** How the run loop is driven: batches, offsets resolved and committed by ecap alone. */
export interface BatchLoopOptions {
  /** Partitions whose batches may be handled at once. */
  partitionsConsumedConcurrently: number
  eachBatch: (batch: FetchedBatch) => Promise<void>
}

/** A consumer group member, as ingest drives it. */
export interface GroupConsumer extends ConsumerPositions {
  connect(): Promise<void>
  subscribe(subscription: {topic: string; fromBeginning: boolean}): Promise<void>
  /**
   * Starts fetching and handing batches to `eachBatch`, with no offset resolved or committed but by ecap. Resolves
   * once the loop has started, not when it ends.
   */
  run(options: BatchLoopOptions): Promise<void>
  /** Holds fetching of the topics (batches already handed over still finish); synchronous. */
  pause(topics: {topic: string}[]): void
  resume(topics: {topic: string}[]): void
  /** Stops the loop (waiting for the batch in hand) and leaves the group; stays connected. Never from inside a handler. */
  stop(): Promise<void>
  disconnect(): Promise<void>
  /** After each (re)balance: the partitions assigned to this member, by topic. */
  onGroupJoin(listener: (assignment: Record<string, number[]>) => void): void
  /** The consumer failed; `restarting` says whether it rejoins on its own (see restartOnFailure). */
  onCrash(listener: (error: Error, restarting: boolean) => void): void
}

/** Compressions ecap writes with (it reads snappy and lz4 too, see codecs.ts); zstd needs Node.js 22.15 or newer. */
export type Compression = 'none' | 'gzip' | 'zstd'

/** How a keyed record finds its partition. `murmur2`: the Java client's default (one key, one partition). */
export type Partitioner = 'murmur2'

/** A record to produce. */
export interface OutgoingRecord {
  key?: Buffer | string | null
  value: Buffer | string | null
  /** The partition to write; without it the producer's partitioner picks one from the key. */
  partition?: number
}

export interface RecordProducerOptions {
  /**
   * A retried send cannot write a record twice (a duplicate would reach the lake as a duplicate event): retried
   * without bound, one request in flight.
   */
  idempotent?: boolean
  partitioner?: Partitioner
}

/** Produces records to topics that exist (it never creates one). Every send waits for all in-sync replicas. */
export interface RecordProducer {
  connect(): Promise<void>
  send(request: {topic: string; messages: OutgoingRecord[]; compression?: Compression}): Promise<void>
  disconnect(): Promise<void>
}

/** The admin calls ecap makes: topics, their metadata and offsets, and a group's committed offsets. */
export interface ClusterAdmin {
  connect(): Promise<void>
  disconnect(): Promise<void>
  listTopics(): Promise<string[]>
  createTopics(options: {topics: {topic: string; numPartitions?: number}[]; waitForLeaders?: boolean}): Promise<boolean>
  fetchTopicMetadata(options: {topics: string[]}): Promise<{topics: {partitions: {partitionId: number}[]}[]}>
  /** Per partition: `low` the first offset still held, `high` the offset the next record will get. */
  fetchTopicOffsets(topic: string): Promise<{partition: number; low: string; high: string}[]>
  /** Per partition: the first offset at or after `timestamp` (ms), or the high-water mark when there is none. */
  fetchTopicOffsetsByTimestamp(topic: string, timestamp?: number): Promise<{partition: number; offset: string}[]>
  /** The group's committed offsets; "-1" for a partition it never committed. */
  fetchOffsets(options: {
    groupId: string
    topics: string[]
  }): Promise<{topic: string; partitions: {partition: number; offset: string}[]}[]>
  describeCluster(): Promise<{
    brokers: {nodeId: number; host: string; port: number}[]
    controller: number | null
    clusterId: string
  }>
}

/** A connection to one cluster, from which its clients are made. */
export interface KafkaClient {
  admin(): ClusterAdmin
  consumer(options: GroupConsumerOptions): GroupConsumer
  producer(options?: RecordProducerOptions): RecordProducer
}
