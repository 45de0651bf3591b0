import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chownSync, existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import pg from 'pg'

const SCRIPT = fileURLToPath(new URL('../../scripts/install-postgres.sh', import.meta.url))

/**
 * PostgreSQL refuses to run as root. Where the tests run as root (this machine, CI containers), initdb and postgres
 * run as `nobody` through util-linux's setpriv, which changes the user ids and drops root's groups before exec; the
 * data folder is that user's. As any other user they run as that user.
 */
const NOBODY = 65534

export interface TestPostgres {
  host: string
  port: number
  user: string
  /** Only ever handed to ecap through PGPASSWORD, as a user would. */
  password: string
  database: string
  /** libpq's variables for this server, password included. */
  env: Record<string, string>
  /** postgres://user@host:port/db, without the password. */
  url: string
  /** A client of the test's own, connected as the test user. */
  client(): Promise<pg.Client>
  stop(): Promise<void>
}

/** The folder of initdb and postgres: ECAP_TEST_POSTGRES_BIN when set, else scripts/install-postgres.sh's answer. */
export function postgresBin(): string {
  const given = process.env.ECAP_TEST_POSTGRES_BIN
  if (given) {
    if (!existsSync(join(given, 'postgres'))) throw new Error(`ECAP_TEST_POSTGRES_BIN=${given} has no postgres`)
    return given
  }
  const out = execFileSync('bash', [SCRIPT], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000})
  const bin = out.trim().split('\n').at(-1) ?? ''
  if (!existsSync(join(bin, 'postgres')))
    throw new Error(`scripts/install-postgres.sh printed no server folder: ${out}`)
  return bin
}

/**
 * Starts a PostgreSQL server of its own in a temp folder: a fresh cluster whose only user logs in with a password
 * (scram-sha-256, on the socket and on TCP alike, so a test exercises authentication), listening on 127.0.0.1 at a
 * free port, with its socket in the temp folder. fsync is off: a test's data need not survive a power cut.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin()
  const dir = mkdtempSync(join(tmpdir(), 'ecap-postgres-'))
  const asRoot = process.getuid?.() === 0
  const run = (tool: string, args: string[]): [string, string[]] =>
    asRoot
      ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', join(bin, tool), ...args]]
      : [join(bin, tool), args]
  const user = 'ecap_test'
  const password = randomBytes(12).toString('hex')
  const database = 'ecap_test'
  writeFileSync(join(dir, 'password'), `${password}\n`, {mode: 0o600})
  if (asRoot) {
    chownSync(dir, NOBODY, NOBODY)
    chownSync(join(dir, 'password'), NOBODY, NOBODY)
  }
  const data = join(dir, 'data')
  const [initdb, initArgs] = run('initdb', [
    '-D',
    data,
    '-U',
    user,
    `--pwfile=${join(dir, 'password')}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
  ])
  execFileSync(initdb, initArgs, {stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000})
  rmSync(join(dir, 'password'))

  let child: ChildProcess | undefined
  let port = 0
  // A port found free can be taken before postgres binds it: try another then.
  for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
    port = await freePort()
    const [postgres, args] = run('postgres', [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ])
    const started = spawn(postgres, args, {stdio: ['ignore', 'ignore', 'pipe']})
    let log = ''
    started.stderr?.on('data', (chunk) => {
      log += chunk
    })
    const ready = await waitReady(
      port,
      user,
      password,
      database,
      () => started.exitCode === null && started.signalCode === null,
    )
    if (ready) child = started
    else if (!/could not bind|Address already in use/.test(log)) throw new Error(`postgres did not start:\n${log}`)
  }
  if (child === undefined) throw new Error('postgres found no free port')
  const server = child

  const env = {
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: user,
    PGPASSWORD: password,
    PGDATABASE: database,
  }
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    env,
    url: `postgres://${user}@127.0.0.1:${port}/${database}`,
    async client() {
      const client = new pg.Client({host: '127.0.0.1', port, user, password, database})
      await client.connect()
      return client
    },
    async stop() {
      if (server.exitCode === null) {
        const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()))
        // SIGINT: the fast shutdown, which ends open sessions instead of waiting for them.
        server.kill('SIGINT')
        await exited
      }
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** Connects until the server takes logins (true) or has exited (false); it creates the test database on the first. */
async function waitReady(
  port: number,
  user: string,
  password: string,
  database: string,
  running: () => boolean,
): Promise<boolean> {
  for (;;) {
    if (!running()) return false
    const client = new pg.Client({host: '127.0.0.1', port, user, password, database: 'postgres'})
    try {
      await client.connect()
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
      if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`)
      return true
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      await client.end().catch(() => {})
    }
  }
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
