import {CompressionTypes, type Consumer, Kafka, logLevel, Partitioners} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type LocalBroker, startLocalBroker} from '../src/lib/kafka/local-broker.js'
import {type TestSasl, testKafka, uniqueName} from './helpers/kafka.js'

const MESSAGES = 1000
const PARTITIONS = 3

/** Resolves once `check` holds, polling; fails with `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('the test Kafka broker (Apache Kafka, KRaft) with kafkajs', () => {
  it('carries 1000 keyed GZIP messages through 3 partitions to a consumer group once each, committed up to the high-water marks', async () => {
    const kafka = testKafka()
    const topic = uniqueName('broker-test')
    const groupId = uniqueName('broker-test-group')
    const admin = kafka.admin()
    const producer = kafka.producer({createPartitioner: Partitioners.DefaultPartitioner})
    let consumer: Consumer | undefined
    try {
      await admin.connect()
      const created = await admin.createTopics({
        topics: [{topic, numPartitions: PARTITIONS, replicationFactor: 1}],
        waitForLeaders: true,
      })
      expect(created).toBe(true)

      await producer.connect()
      const keyOf = (seq: number) => `customer-${seq % 97}`
      for (let start = 0; start < MESSAGES; start += 250) {
        await producer.send({
          topic,
          compression: CompressionTypes.GZIP,
          messages: Array.from({length: 250}, (_, i) => ({
            key: keyOf(start + i),
            value: JSON.stringify({seq: start + i}),
          })),
        })
      }

      const seen = new Map<number, number>()
      const partitionOfKey = new Map<string, number>()
      const lastSeqOfKey = new Map<string, number>()
      let outOfOrder = 0
      let commits = 0
      // A short long-poll: stop() waits for the fetch in flight.
      consumer = kafka.consumer({groupId, maxWaitTimeInMs: 500})
      await consumer.connect()
      await consumer.subscribe({topic, fromBeginning: true})
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale}) => {
          let last: string | undefined
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) break
            const seq = (JSON.parse(message.value!.toString()) as {seq: number}).seq
            const key = message.key!.toString()
            seen.set(seq, (seen.get(seq) ?? 0) + 1)
            const keyPartition = partitionOfKey.get(key)
            if (keyPartition !== undefined && keyPartition !== batch.partition) outOfOrder++
            partitionOfKey.set(key, batch.partition)
            if ((lastSeqOfKey.get(key) ?? -1) >= seq) outOfOrder++
            lastSeqOfKey.set(key, seq)
            resolveOffset(message.offset)
            last = message.offset
          }
          if (last === undefined) return
          // What ingest does after a lake commit: commit the next offset to read, explicitly.
          await commitOffsetsIfNecessary({
            topics: [
              {topic: batch.topic, partitions: [{partition: batch.partition, offset: String(BigInt(last) + 1n)}]},
            ],
          })
          commits++
          await heartbeat()
        },
      })

      const highWaterMarks = await admin.fetchTopicOffsets(topic)
      expect(highWaterMarks).toHaveLength(PARTITIONS)
      expect(highWaterMarks.reduce((sum, p) => sum + Number(p.high), 0)).toBe(MESSAGES)
      // Keys spread over every partition.
      expect(highWaterMarks.every((p) => Number(p.high) > 0)).toBe(true)

      const committedAtHighWater = async () => {
        const [committed] = await admin.fetchOffsets({groupId, topics: [topic]})
        return highWaterMarks.every(
          (hw) => committed?.partitions.find((p) => p.partition === hw.partition)?.offset === hw.high,
        )
      }
      await waitFor('every message', () => seen.size === MESSAGES)
      await waitFor('the committed offsets to reach the high-water marks', committedAtHighWater)
      await consumer.stop()

      expect([...seen.values()].every((count) => count === 1)).toBe(true)
      expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({length: MESSAGES}, (_, i) => i))
      // One key, one partition, in the order it was produced.
      expect(outOfOrder).toBe(0)
      expect(commits).toBeGreaterThan(0)

      const [committed] = await admin.fetchOffsets({groupId, topics: [topic]})
      expect(
        committed!.partitions
          .map(({partition, offset}) => ({partition, offset}))
          .sort((a, b) => a.partition - b.partition),
      ).toEqual(
        highWaterMarks
          .map(({partition, high}) => ({partition, offset: high}))
          .sort((a, b) => a.partition - b.partition),
      )
    } finally {
      await consumer?.disconnect()
      await producer.disconnect()
      await admin.disconnect()
    }
  })

  describe('SASL/PLAIN listener', () => {
    let sasl: TestSasl
    let ownBroker: LocalBroker | undefined

    beforeAll(async () => {
      const provided = inject('kafkaSasl')
      if (provided) {
        sasl = provided
        return
      }
      // The run uses a broker started elsewhere (ECAP_TEST_BROKERS), which may have no SASL listener: start one.
      ownBroker = await startLocalBroker({sasl: {users: {'ecap-test': 'ecap-test-secret'}}})
      sasl = {brokers: ownBroker.sasl!.brokers, username: 'ecap-test', password: 'ecap-test-secret'}
    })
    afterAll(async () => {
      await ownBroker?.stop()
    })

    const client = (password: string) =>
      new Kafka({
        clientId: 'ecap-test-sasl',
        brokers: [sasl.brokers],
        sasl: {mechanism: 'plain', username: sasl.username, password},
        logLevel: logLevel.NOTHING,
      })

    it('lets a known user produce and consume', async () => {
      const kafka = client(sasl.password)
      const topic = uniqueName('sasl-test')
      const admin = kafka.admin()
      const producer = kafka.producer({createPartitioner: Partitioners.DefaultPartitioner})
      const consumer = kafka.consumer({groupId: uniqueName('sasl-test-group'), maxWaitTimeInMs: 500})
      try {
        await admin.connect()
        await admin.createTopics({topics: [{topic, numPartitions: 1}], waitForLeaders: true})
        await producer.connect()
        await producer.send({topic, messages: [{key: 'k', value: 'hello over SASL'}]})
        const values: string[] = []
        await consumer.connect()
        await consumer.subscribe({topic, fromBeginning: true})
        await consumer.run({
          eachMessage: async ({message}) => {
            values.push(message.value!.toString())
          },
        })
        await waitFor('the message', () => values.length === 1)
        expect(values).toEqual(['hello over SASL'])
      } finally {
        await consumer.disconnect()
        await producer.disconnect()
        await admin.disconnect()
      }
    })

    it('refuses a wrong password', async () => {
      const admin = client(`${sasl.password}-wrong`).admin()
      try {
        await expect(admin.connect()).rejects.toThrow(/SASL PLAIN authentication failed|Authentication failed/i)
      } finally {
        await admin.disconnect()
      }
    })
  })
})
