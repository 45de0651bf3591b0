import type {Admin} from 'kafkajs'
import {UsageError} from '../errors.js'

/** The partition ids of a topic, sorted; a missing topic is a usage error naming the fix. */
export async function topicPartitions(admin: Admin, topic: string): Promise<number[]> {
  const topics = await admin.listTopics()
  if (!topics.includes(topic)) {
    throw new UsageError('TOPIC_MISSING', `Kafka has no topic "${topic}".`, {
      hints: ['Create it with: ecap generate --to kafka', '--topic <name> (or ECAP_TOPIC)'],
    })
  }
  const metadata = await admin.fetchTopicMetadata({topics: [topic]})
  return (metadata.topics[0]?.partitions ?? []).map((p) => p.partitionId).sort((a, b) => a - b)
}
