// A real single-node Apache Kafka broker (KRaft) for trying ecap locally: `npm run kafka:dev [-- --port 9092]`.
// Run through npm, which builds dist/ first. The broker lives in a temp folder that Ctrl-C removes: topics do not survive.
// stdout gets only the ECAP_BROKERS=… line to export in another shell; progress and the log's path go to stderr.
import {readFileSync} from 'node:fs'
import {parseArgs} from 'node:util'
import {startLocalBroker} from '../dist/lib/kafka/local-broker.js'

const USAGE = `Usage: npm run kafka:dev -- [--port 9092] [--controller-port N] [--sasl-port N]

Starts Apache Kafka on 127.0.0.1 and prints ECAP_BROKERS=127.0.0.1:<port>. Ctrl-C stops it and deletes its data.
  --port             client (PLAINTEXT) port, default 9092
  --controller-port  KRaft controller port, default: a free one
  --sasl-port        also open a SASL_PLAINTEXT listener (mechanism PLAIN) on this port; its account is
                     ECAP_KAFKA_DEV_USER / ECAP_KAFKA_DEV_PASSWORD (default ecap / ecap-dev-secret)`

function fail(message, exitCode) {
  process.stderr.write(`${message}\n`)
  process.exit(exitCode)
}

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
  const hints = (error.hints ?? []).map((hint) => `\n  Try this: ${hint}`).join('')
  fail(`Could not start Kafka: ${error.message}${hints}`, error.exitCode ?? 1)
}

process.stdout.write(`ECAP_BROKERS=${broker.brokers}\n`)
if (broker.sasl) {
  process.stderr.write(`SASL/PLAIN listener: ${broker.sasl.brokers} (user ${saslUser})\n`)
}
process.stderr.write(`Kafka is running (log: ${broker.logFile}). Press Ctrl-C to stop it.\n`)

let stopping = false
async function shutdown(signal) {
  if (stopping) {
    // A second Ctrl-C: stop waiting; the exit hook kills the JVM.
    fail(`Stopping at once (${signal}).`, 130)
  }
  stopping = true
  process.stderr.write('Stopping Kafka…\n')
  await broker.stop()
  process.stderr.write('Kafka stopped.\n')
  process.exit(0)
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))

const exit = await broker.exited
if (!stopping) {
  let tail = ''
  try {
    tail = readFileSync(broker.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n')
  } catch {}
  await broker.stop()
  fail(`Kafka exited on its own (${exit.signal ?? `code ${exit.code}`}). End of its log:\n${tail}`, 4)
}
