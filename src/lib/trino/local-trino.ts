import {type ChildProcess, execFile, spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'
import {UnavailableError, UsageError} from '../errors.js'
import {propertiesText} from '../java-properties.js'

const HOST = '127.0.0.1'
const CATALOG = 'delta'
const MAIN_CLASS = 'io.trino.server.TrinoServer'
/** The repository root: this file is `src/lib/trino/` (or `dist/lib/trino/` once built), three levels down. */
const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..')
const INSTALL_SCRIPT = join(REPO_ROOT, 'scripts', 'install-trino.sh')
/** Where scripts/install-trino.sh puts the server: bin/, lib/ and plugin/delta-lake/ of the 476 tarball. */
export const TRINO_SERVER_DIR = join(REPO_ROOT, '.cache', 'trino', 'trino-server-476')
/** Written last by the install script: a folder without it is half a copy. */
const INSTALLED_MARKER = '.ecap-installed'
const TEMURIN_HOME = '/usr/lib/jvm/temurin-25-jdk-amd64'
/** Trino 476 is compiled for Java 22 and later. */
const MIN_JAVA = 22
const INSTALL_JAVA_HINT = `Install a JDK ${MIN_JAVA}+ (e.g. Temurin 25 from Adoptium: apt-get install temurin-25-jdk) and set ECAP_TRINO_JAVA_HOME to its folder.`

/** The S3-compatible store Trino reads s3:// lakes from (path-style addressing, as MinIO and moto need). */
export interface LocalTrinoS3Options {
  /** e.g. http://127.0.0.1:9000 */
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
}

export interface LocalTrinoOptions {
  /** HTTP port on 127.0.0.1; unset or 0 picks a free one. */
  port?: number
  /** JVM heap limit (`-Xmx`); Trino's query memory is sized from it. Default 1G. */
  heap?: string
  /**
   * More Delta Lake catalogs beside `delta`, by name, over the same metastore and file systems, each with these
   * properties changed: a test's catalog without register_table, say.
   */
  extraCatalogs?: Record<string, Record<string, string | boolean>>
  /** Lets the `delta` catalog read s3:// locations from this store besides local ones. */
  s3?: LocalTrinoS3Options
  /** How long to wait for the first query to succeed; a cold JVM on a busy machine is slow. Default 120 s. */
  startTimeoutMs?: number
  /** How long `stop()` waits after SIGTERM before it sends SIGKILL. Default 15 s. */
  stopTimeoutMs?: number
  /** Parent of the server's temp folder; defaults to the OS temp folder. */
  tmpDir?: string
  /** The server's install folder; defaults to `.cache/trino/trino-server-476`, installed when missing. */
  serverDir?: string
  /** Told what is happening (installing, starting). */
  onProgress?: (message: string) => void
}

export interface LocalTrinoExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface LocalTrino {
  /** The coordinator, `http://127.0.0.1:<port>`, ready for ECAP_TRINO_URL. */
  url: string
  /** The Delta Lake catalog, with a file metastore in the server's temp folder. */
  catalog: 'delta'
  port: number
  /** The JVM's process id. */
  pid: number
  /** The server's temp folder (etc/, data/, metastore/, trino.log). Removed by `stop()`. */
  dir: string
  /** The server's stdout and stderr (its log). */
  logFile: string
  /** Settles when the JVM exits, whether through `stop()` or not. */
  exited: Promise<LocalTrinoExit>
  /** Stops the server (SIGTERM, then SIGKILL after `stopTimeoutMs`), waits for it to exit, removes its folder. Safe to call twice. */
  stop(): Promise<void>
  /** The JVM's peak resident memory so far (VmHWM), in bytes; undefined once it has exited. */
  peakRssBytes(): number | undefined
}

/**
 * Starts a real single-node Trino (coordinator and worker in one JVM) listening on 127.0.0.1 only, in a temp folder
 * of its own, with one catalog `delta` that reads Delta tables on local disk (and on S3 when `s3` is given) and can
 * register them with `CALL delta.system.register_table`. Resolves once a query succeeds. The caller owns it: `stop()`.
 */
export async function startLocalTrino(options: LocalTrinoOptions = {}): Promise<LocalTrino> {
  const java = resolveJava()
  const serverDir = await ensureTrinoServer(options)
  // A free port is found by binding port 0 and letting go of it, so another process can take it before Trino binds
  // it: then the server dies at once and another port is tried. A given port is checked first: a second Trino 476 on
  // a port one already listens on starts without complaint (they share it), and its queries would reach either.
  for (let attempt = 1; ; attempt++) {
    try {
      const port = options.port ? await ensureFree(options.port) : await freePort()
      return await startOnce(java, serverDir, port, options)
    } catch (error) {
      if (!(error instanceof PortTakenError) || options.port || attempt >= 3) throw error
    }
  }
}

class PortTakenError extends UnavailableError {
  constructor(message: string) {
    super('TRINO_PORT_IN_USE', message, {
      hints: ['Stop what listens there, or pick another port: `npm run trino:dev -- --port <port>`.'],
    })
  }
}

async function startOnce(java: Java, serverDir: string, port: number, options: LocalTrinoOptions): Promise<LocalTrino> {
  const dir = mkdtempSync(join(options.tmpDir ?? tmpdir(), 'ecap-trino-'))
  const logFile = join(dir, 'trino.log')
  const url = `http://${HOST}:${port}`
  const heapBytes = parseHeap(options.heap ?? '1G')
  // Ready means that this JVM answers: a server already on the port (ours from before, or anyone's) answers too.
  const nodeId = `ecap-${randomBytes(6).toString('hex')}`
  let child: ChildProcess | undefined
  let logFd: number | undefined
  try {
    mkdirSync(join(dir, 'etc', 'catalog'), {recursive: true})
    writeFileSync(join(dir, 'etc', 'config.properties'), configProperties(port, heapBytes))
    writeFileSync(join(dir, 'etc', 'catalog', `${CATALOG}.properties`), deltaProperties(dir, options.s3))
    for (const [name, changes] of Object.entries(options.extraCatalogs ?? {})) {
      writeFileSync(join(dir, 'etc', 'catalog', `${name}.properties`), deltaProperties(dir, options.s3, changes))
    }

    options.onProgress?.(`Starting Trino on ${url}`)
    logFd = openSync(logFile, 'a')
    child = spawn(java.path, [...jvmOptions(java, heapBytes, dir, serverDir, nodeId), MAIN_CLASS], {
      cwd: dir,
      stdio: ['ignore', logFd, logFd],
    })
    const exited = new Promise<LocalTrinoExit>((resolveExit) =>
      child!.once('exit', (code, signal) => resolveExit({code, signal})),
    )
    const spawnFailed = new Promise<never>((_, reject) => child!.once('error', reject))
    // A server must not outlive the process that started it, even when that process exits without calling stop().
    const killOnExit = () => {
      child?.kill('SIGKILL')
      rmSync(dir, {recursive: true, force: true})
    }
    process.once('exit', killOnExit)
    try {
      await Promise.race([waitUntilReady(url, nodeId, options.startTimeoutMs ?? 120_000, exited, logFile), spawnFailed])
    } catch (error) {
      process.removeListener('exit', killOnExit)
      throw error
    }

    const running = child
    const pid = running.pid!
    const fd = logFd
    let stopping: Promise<void> | undefined
    const stop = () => {
      stopping ??= (async () => {
        process.removeListener('exit', killOnExit)
        await terminate(running, exited, options.stopTimeoutMs ?? 15_000)
        closeSync(fd)
        rmSync(dir, {recursive: true, force: true})
      })()
      return stopping
    }
    return {
      url,
      catalog: CATALOG,
      port,
      pid,
      dir,
      logFile,
      exited,
      stop,
      // Not once it has exited: its pid may be another process's by then.
      peakRssBytes: () => (running.exitCode === null && running.signalCode === null ? peakRss(pid) : undefined),
    }
  } catch (error) {
    const tail = logTail(logFile)
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((resolveExit) => child!.once('exit', resolveExit))
    }
    if (logFd !== undefined) closeSync(logFd)
    rmSync(dir, {recursive: true, force: true})
    if (/Address already in use|BindException/.test(tail)) {
      throw new PortTakenError(`Trino could not listen on ${HOST}:${port}: the port is in use.\n${tail}`)
    }
    throw error
  }
}

/**
 * Waits until a real query succeeds: the "SERVER STARTED" line comes before the node has announced itself, and a
 * query sent then fails with NO_NODES_AVAILABLE.
 */
async function waitUntilReady(
  url: string,
  nodeId: string,
  timeoutMs: number,
  exited: Promise<LocalTrinoExit>,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exit: LocalTrinoExit | undefined
  void exited.then((value) => {
    exit = value
  })
  let lastError: unknown
  while (Date.now() < deadline) {
    if (exit) {
      throw new UnavailableError(
        'TRINO_EXITED',
        `Trino exited (${exit.signal ?? `code ${exit.code}`}) before it answered on ${url}. End of its log:\n${logTail(logFile)}`,
        {hints: [`Its full log: ${logFile}`]},
      )
    }
    try {
      const signal = AbortSignal.timeout(Math.max(1000, deadline - Date.now()))
      // Active, not merely known: a table scan was seen failing with NO_NODES_AVAILABLE on a node listed already.
      const nodes = await statement(url, "SELECT node_id FROM system.runtime.nodes WHERE state = 'active'", signal)
      if (!nodes.some(([id]) => id === nodeId)) throw new Error(`another server answers on ${url}`)
      await statement(url, `SHOW SCHEMAS FROM ${CATALOG}`, signal)
      return
    } catch (error) {
      lastError = error
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 500))
    }
  }
  throw new UnavailableError(
    'TRINO_START_TIMEOUT',
    `Trino did not answer a query on ${url} within ${timeoutMs} ms (last error: ${(lastError as Error)?.message}). End of its log:\n${logTail(logFile)}`,
    {hints: ['Give it longer with `startTimeoutMs`; a cold JVM on a busy machine is slow.']},
  )
}

interface StatementResponse {
  nextUri?: string
  data?: unknown[][]
  stats?: {state?: string}
  error?: {errorName?: string; message?: string}
}

/** Runs one statement through Trino's HTTP protocol, following nextUri until it has finished; returns its rows. */
async function statement(url: string, sql: string, signal: AbortSignal): Promise<unknown[][]> {
  const headers = {'X-Trino-User': 'ecap', 'X-Trino-Source': 'ecap-local-trino'}
  let response = await fetch(`${url}/v1/statement`, {
    method: 'POST',
    headers,
    body: sql,
    signal,
  })
  const rows: unknown[][] = []
  for (;;) {
    // While the server starts it answers 503 ("still initializing").
    if (!response.ok) throw new Error(`HTTP ${response.status} from ${response.url}`)
    const body = (await response.json()) as StatementResponse
    if (body.error) throw new Error(`${body.error.errorName}: ${body.error.message}`)
    rows.push(...(body.data ?? []))
    if (!body.nextUri) {
      if (body.stats?.state !== 'FINISHED') throw new Error(`the query ended ${body.stats?.state}`)
      return rows
    }
    response = await fetch(body.nextUri, {headers, signal})
  }
}

async function terminate(child: ChildProcess, exited: Promise<LocalTrinoExit>, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout('timeout'), timeoutMs)
  })
  const outcome = await Promise.race([exited, timedOut])
  clearTimeout(timer)
  if (outcome === 'timeout') {
    child.kill('SIGKILL')
    await exited
  }
}

function jvmOptions(java: Java, heapBytes: number, dir: string, serverDir: string, nodeId: string): string[] {
  return [
    `-Xmx${heapBytes}`,
    '-XX:+UseG1GC',
    // A server out of memory is better dead (the caller sees it exit) than limping.
    '-XX:+ExitOnOutOfMemoryError',
    // As Trino's own jvm.config: its memory accounting (JOL) loads an agent into itself and uses sun.misc.Unsafe,
    // which newer JDKs allow only when asked (else a page of warnings opens the log).
    '-Djdk.attach.allowAttachSelf=true',
    '-XX:+EnableDynamicAgentLoading',
    '--enable-native-access=ALL-UNNAMED',
    // Java 22 does not know this option and would refuse to start.
    ...(java.major >= 23 ? ['--sun-misc-unsafe-memory-access=allow'] : []),
    '-Dfile.encoding=UTF-8',
    '-cp',
    join(serverDir, 'lib', '*'),
    '-Dnode.environment=ecap',
    `-Dnode.id=${nodeId}`,
    // The HTTP server binds to node.bind-ip (there is no http-server.http.host): loopback only.
    `-Dnode.bind-ip=${HOST}`,
    `-Dnode.internal-address=${HOST}`,
    `-Dnode.data-dir=${join(dir, 'data')}`,
    `-Dconfig=${join(dir, 'etc', 'config.properties')}`,
    `-Dplugin.dir=${join(serverDir, 'plugin')}`,
    `-Dcatalog.config-dir=${join(dir, 'etc', 'catalog')}`,
  ]
}

/** One node that is coordinator and worker, its query memory sized from the heap (Trino keeps 30% as headroom). */
function configProperties(port: number, heapBytes: number): string {
  const queryMemory = `${Math.floor((heapBytes * 0.5) / 2 ** 20)}MB`
  return propertiesText(
    {
      coordinator: true,
      'node-scheduler.include-coordinator': true,
      'http-server.http.port': port,
      'discovery.uri': `http://${HOST}:${port}`,
      'query.max-memory': queryMemory,
      'query.max-memory-per-node': queryMemory,
      'catalog.management': 'static',
      // One line per HTTP request, in data/: a test or benchmark run would only fill the disk with it.
      'http-server.log.enabled': false,
    },
    "Written by ecap's local Trino launcher (src/lib/trino/local-trino.ts).",
  )
}

/** The Delta Lake catalog: a file metastore of its own, local paths anywhere (`local:///abs/path`), and S3 if given. */
function deltaProperties(
  dir: string,
  s3: LocalTrinoS3Options | undefined,
  changes: Record<string, string | boolean> = {},
): string {
  const settings: Record<string, string | boolean> = {
    'connector.name': 'delta_lake',
    'hive.metastore': 'file',
    'hive.metastore.catalog.dir': `local://${join(dir, 'metastore')}`,
    'fs.native-local.enabled': true,
    // local:///x is /x: any table ecap wrote on this machine can be registered.
    'local.location': '/',
    // ecap's lakes already exist: they are registered, not created by Trino.
    'delta.register-table-procedure.enabled': true,
  }
  if (s3) {
    Object.assign(settings, {
      'fs.native-s3.enabled': true,
      's3.endpoint': s3.endpoint,
      's3.region': s3.region,
      's3.path-style-access': true,
      's3.aws-access-key': s3.accessKeyId,
      's3.aws-secret-key': s3.secretAccessKey,
    })
  }
  return propertiesText(
    {...settings, ...changes},
    "Written by ecap's local Trino launcher (src/lib/trino/local-trino.ts).",
  )
}

export interface Java {
  path: string
  /** The feature release: 25 for Java 25. */
  major: number
}

/**
 * The java to run Trino with: ECAP_TRINO_JAVA_HOME, else the Temurin 25 JDK where this project's machines have it,
 * else `java` on the PATH; checked to be Java 22 or newer (as scripts/install-trino.sh checks it).
 */
export function resolveJava(env: NodeJS.ProcessEnv = process.env): Java {
  let java: string
  if (env.ECAP_TRINO_JAVA_HOME) {
    java = join(env.ECAP_TRINO_JAVA_HOME, 'bin', 'java')
    if (!existsSync(java)) {
      throw new UsageError(
        'TRINO_JAVA_NOT_FOUND',
        `ECAP_TRINO_JAVA_HOME=${env.ECAP_TRINO_JAVA_HOME} has no bin/java.`,
        {
          hints: [INSTALL_JAVA_HINT],
        },
      )
    }
  } else if (existsSync(join(TEMURIN_HOME, 'bin', 'java'))) {
    java = join(TEMURIN_HOME, 'bin', 'java')
  } else {
    java = 'java'
  }
  const ran = spawnSync(java, ['-version'], {encoding: 'utf8', timeout: 30_000})
  if (ran.error) {
    throw new UnavailableError('TRINO_JAVA_NOT_FOUND', `Trino needs Java ${MIN_JAVA} or newer and there is no java.`, {
      cause: ran.error,
      hints: [INSTALL_JAVA_HINT],
    })
  }
  // `openjdk version "25.0.1"` → 25; the old `"1.8.0"` → 1.
  const major = Number(/ version "(\d+)/.exec(`${ran.stderr}${ran.stdout}`)?.[1] ?? Number.NaN)
  if (!(major >= MIN_JAVA)) {
    throw new UnavailableError(
      'TRINO_JAVA_TOO_OLD',
      `Trino needs Java ${MIN_JAVA} or newer; ${java} is Java ${Number.isNaN(major) ? 'of unknown version' : major}.`,
      {hints: [INSTALL_JAVA_HINT]},
    )
  }
  return {path: java, major}
}

/** The server folder, installed with scripts/install-trino.sh (Maven, about 800 MB once) when it is not there. */
async function ensureTrinoServer(options: LocalTrinoOptions): Promise<string> {
  if (options.serverDir) return options.serverDir
  if (existsSync(join(TRINO_SERVER_DIR, INSTALLED_MARKER))) return TRINO_SERVER_DIR
  options.onProgress?.(`Installing Trino 476 into ${TRINO_SERVER_DIR} (Maven fetches about 800 MB once)`)
  try {
    await promisify(execFile)('bash', [INSTALL_SCRIPT], {timeout: 1_800_000, maxBuffer: 16 * 2 ** 20})
  } catch (error) {
    const stderr = String((error as {stderr?: string}).stderr ?? '').trim()
    throw new UnavailableError(
      'TRINO_INSTALL_FAILED',
      `Installing Trino failed: ${stderr || (error as Error).message}`,
      {
        cause: error,
        hints: [`Run it yourself to see why: bash ${INSTALL_SCRIPT}`],
      },
    )
  }
  return TRINO_SERVER_DIR
}

/** `-Xmx` forms: 1G, 1536m, 2g, or bytes. */
function parseHeap(heap: string): number {
  const match = /^(\d+)([kmg]?)$/i.exec(heap.trim())
  if (!match) {
    throw new UsageError('TRINO_BAD_HEAP', `Heap size "${heap}" is not a JVM size such as 1G or 1536m.`)
  }
  const unit = {'': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30}[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g']
  return Number(match[1]) * unit
}

/** VmHWM of /proc/<pid>/status: the most resident memory the process has held. */
function peakRss(pid: number): number | undefined {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kib === undefined ? undefined : Number(kib) * 1024
  } catch {
    return undefined
  }
}

/** The given port, if nothing listens on it now (else Trino would start, fail to bind, and exit). */
function ensureFree(port: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new PortTakenError(`Port ${port} on ${HOST} is already in use.`))
      else reject(error)
    })
    server.listen(port, HOST, () => server.close(() => resolvePort(port)))
  })
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

function logTail(logFile: string, lines = 40): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no Trino log)'
  }
}
