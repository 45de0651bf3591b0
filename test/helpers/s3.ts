import {type ChildProcess, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {readdirSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {CreateBucketCommand, S3Client} from '@aws-sdk/client-s3'
import {PYTHON, VENV} from './python.js'

const ROOT = join(import.meta.dirname, '..', '..')

/** The credentials the test server accepts (moto takes any); tests never see real ones. */
const TEST_CREDENTIALS = {AWS_ACCESS_KEY_ID: 'ecap-test', AWS_SECRET_ACCESS_KEY: 'ecap-test-secret'}

export interface S3Server {
  endpoint: string
  /** The variables that point ecap, delta-rs and the AWS SDK at this server. */
  env: Record<string, string>
  stop(): Promise<void>
}

/**
 * Starts the S3-compatible test server (moto's server mode, tools/python/s3_server.py) on a free loopback port and
 * waits until it answers. Conditional writes (`If-None-Match: *`) get 412 when the key exists, as on S3.
 */
export async function startS3Server(options: {serverEnv?: NodeJS.ProcessEnv} = {}): Promise<S3Server> {
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  const child: ChildProcess = spawn(PYTHON, [join(ROOT, 'tools', 'python', 's3_server.py'), String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {...process.env, ...options.serverEnv},
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`The S3 test server exited (${child.exitCode}): ${stderr}`)
    try {
      // Any answer means it listens (a server checking signatures answers an unsigned probe with an error).
      await fetch(`${endpoint}/`)
      break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`The S3 test server did not answer within 60 s: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  const env = {
    ...TEST_CREDENTIALS,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpoint,
    AWS_ALLOW_HTTP: 'true',
    ECAP_DUCKDB_EXTENSIONS: httpfsFolder(),
  }
  return {
    endpoint,
    env,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    },
  }
}

/** The DuckDB extensions folder of PyPI's duckdb-extension-httpfs wheel in the test virtualenv. */
export function httpfsFolder(): string {
  const lib = join(VENV, 'lib')
  const python = readdirSync(lib).find((name) => name.startsWith('python3'))
  if (!python) throw new Error(`No python3.* in ${lib}`)
  return join(lib, python, 'site-packages', 'duckdb_extension_httpfs', 'extensions')
}

/** A new bucket on the test server (from process.env, which the global setup points at it), for one test's lake. */
export async function newBucket(prefix = 'lake'): Promise<string> {
  // As ecap does (lake/s3-client.ts): the SDK's notice that its 2027 releases need Node 22 is not a test's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const bucket = `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const client = new S3Client({endpoint: process.env.AWS_ENDPOINT_URL, forcePathStyle: true, region: 'us-east-1'})
  try {
    await client.send(new CreateBucketCommand({Bucket: bucket}))
  } finally {
    client.destroy()
  }
  return bucket
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}
