// A real single-node Apache Kafka broker (KRaft) for trying ecap locally: `npm run kafka:dev [-- --port 9092]`.
// Run through npm, which builds dist/ first. The broker lives in a temp folder that Ctrl-C removes: topics do not survive.
// stdout gets only the ECAP_BROKERS=… line to export in another shell; progress and the log's path go to stderr.
import {parseArgs} from 'node:util'
import {startLocalBroker} from '../dist/lib/kafka/local-broker.js'
import {fail, failToStart, serveUntilStopped} from './dev-server.js'

const USAGE = `Usage: npm run kafka:dev -- [--port 9092] [--controller-port N] [--sasl-port N]

Starts Apache Kafka on 127.0.0.1 and prints ECAP_BROKERS=127.0.0.1:<port>. Ctrl-C stops it and deletes its data.
  --port             client (PLAINTEXT) port, default 9092
  --controller-port  KRaft controller port, default: a free one
  --sasl-port        also open a SASL_PLAINTEXT listener (mechanism PLAIN) on this port; its account is
                     ECAP_KAFKA_DEV_USER / ECAP_KAFKA_DEV_PASSWORD (default ecap / ecap-dev-secret)`

function portOption(values, name, fallback) {
  const text = values[name]
  if (text === undefined) return fallback
  const port = Number(text)
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`--${name} must be a port number (1-65535), got "${text}".`, 2)
  return port
}

let values
try {
  ;({values} = parseArgs({
    options: {
      port: {type: 'string'},
      'controller-port': {type: 'string'},
      'sasl-port': {type: 'string'},
      help: {type: 'boolean', short: 'h'},
    },
  }))
} catch (error) {
  fail(`${error.message}\n\n${USAGE}`, 2)
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}

const saslPort = portOption(values, 'sasl-port', undefined)
const saslUser = process.env.ECAP_KAFKA_DEV_USER || 'ecap'
const saslPassword = process.env.ECAP_KAFKA_DEV_PASSWORD || 'ecap-dev-secret'
let broker
try {
  broker = await startLocalBroker({
    port: portOption(values, 'port', 9092),
    controllerPort: portOption(values, 'controller-port', undefined),
    sasl: saslPort === undefined ? undefined : {port: saslPort, users: {[saslUser]: saslPassword}},
    onProgress: (message) => process.stderr.write(`${message}…\n`),
  })
} catch (error) {
  failToStart('Kafka', error)
}

process.stdout.write(`ECAP_BROKERS=${broker.brokers}\n`)
if (broker.sasl) {
  process.stderr.write(`SASL/PLAIN listener: ${broker.sasl.brokers} (user ${saslUser})\n`)
}
process.stderr.write(`Kafka is running (log: ${broker.logFile}). Press Ctrl-C to stop it.\n`)

await serveUntilStopped('Kafka', broker)
