import type {Engine} from '../engine/engine.js'
import {type KafkaConnectionOptions, unavailable} from '../kafka/client.js'
import {kafkaClient} from '../kafka/kafkajs-client.js'
import type {ClusterAdmin} from '../kafka/types.js'
import {EVENTS_TABLE, tablePath} from '../lake/lake.js'
import {lakeOffsets} from './lake-offsets.js'
import {topicPartitions} from './topic.js'

export interface PartitionLag {
  partition: number
  /** First offset still in the log (older ones were deleted by retention). */
  logStart: number
  /** Offset the next produced message will get (the high-water mark). */
  logEnd: number
  /** Next offset ingest will read, from the lake's record; null when the lake has none of this partition. */
  lakeNext: number | null
  /** Next offset by the group's committed Kafka offsets (what Kafka tools show); null when never committed. */
  groupNext: number | null
  /** Messages in the log that are not in the lake yet. */
  lagMessages: number
  /** Age of the oldest message not yet in the lake, by its Kafka timestamp; 0 when there is none. */
  lagSeconds: number
}

export interface IngestStatus {
  topic: string
  group: string
  lake: string
  partitions: PartitionLag[]
  total: {lagMessages: number; maxLagSeconds: number}
  /** The events table: its version, when it was last committed, and the newest event time it holds. */
  events: {version: number; lastCommit: string | null; latestEventTime: string | null; freshnessSeconds: number | null}
}

export interface IngestStatusOptions {
  connection: KafkaConnectionOptions
  topic: string
  group: string
  lake: string
}

/**
 * How far the lake is behind the topic, per partition and in total, in messages and in seconds, measured against
 * the offsets of record (the lake's), with the group's Kafka offsets beside them; and how fresh the lake is.
 * Nothing is consumed: it only asks the brokers for offsets, and reads the lake's log (no data file).
 */
export async function ingestStatus(
  engine: Engine,
  options: IngestStatusOptions,
  now = Date.now(),
): Promise<IngestStatus> {
  const admin = kafkaClient({...options.connection, clientId: 'ecap-ingest-status'}).admin()
  try {
    try {
      await admin.connect()
    } catch (error) {
      throw unavailable(error, options.connection.brokers)
    }
    const partitions = await topicPartitions(admin, options.topic)
    const [log, committed, lake] = await Promise.all([
      admin.fetchTopicOffsets(options.topic),
      admin.fetchOffsets({groupId: options.group, topics: [options.topic]}),
      lakeOffsets(tablePath(options.lake, EVENTS_TABLE), options.topic, engine),
    ])
    const groupNext = new Map(
      (committed[0]?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, Number(p.offset)]),
    )
    const rows = await Promise.all(
      partitions.map(async (partition): Promise<PartitionLag> => {
        const offsets = log.find((p) => p.partition === partition)
        const logStart = Number(offsets?.low ?? 0)
        const logEnd = Number(offsets?.high ?? 0)
        const written = lake.offsets.get(partition)
        const lakeNext = written === undefined ? null : written + 1
        // A partition the lake has never seen is read from the log's start (or the group's offset, if it has one).
        const next = Math.max(lakeNext ?? groupNext.get(partition) ?? logStart, logStart)
        const lagMessages = Math.max(logEnd - next, 0)
        const lagSeconds =
          lagMessages === 0
            ? 0
            : Math.max(0, (now - (await messageTime(admin, options.topic, partition, next, now))) / 1000)
        return {
          partition,
          logStart,
          logEnd,
          lakeNext,
          groupNext: groupNext.get(partition) ?? null,
          lagMessages,
          lagSeconds: Math.round(lagSeconds * 10) / 10,
        }
      }),
    )
    const stats = [...(lake.snapshot?.files.values() ?? [])]
      .map((f) =>
        f.stats ? (JSON.parse(f.stats) as {maxValues?: {event_time?: string}}).maxValues?.event_time : undefined,
      )
      .filter((t): t is string => t !== undefined)
      .sort()
    const latestEventTime = stats.at(-1) ?? null
    const lastCommit = lake.snapshot?.lastCommitTimestamp
    return {
      topic: options.topic,
      group: options.group,
      lake: options.lake,
      partitions: rows,
      total: {
        lagMessages: rows.reduce((sum, r) => sum + r.lagMessages, 0),
        maxLagSeconds: Math.max(0, ...rows.map((r) => r.lagSeconds)),
      },
      events: {
        version: lake.version,
        lastCommit: lastCommit === undefined ? null : new Date(lastCommit).toISOString(),
        latestEventTime,
        freshnessSeconds: latestEventTime === null ? null : Math.round((now - Date.parse(latestEventTime)) / 1000),
      },
    }
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

/** How far back the timestamp search looks; an older pending message reports this age. */
const SEARCH_WINDOW_MS = 400 * 24 * 3_600_000

/**
 * The Kafka timestamp of the message at `offset`. Kafka answers only the other question (the first offset at or
 * after a time), so this bisects over time to 100 ms: the latest time whose first offset is still at or before
 * ours. About 32 offset lookups, no message fetched.
 */
async function messageTime(
  admin: ClusterAdmin,
  topic: string,
  partition: number,
  offset: number,
  now: number,
): Promise<number> {
  const firstOffsetAt = async (time: number) => {
    const found = (await admin.fetchTopicOffsetsByTimestamp(topic, time)).find((p) => p.partition === partition)
    return Number(found?.offset ?? Number.POSITIVE_INFINITY)
  }
  let lo = now - SEARCH_WINDOW_MS
  let hi = now + 60_000
  if ((await firstOffsetAt(hi)) <= offset) return hi
  while (hi - lo > 100) {
    const mid = Math.floor((lo + hi) / 2)
    if ((await firstOffsetAt(mid)) <= offset) lo = mid
    else hi = mid
  }
  return lo
}
