// The S3-compatible server for benchmarks: the same server the tests start (tools/python/s3_server.py, moto with
// atomic conditional writes) from the project's .venv, on a free loopback port.
import {spawn} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'

export async function startS3Server(root) {
  const port = await new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
  const endpoint = `http://127.0.0.1:${port}`
  const child = spawn(
    join(root, '.venv', 'bin', 'python'),
    [join(root, 'tools', 'python', 's3_server.py'), String(port)],
    {
      stdio: 'ignore',
    },
  )
  for (let i = 0; ; i++) {
    try {
      await fetch(`${endpoint}/`)
      break
    } catch {
      if (i > 300) throw new Error('The S3 test server did not start')
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const lib = join(root, '.venv', 'lib')
  const python = readdirSync(lib).find((n) => n.startsWith('python3'))
  const env = {
    AWS_ACCESS_KEY_ID: 'ecap-bench',
    AWS_SECRET_ACCESS_KEY: 'ecap-bench-secret',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpoint,
    AWS_ALLOW_HTTP: 'true',
    ECAP_DUCKDB_EXTENSIONS: join(lib, python, 'site-packages', 'duckdb_extension_httpfs', 'extensions'),
  }
  return {
    endpoint,
    env,
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    },
  }
}

/** Makes a bucket on the server with a plain path-style PUT (the server accepts any credentials). */
export async function newBucket(server, name) {
  const bucket = `${name}-${Date.now().toString(36)}`
  const response = await fetch(`${server.endpoint}/${bucket}`, {method: 'PUT'})
  if (!response.ok) throw new Error(`Creating bucket ${bucket}: HTTP ${response.status}`)
  return bucket
}
