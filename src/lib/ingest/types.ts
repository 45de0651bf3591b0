import type {KafkaConnectionOptions} from '../kafka/client.js'
import type {InputFormat} from './judge.js'

export interface IngestOptions {
  connection: KafkaConnectionOptions
  topic: string
  group: string
  lake: string
  /** Flush when this many messages are buffered. */
  flushRows: number
  /** Flush at least this often while messages are buffered. */
  flushIntervalMs: number
  /**
   * Flush when the buffered message values reach this many bytes, whatever --flush-rows says, so one flush's staging
   * file and DuckDB's work on it stay bounded. [default: 128 MiB]
   */
  flushBytes?: number
  /**
   * What the topic's messages are: ecap events (default) or Segment messages, mapped to events (docs/segment.md).
   * Either way a message that is not a valid event becomes a dead letter with its reason.
   */
  input?: InputFormat
  /** Where a group with no position in the lake or in Kafka starts: earliest, latest, or an ISO time. */
  from: string
  /** Consume up to the high-water marks seen at start, flush, and return (for cron). */
  untilCaughtUp: boolean
  /** Live fraud scoring (--score-fraud): alerts to `<lake>/fraud_alerts` and, with a topic, to Kafka. */
  fraud?: {threshold?: number; alertsTopic?: string}
  /** Serve Prometheus metrics of the run on http://<host>:<port>/metrics while it lasts (see docs/metrics.md). */
  metrics?: {port: number; host: string}
}

export interface IngestProgress {
  messages: number
  events: number
  deadLetters: number
  commits: number
  elapsedMs: number
}

export interface IngestHooks {
  signal?: AbortSignal
  onProgress?: (progress: IngestProgress) => void
  /** Told where the metrics are served, once the server listens (before Kafka is reached). */
  onMetricsServing?: (url: string) => void
}

export interface IngestResult extends IngestProgress {
  /** Things that went wrong without harm, e.g. a Kafka offset commit refused during a rebalance. */
  warnings: string[]
  /** Messages skipped because the lake already held them (a replay after a crash). */
  duplicatesSkipped: number
  /** Offsets Kafka's retention deleted before they were read (lost; also recorded in the events commit's commitInfo). */
  retentionGaps: (RetentionGap & {topic: string})[]
  /** Last offset in the lake per partition after the run. */
  offsets: Record<string, number>
  stoppedBy: 'caught-up' | 'signal'
  eventsPerSecond: number
  /** With live fraud scoring: orders scored, alerts written to the lake, produced, and re-sent at start. */
  fraud?: {
    scored: number
    alerts: number
    published: number
    resent: number
    /** What scored (the scorecard of the last restore) and at which threshold. */
    model: 'rules' | 'learned'
    modelVersion: number | null
    threshold: number
  }
  /** Where the run's time went, per stage, summed over its flushes (stages overlap: fetching goes on during a flush). */
  stageSeconds: IngestStageSeconds
}

/** Offsets of one partition that were gone from Kafka when ecap came to read them. */
export interface RetentionGap {
  partition: number
  firstOffset: number
  lastOffset: number
}

/** Seconds spent in each stage of an ingest run. */
export interface IngestStageSeconds {
  /** Our handler of each fetched batch: UTF-8 decoding, JSON.parse, duplicate-key scan, validation, staging lines. */
  judge: number
  /** The handler waiting for the previous flush to finish (back-pressure: fetching is held meanwhile). */
  waitForFlush: number
  /** DuckDB: read_json of the staged events and the partitioned Parquet COPY. */
  eventFiles: number
  /** DuckDB: the dead-letter Parquet file. */
  deadLetters: number
  /** Delta log commits (events and dead letters). */
  deltaCommit: number
  /** Committing the offsets to Kafka after the lake. */
  kafkaCommit: number
}
