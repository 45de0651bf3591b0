// Connects a kafkajs admin, producer and consumer to a real broker, sends and reads back a few messages, and prints
// as JSON every process warning Node emitted meanwhile. Run by test/node-lines.test.ts under each Node.js line ecap
// is tested on. `--control` emits one warning of its own first, to show that a warning is seen and still printed.
import {Kafka, logLevel} from 'kafkajs'

const [brokers, topic, mode] = process.argv.slice(2)
const warnings = []
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`))
if (mode === '--control') process.emitWarning('a warning of the probe itself', 'ProbeWarning')

const kafka = new Kafka({clientId: 'ecap-warning-probe', brokers: brokers.split(','), logLevel: logLevel.NOTHING})
const admin = kafka.admin()
await admin.connect()
await admin.createTopics({topics: [{topic, numPartitions: 2, replicationFactor: 1}], waitForLeaders: true})
await admin.fetchTopicOffsets(topic)

const producer = kafka.producer({idempotent: true, maxInFlightRequests: 1})
await producer.connect()
const sent = 20
await producer.send({topic, messages: Array.from({length: sent}, (_, i) => ({key: `k${i}`, value: `v${i}`}))})

const consumer = kafka.consumer({groupId: `${topic}-group`})
await consumer.connect()
await consumer.subscribe({topic, fromBeginning: true})
let received = 0
const done = new Promise((resolve) => {
  consumer.run({
    eachMessage: async () => {
      received += 1
      if (received === sent) resolve()
    },
  })
})
await done
await consumer.disconnect()
await producer.disconnect()
await admin.disconnect()
// Timers armed by the clients fire on the way out: give them a moment, so their warnings are counted too.
await new Promise((resolve) => setTimeout(resolve, 200))
process.stdout.write(`${JSON.stringify({version: process.version, received, warnings})}\n`)
