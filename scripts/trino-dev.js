// A real single-node Trino 476 for trying `ecap analyze --engine trino` locally: `npm run trino:dev [-- --port 8080]`.
// Run through npm, which builds dist/ first. The server lives in a temp folder that Ctrl-C removes: tables registered
// in it do not survive. stdout gets only the ECAP_TRINO_URL=… line to export in another shell; the rest goes to stderr.
import {readFileSync} from 'node:fs'
import {parseArgs} from 'node:util'
import {startLocalTrino} from '../dist/lib/trino/local-trino.js'

const USAGE = `Usage: npm run trino:dev -- [--port 8080] [--s3-endpoint URL]

Starts Trino 476 on 127.0.0.1 (Java 22+; ECAP_TRINO_JAVA_HOME, else the Temurin 25 JDK) and prints
ECAP_TRINO_URL=http://127.0.0.1:<port>. Its catalog \`delta\` reads Delta tables on this machine (local:///abs/path).
Ctrl-C stops it and deletes its folder.
  --port         HTTP port, default 8080
  --s3-endpoint  also read s3:// tables from this S3-compatible store (path-style addressing), with the
                 credentials of AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the region of AWS_REGION
                 (default us-east-1); credentials are never taken from flags`

function fail(message, exitCode) {
  process.stderr.write(`${message}\n`)
  process.exit(exitCode)
}

let values
try {
  ;({values} = parseArgs({
    options: {
      port: {type: 'string'},
      's3-endpoint': {type: 'string'},
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

const port = values.port === undefined ? 8080 : Number(values.port)
if (!Number.isInteger(port) || port < 1 || port > 65535)
  fail(`--port must be a port number (1-65535), got "${values.port}".`, 2)

let s3
const endpoint = values['s3-endpoint']
if (endpoint !== undefined) {
  if (!/^https?:\/\/./.test(endpoint))
    fail(`--s3-endpoint must be an http:// or https:// address, got "${endpoint}".`, 2)
  const {AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey} = process.env
  if (!accessKeyId || !secretAccessKey) {
    fail('--s3-endpoint needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment.', 2)
  }
  s3 = {endpoint, region: process.env.AWS_REGION || 'us-east-1', accessKeyId, secretAccessKey}
}

let trino
try {
  trino = await startLocalTrino({port, s3, onProgress: (message) => process.stderr.write(`${message}…\n`)})
} catch (error) {
  const hints = (error.hints ?? []).map((hint) => `\n  Try this: ${hint}`).join('')
  fail(`Could not start Trino: ${error.message}${hints}`, error.exitCode ?? 1)
}

process.stdout.write(`ECAP_TRINO_URL=${trino.url}\n`)
process.stderr.write(
  `Trino is running (log: ${trino.logFile}). Register a lake's events table in it with SQL such as:
  CREATE SCHEMA delta.ecap;
  CALL delta.system.register_table(schema_name => 'ecap', table_name => 'events', table_location => 'local:///abs/lake/events')
Press Ctrl-C to stop it.\n`,
)

let stopping = false
async function shutdown(signal) {
  if (stopping) {
    // A second Ctrl-C: stop waiting; the exit hook kills the JVM.
    fail(`Stopping at once (${signal}).`, 130)
  }
  stopping = true
  process.stderr.write('Stopping Trino…\n')
  await trino.stop()
  process.stderr.write('Trino stopped.\n')
  process.exit(0)
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))

const exit = await trino.exited
if (!stopping) {
  let tail = ''
  try {
    tail = readFileSync(trino.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n')
  } catch {}
  await trino.stop()
  fail(`Trino exited on its own (${exit.signal ?? `code ${exit.code}`}). End of its log:\n${tail}`, 4)
}
