import {Kafka, logLevel} from 'kafkajs'
import {makeEvent} from './events.js'

function client(brokers: string): Kafka {
  return new Kafka({clientId: 'ecap-test', brokers: [brokers], logLevel: logLevel.NOTHING})
}

/** Creates `topic` with `partitions` partitions (before anything is produced, so nothing auto-creates it smaller). */
export async function createTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  const admin = client(brokers).admin()
  await admin.connect()
  try {
    await admin.createTopics({topics: [{topic, numPartitions: partitions}], waitForLeaders: true})
  } finally {
    await admin.disconnect()
  }
}

/** Message values ingest must dead-letter, of several kinds: not JSON, not a valid event, no value at all. */
function badValue(i: number): string | null {
  switch (i % 4) {
    case 0:
      return `not json ${i}`
    case 1:
      return JSON.stringify({...makeEvent('purchase'), total: -i - 1})
    case 2:
      return null
    default:
      return JSON.stringify({event_id: `bad-${i}`, event_type: 'no_such_type', event_time: '2026-01-01T00:00:00Z'})
  }
}

/**
 * Produces `perPartition` bad messages to every partition of `topic` and returns each one's key in the dead-letter
 * table's terms, `topic:partition:offset` (offsets as the broker assigned them).
 */
export async function produceBad(
  brokers: string,
  topic: string,
  partitions: number,
  perPartition: number,
  seq = 0,
): Promise<string[]> {
  const producer = client(brokers).producer()
  await producer.connect()
  const keys: string[] = []
  try {
    for (let partition = 0; partition < partitions; partition++) {
      const messages = Array.from({length: perPartition}, (_, i) => ({
        key: `bad-${seq}-${partition}-${i}`,
        value: badValue(seq + partition * perPartition + i),
        partition,
      }))
      const [sent] = await producer.send({topic, acks: -1, messages})
      if (sent?.partition !== partition) throw new Error(`produced to partition ${sent?.partition}, not ${partition}`)
      const base = Number(sent.baseOffset)
      for (let i = 0; i < perPartition; i++) keys.push(`${topic}:${partition}:${base + i}`)
    }
  } finally {
    await producer.disconnect()
  }
  return keys
}

/** Every message key of `topic`, from the start to its high-water mark at the time of the call. */
export async function readTopicKeys(brokers: string, topic: string, groupId: string): Promise<string[]> {
  const kafka = client(brokers)
  const admin = kafka.admin()
  await admin.connect()
  let total = 0
  try {
    if (!(await admin.listTopics()).includes(topic)) return []
    for (const p of await admin.fetchTopicOffsets(topic)) total += Number(p.high) - Number(p.low)
  } finally {
    await admin.disconnect()
  }
  if (total === 0) return []
  const keys: string[] = []
  const consumer = kafka.consumer({groupId, maxWaitTimeInMs: 200})
  await consumer.connect()
  try {
    await consumer.subscribe({topic, fromBeginning: true})
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${keys.length} of ${total} messages of ${topic}`)), 60_000)
      consumer
        .run({
          eachMessage: async ({message}) => {
            keys.push(String(message.key))
            if (keys.length >= total) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return keys
}

/**
 * Gives group `to` the Kafka offsets group `from` committed on `topic`. A process restarted after a SIGKILL would
 * wait out the dead member's session (30 s) to rejoin `from`; under `to` it starts at once from the same committed
 * offsets, which is all the data path reads from the group (the lake's txns are the offsets of record).
 */
export async function copyGroupOffsets(brokers: string, topic: string, from: string, to: string): Promise<void> {
  const admin = client(brokers).admin()
  await admin.connect()
  try {
    const [committed] = await admin.fetchOffsets({groupId: from, topics: [topic]})
    const partitions = (committed?.partitions ?? []).filter((p) => Number(p.offset) >= 0)
    if (partitions.length > 0) await admin.setOffsets({groupId: to, topic, partitions})
  } finally {
    await admin.disconnect()
  }
}
