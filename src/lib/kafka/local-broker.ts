import {type ChildProcess, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Kafka, logLevel, type SASLOptions} from 'kafkajs'
import {UnavailableError, UsageError} from '../errors.js'
import {propertiesText} from '../java-properties.js'
import {ensureKafkaJars} from './kafka-jars.js'

const HOST = '127.0.0.1'
const MAIN_CLASS = 'kafka.Kafka'
const STORAGE_TOOL = 'kafka.tools.StorageTool'

/** A SASL/PLAIN listener beside the plaintext one, for testing authentication. */
export interface LocalBrokerSaslOptions {
  /** Port of the SASL_PLAINTEXT listener; unset or 0 picks a free port. */
  port?: number
  /** The accounts the broker accepts: username → password. */
  users: Record<string, string>
}

export interface LocalBrokerOptions {
  /** Port of the plaintext client listener; unset or 0 picks a free port. */
  port?: number
  /** Port of the KRaft controller listener; unset or 0 picks a free port. */
  controllerPort?: number
  /** Adds a SASL_PLAINTEXT listener with the PLAIN mechanism. */
  sasl?: LocalBrokerSaslOptions
  /** Extra or overriding broker settings, written last into server.properties. */
  properties?: Record<string, string | number | boolean>
  /** JVM heap limit; Kafka's own default (1 GiB) is more than a test broker needs. */
  heap?: string
  /** How long to wait for the broker to answer; the first start on a cold machine is the slowest. */
  startTimeoutMs?: number
  /** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
  stopTimeoutMs?: number
  /** Parent of the broker's temp folder; defaults to the OS temp folder. */
  tmpDir?: string
  /**
   * The broker's folder, instead of a fresh temp one. It is the caller's: `stop()` leaves it, and starting again on it
   * (with the same ports) brings the same cluster back with its data, as a restarted broker would.
   */
  dir?: string
  /** Folder of the broker's jars; defaults to `.cache/kafka/libs`, fetched with Maven when missing. */
  libDir?: string
  /** Extra JVM options for the broker, after ecap's own. */
  jvmOptions?: string[]
  /** The java executable; defaults to `$JAVA_HOME/bin/java`, else `java` on the PATH. */
  java?: string
  /** Told what is happening (fetching jars, formatting, starting). */
  onProgress?: (message: string) => void
}

export interface LocalBroker {
  /** Bootstrap address of the plaintext listener, `127.0.0.1:<port>`, ready for kafkajs or `ECAP_BROKERS`. */
  brokers: string
  port: number
  controllerPort: number
  /** The SASL/PLAIN listener, when one was asked for. */
  sasl?: {brokers: string; port: number; mechanism: 'plain'}
  clusterId: string
  /** The broker's folder: server.properties, broker.log and the data. Removed by `stop()` unless the caller gave it. */
  dir: string
  /** Kafka's `log.dirs`: where the partitions' data lives. */
  logDir: string
  /** The broker's stdout and stderr (its log). */
  logFile: string
  /** Settles when the JVM exits, whether through `stop()` or not (a crash, a signal from elsewhere). */
  exited: Promise<BrokerExit>
  /** Stops the broker (SIGTERM, then SIGKILL after `stopTimeoutMs`) and removes its folder. Safe to call twice. */
  stop(): Promise<void>
}

interface Ports {
  port: number
  controllerPort: number
  saslPort?: number
}

export interface BrokerExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/**
 * Starts a real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) listening on 127.0.0.1 only,
 * in a fresh temp folder, and resolves once it answers a kafkajs admin client. The caller owns it: call `stop()`.
 */
export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  validateSasl(options.sasl)
  const libDir = await ensureKafkaJars({libDir: options.libDir, onProgress: options.onProgress})
  const fixedPorts =
    Boolean(options.port) && Boolean(options.controllerPort) && (!options.sasl || Boolean(options.sasl.port))
  // Free ports are found by binding port 0 and letting go of it, so another process can take one before Kafka binds it:
  // then the broker dies at once and another set of ports is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(libDir, await choosePorts(options), options)
    } catch (error) {
      if (!(error instanceof PortTakenError) || fixedPorts || attempt >= 3) throw error
    }
  }
}

class PortTakenError extends UnavailableError {
  constructor(message: string) {
    super('KAFKA_PORT_IN_USE', message, {
      hints: ['Stop what listens there, or pick another port: `npm run kafka:dev -- --port <port>`.'],
    })
  }
}

async function startOnce(libDir: string, ports: Ports, options: LocalBrokerOptions): Promise<LocalBroker> {
  const java = options.java ?? (process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java')
  const ownDir = options.dir === undefined
  const dir = options.dir ?? mkdtempSync(join(options.tmpDir ?? tmpdir(), 'ecap-kafka-'))
  mkdirSync(dir, {recursive: true})
  const logDir = join(dir, 'data')
  const logFile = join(dir, 'broker.log')
  const configFile = join(dir, 'server.properties')
  // A folder that already holds a formatted broker is a restart: keep its cluster and data.
  const formattedId = formattedClusterId(logDir)
  const clusterId = formattedId ?? randomClusterId()
  const classPath = join(libDir, '*')
  let child: ChildProcess | undefined
  let logFd: number | undefined
  const removeDir = () => {
    if (ownDir) rmSync(dir, {recursive: true, force: true})
  }

  try {
    writeFileSync(configFile, serverProperties(ports, logDir, options))
    if (formattedId === undefined) {
      options.onProgress?.('Formatting the Kafka storage')
      // A short-lived JVM: the C1 compiler alone halves its run time.
      await runJava(java, [
        '-XX:TieredStopAtLevel=1',
        '-cp',
        classPath,
        STORAGE_TOOL,
        'format',
        '-t',
        clusterId,
        '-c',
        configFile,
        '--standalone',
      ])
    }

    options.onProgress?.(`Starting Kafka on ${HOST}:${ports.port}`)
    logFd = openSync(logFile, 'a')
    child = spawn(java, [...jvmOptions(options), '-cp', classPath, MAIN_CLASS, configFile], {
      cwd: dir,
      stdio: ['ignore', logFd, logFd],
    })
    const exited = new Promise<BrokerExit>((resolveExit) =>
      child!.once('exit', (code, signal) => resolveExit({code, signal})),
    )
    const spawnFailed = new Promise<never>((_, reject) => child!.once('error', reject))
    // A broker must not outlive the process that started it, even when that process exits without calling stop().
    const killOnExit = () => {
      child?.kill('SIGKILL')
      removeDir()
    }
    process.once('exit', killOnExit)

    const brokers = `${HOST}:${ports.port}`
    try {
      await Promise.race([waitUntilReady(brokers, options, exited, logFile), spawnFailed])
      if (ports.saslPort !== undefined && options.sasl) {
        const [username, password] = Object.entries(options.sasl.users)[0]!
        await probe(`${HOST}:${ports.saslPort}`, 5000, {mechanism: 'plain', username, password})
      }
    } catch (error) {
      process.removeListener('exit', killOnExit)
      throw error
    }

    const running = child
    const fd = logFd
    let stopping: Promise<void> | undefined
    const stop = () => {
      stopping ??= (async () => {
        process.removeListener('exit', killOnExit)
        await terminate(running, exited, options.stopTimeoutMs ?? 20_000)
        closeSync(fd)
        removeDir()
      })()
      return stopping
    }
    return {
      brokers,
      port: ports.port,
      controllerPort: ports.controllerPort,
      sasl:
        ports.saslPort === undefined
          ? undefined
          : {brokers: `${HOST}:${ports.saslPort}`, port: ports.saslPort, mechanism: 'plain'},
      clusterId,
      dir,
      logDir,
      logFile,
      exited,
      stop,
    }
  } catch (error) {
    const tail = logTail(logFile)
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((resolveExit) => child!.once('exit', resolveExit))
    }
    if (logFd !== undefined) closeSync(logFd)
    removeDir()
    // Storage this attempt formatted in the caller's folder is not a broker worth restarting (a retry may pick other ports).
    if (!ownDir && formattedId === undefined) rmSync(logDir, {recursive: true, force: true})
    if (/Address already in use|BindException/.test(tail)) {
      throw new PortTakenError(`Kafka could not listen on ${describePorts(ports)}: a port is in use.\n${tail}`)
    }
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UnavailableError('JAVA_NOT_FOUND', `Java (${java}) is not installed.`, {
        cause: error,
        hints: ['Install Java 17+, e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME.'],
      })
    }
    throw error
  }
}

async function waitUntilReady(
  brokers: string,
  options: LocalBrokerOptions,
  exited: Promise<BrokerExit>,
  logFile: string,
) {
  const timeoutMs = options.startTimeoutMs ?? 90_000
  const deadline = Date.now() + timeoutMs
  let exit: BrokerExit | undefined
  void exited.then((value) => {
    exit = value
  })
  let lastError: unknown
  while (Date.now() < deadline) {
    if (exit) {
      throw new UnavailableError(
        'KAFKA_EXITED',
        `Kafka exited (${exit.signal ?? `code ${exit.code}`}) before it answered on ${brokers}. End of its log:\n${logTail(logFile)}`,
        {hints: [`Its full log: ${logFile}`]},
      )
    }
    try {
      await probe(brokers, Math.min(3000, Math.max(500, deadline - Date.now())))
      return
    } catch (error) {
      lastError = error
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 250))
    }
  }
  throw new UnavailableError(
    'KAFKA_START_TIMEOUT',
    `Kafka did not answer on ${brokers} within ${timeoutMs} ms (last error: ${(lastError as Error)?.message}). End of its log:\n${logTail(logFile)}`,
    {hints: ['Give it longer with `startTimeoutMs`; a cold JVM on a busy machine is slow.']},
  )
}

/** Asks the broker for its cluster: it answers with itself only once it has joined its own KRaft quorum. */
async function probe(brokers: string, timeoutMs: number, sasl?: SASLOptions): Promise<void> {
  const admin = new Kafka({
    clientId: 'ecap-local-broker',
    brokers: [brokers],
    sasl,
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: {retries: 0},
  }).admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    if (cluster.brokers.length === 0) throw new Error('the broker lists no brokers yet')
  } finally {
    await admin.disconnect()
  }
}

async function terminate(child: ChildProcess, exited: Promise<BrokerExit>, timeoutMs: number): Promise<void> {
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

function jvmOptions(options: LocalBrokerOptions): string[] {
  const heap = options.heap ?? '512m'
  return [
    `-Xmx${heap}`,
    '-Xms128m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
    ...(options.jvmOptions ?? []),
  ]
}

/** The settings of a single-node KRaft cluster that a laptop or CI can run: replication factor 1 everywhere. */
function serverProperties(ports: Ports, logDir: string, options: LocalBrokerOptions): string {
  const controller = `${HOST}:${ports.controllerPort}`
  const listeners = [`PLAINTEXT://${HOST}:${ports.port}`, `CONTROLLER://${controller}`]
  const protocols = ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT']
  if (ports.saslPort !== undefined) {
    listeners.push(`SASL_PLAINTEXT://${HOST}:${ports.saslPort}`)
    protocols.push('SASL_PLAINTEXT:SASL_PLAINTEXT')
  }
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A dynamic quorum of one (formatted with --standalone): Kafka 4 prefers it to a static controller.quorum.voters.
    'controller.quorum.bootstrap.servers': controller,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    listeners: listeners.join(','),
    'advertised.listeners': listeners.join(','),
    'listener.security.protocol.map': protocols.join(','),
    'log.dirs': logDir,
    'num.partitions': 1,
    'auto.create.topics.enable': false,
    'offsets.topic.replication.factor': 1,
    // 50 partitions by default: creating them holds up the first consumer group for seconds.
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'min.insync.replicas': 1,
    'default.replication.factor': 1,
    'group.initial.rebalance.delay.ms': 0,
  }
  if (options.sasl) {
    const accounts = Object.entries(options.sasl.users)
      .map(([user, password]) => `user_${user}="${password}"`)
      .join(' ')
    settings['sasl.enabled.mechanisms'] = 'PLAIN'
    settings['listener.name.sasl_plaintext.sasl.enabled.mechanisms'] = 'PLAIN'
    settings['listener.name.sasl_plaintext.plain.sasl.jaas.config'] =
      `org.apache.kafka.common.security.plain.PlainLoginModule required ${accounts};`
  }
  Object.assign(settings, options.properties)
  return propertiesText(settings, "Written by ecap's local broker launcher (src/lib/kafka/local-broker.ts).")
}

function validateSasl(sasl: LocalBrokerSaslOptions | undefined): void {
  if (!sasl) return
  const users = Object.entries(sasl.users)
  if (users.length === 0) throw new UsageError('KAFKA_SASL_NO_USERS', 'A SASL listener needs at least one user.')
  for (const [user, password] of users) {
    // Each account becomes a JAAS option `user_<name>="<password>"`; these characters would break out of it.
    if (!/^[A-Za-z0-9._-]+$/.test(user)) {
      throw new UsageError(
        'KAFKA_SASL_BAD_USER',
        `SASL username "${user}" may hold only letters, digits, ".", "_" and "-".`,
      )
    }
    if (/["\\;\r\n]/.test(password)) {
      throw new UsageError(
        'KAFKA_SASL_BAD_PASSWORD',
        `The password of SASL user "${user}" may not hold " \\ ; or a newline.`,
      )
    }
  }
}

async function choosePorts(options: LocalBrokerOptions): Promise<Ports> {
  const wanted = [options.port || 0, options.controllerPort || 0]
  if (options.sasl) wanted.push(options.sasl.port || 0)
  // Hold every port open at once so that two free ports are never the same one.
  const servers: Server[] = []
  try {
    const ports: number[] = []
    for (const port of wanted) {
      const server = createServer()
      servers.push(server)
      ports.push(await listen(server, port))
    }
    return {port: ports[0]!, controllerPort: ports[1]!, saslPort: ports[2]}
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolveClose) => server.close(resolveClose))))
  }
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new PortTakenError(`Port ${port} on ${HOST} is already in use.`))
      else reject(error)
    })
    server.listen(port, HOST, () => {
      const address = server.address()
      resolveListen(typeof address === 'object' && address ? address.port : port)
    })
  })
}

function describePorts(ports: Ports): string {
  const all = [ports.port, ports.controllerPort, ...(ports.saslPort === undefined ? [] : [ports.saslPort])]
  return `${HOST} ports ${all.join(', ')}`
}

/** The cluster id of a storage folder Kafka already formatted, from its meta.properties. */
function formattedClusterId(logDir: string): string | undefined {
  const meta = join(logDir, 'meta.properties')
  if (!existsSync(meta)) return undefined
  return /^cluster\.id=(.+)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim()
}

/** A KRaft cluster id: 16 random bytes in base64url, as `kafka-storage random-uuid` makes (never starting with "-"). */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

function runJava(java: string, args: string[]): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(java, args, {stdio: ['ignore', 'pipe', 'pipe']})
    let output = ''
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-100_000)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (code === 0) resolveRun()
      else {
        reject(
          new UnavailableError(
            'KAFKA_FORMAT_FAILED',
            `Formatting Kafka's storage failed (${signal ?? `exit ${code}`}):\n${withoutChatter(output)}`,
          ),
        )
      }
    })
  })
}

/** Drops the INFO lines and the settings dump that bury the reason a Kafka tool failed. */
function withoutChatter(output: string): string {
  return output
    .split('\n')
    .filter((line) => !/^\[[^\]]*\] INFO /.test(line) && !/^\t[\w.-]+ = /.test(line))
    .join('\n')
    .trim()
    .slice(-4000)
}

function logTail(logFile: string, lines = 40): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no broker log)'
  }
}
