import {UsageError} from '../errors.js'
import type {ClusterAdmin} from '../kafka/types.js'
import type {IngestOptions} from './types.js'

/** The partition ids of a topic, sorted; a missing topic is a usage error naming the fix. */
export async function topicPartitions(admin: ClusterAdmin, topic: string): Promise<number[]> {
  const topics = await admin.listTopics()
  if (!topics.includes(topic)) {
    throw new UsageError('TOPIC_MISSING', `Kafka has no topic "${topic}".`, {
      hints: ['Create it with: ecap generate --to kafka', '--topic <name> (or ECAP_TOPIC)'],
    })
  }
  const metadata = await admin.fetchTopicMetadata({topics: [topic]})
  return (metadata.topics[0]?.partitions ?? []).map((p) => p.partitionId).sort((a, b) => a - b)
}

/** For `--from <ISO time>`: the first offset at or after that time, for partitions the group has no offset for. */
export async function startingOffsets(
  admin: ClusterAdmin,
  options: Pick<IngestOptions, 'from' | 'group' | 'topic'>,
  partitions: number[],
): Promise<Map<number, number>> {
  const result = new Map<number, number>()
  if (options.from === 'earliest' || options.from === 'latest') return result
  const time = Date.parse(options.from)
  if (Number.isNaN(time)) {
    throw new UsageError('INVALID_FROM', `--from "${options.from}" is not earliest, latest or an ISO time.`, {
      hints: ['--from earliest', '--from 2026-03-01T00:00:00Z'],
    })
  }
  const committed = await admin.fetchOffsets({groupId: options.group, topics: [options.topic]})
  const hasOffset = new Set(
    (committed[0]?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => p.partition),
  )
  for (const p of await admin.fetchTopicOffsetsByTimestamp(options.topic, time)) {
    if (partitions.includes(p.partition) && !hasOffset.has(p.partition)) result.set(p.partition, Number(p.offset))
  }
  return result
}
