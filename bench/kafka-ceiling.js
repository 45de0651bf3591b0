#!/usr/bin/env node
// kafkajs's own ceiling: a consumer group reads a whole topic with ingest's fetch settings and does nothing with the
// messages (or, with `judge`, only what ingest does to each message in JavaScript before DuckDB sees it). No ingest
// built on kafkajs can go faster than the first figure on the same machine.
//
//   node bench/kafka-ceiling.js <brokers> <topic> <bare|judge|default-fetch> [--cpu-prof]
//
// Prints one JSON line: messages, seconds, messages/s, peak RSS. Run by `npm run bench -- kafka-ceiling`.
import {Kafka, logLevel} from 'kafkajs'
import {INGEST_FETCH} from '../dist/lib/kafka/client.js'

const [brokers, topic, mode = 'bare'] = process.argv.slice(2)
const kafka = new Kafka({clientId: 'ecap-bench-ceiling', brokers: [brokers], logLevel: logLevel.NOTHING})
const admin = kafka.admin()
await admin.connect()
const high = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]))
await admin.disconnect()
const total = [...high.values()].reduce((a, b) => a + b, 0)

let judge = () => {}
if (mode === 'judge') {
  const {parseEventText} = await import('../dist/lib/events/validate.js')
  const utf8 = new TextDecoder('utf-8', {fatal: true})
  judge = (value) => parseEventText(utf8.decode(value))
}

const consumer = kafka.consumer({
  groupId: `ecap-bench-ceiling-${process.pid}-${Date.now()}`,
  ...(mode === 'default-fetch' ? {maxWaitTimeInMs: INGEST_FETCH.maxWaitTimeInMs} : INGEST_FETCH),
})
await consumer.connect()
await consumer.subscribe({topic, fromBeginning: true})
let messages = 0
let bytes = 0
let started = 0
const done = new Promise((resolve) => {
  const reached = new Map()
  consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: false,
    eachBatch: async ({batch, resolveOffset}) => {
      if (started === 0) started = performance.now()
      for (const message of batch.messages) {
        judge(message.value)
        bytes += message.value?.length ?? 0
      }
      messages += batch.messages.length
      const last = batch.messages[batch.messages.length - 1]
      if (last) {
        resolveOffset(last.offset)
        reached.set(batch.partition, Number(last.offset) + 1)
      }
      if ([...high].every(([p, h]) => (reached.get(p) ?? 0) >= h)) resolve()
    },
  })
})
await done
// Timed from the first batch, so group join and the first fetch's wait are not counted against kafkajs.
const seconds = (performance.now() - started) / 1000
await consumer.disconnect()
console.log(
  JSON.stringify({
    mode,
    messages,
    total,
    seconds: Number(seconds.toFixed(2)),
    // The whole process, start to end (group join included), to compare with a command's wall time.
    processSeconds: Number((performance.now() / 1000).toFixed(2)),
    messagesPerSecond: Math.round(messages / seconds),
    valueMiB: Number((bytes / 2 ** 20).toFixed(1)),
    peakRssMiB: Number(((process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(1)),
  }),
)
