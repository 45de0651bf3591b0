import {existsSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {type ResolveConfigOptions, type ResolvedConfig, resolveConfig} from '../config/resolve.js'
import type {EngineOpener} from '../engine/engine.js'
import {EcapError, ExitCode, InterruptedError, toEcapError, UnavailableError} from '../errors.js'
import {extractEngineOf} from '../extract/open-source.js'
import {parseBrokers} from '../kafka/client.js'
import {kafkaClient} from '../kafka/kafkajs-client.js'
import {connectionFromConfig} from '../kafka/settings.js'
import type {ClusterAdmin} from '../kafka/types.js'
import {readSnapshot} from '../lake/delta-log.js'
import {EVENTS_TABLE, rowsOf, stagingFolder, tablePath} from '../lake/lake.js'
import {isObjectStore, lakeLocation, relativeLocation, s3Parts} from '../lake/location.js'
import {type S3Settings, s3Settings} from '../lake/s3-client.js'
import {EXTENSIONS_ENV} from '../lake/s3-engine.js'
import {findTables} from '../lake/status.js'
import {type LakeStorage, storageAt} from '../lake/storage.js'
import {dataFiles} from '../lake/vacuum.js'
import {TrinoClient} from '../trino/client.js'
import {trinoSettingsFromConfig} from '../trino/settings.js'
import {catalogConnector, registeredLocation, sameLocation} from '../trino/table-location.js'

export const MIN_NODE_MAJOR = 20

/** ok ✓, warn ! (works, but look), fail ✗, skip - (not checked because an earlier check failed). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface DoctorCheck {
  /** node, config, kafka, topic, lake, lake:<table>, trino, trino-table, duckdb */
  name: string
  status: CheckStatus
  detail: string
  /** What to do about a warning or failure: literal commands, flags or env vars. */
  hints: string[]
  /** The exit code this check's failure stands for (set on fail only). */
  exitCode?: number
  data?: Record<string, unknown>
}

export interface DoctorResult {
  /** 0 when nothing needed is broken; else 2 (config), 3 (lake corrupt), 4 (Kafka or Trino unreachable), 1 (DuckDB). */
  exitCode: number
  checks: DoctorCheck[]
}

export interface DoctorOptions {
  /** How to resolve the settings (flags, env, working directory, user config dir). */
  config: ResolveConfigOptions
  env?: NodeJS.ProcessEnv
  /** Per connection attempt to a broker. */
  kafkaTimeoutMs?: number
  /** Per query to the Trino server (a query is planned and scheduled: slower than a broker's hello). */
  trinoTimeoutMs?: number
  nodeVersion?: string
  /** Called as each check completes, so a command can print lines as they come. */
  onCheck?: (check: DoctorCheck) => void
  /** Opens the DuckDB session of the `duckdb` check (the caller binds it to its abort signal). */
  openEngine: EngineOpener
}

/** A failed check's exit code, the most urgent for a person first: a config to fix, data to repair, then retry. */
const EXIT_PRIORITY = [ExitCode.usage, ExitCode.data, ExitCode.unavailable, ExitCode.unexpected]

/**
 * Checks what ecap needs, one check at a time: Node, the config, Kafka and the topic, the lake's tables and
 * staging area, and DuckDB. Nothing is written and nothing is consumed. A missing topic or lake is a warning
 * (ecap creates both); an unreachable broker (4), a corrupt table (3) or an invalid config (2) sets the exit code.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorResult> {
  const env = options.env ?? options.config.env ?? process.env
  const checks: DoctorCheck[] = []
  const add = (check: DoctorCheck) => {
    checks.push(check)
    options.onCheck?.(check)
  }

  add(checkNode(options.nodeVersion ?? process.versions.node))

  const {check: configCheck, config} = checkConfig(options.config)
  add(configCheck)

  if (config) {
    for (const check of await checkKafka(config, env, options.kafkaTimeoutMs ?? 3000)) add(check)
    for (const check of await checkLake(config.lake.value, options.openEngine)) add(check)
    if (trinoWanted(config)) {
      for (const check of await checkTrino(config, env, options.trinoTimeoutMs ?? 10_000)) add(check)
    }
  } else {
    const skipped = 'not checked: fix the config first'
    for (const name of ['kafka', 'topic', 'lake']) add({name, status: 'skip', detail: skipped, hints: []})
  }

  add(await checkDuckDb(options.openEngine))

  const failed = new Set(checks.filter((c) => c.status === 'fail').map((c) => c.exitCode ?? ExitCode.unexpected))
  const exitCode = EXIT_PRIORITY.find((code) => failed.has(code)) ?? ExitCode.ok
  return {exitCode, checks}
}

export function checkNode(version: string): DoctorCheck {
  const major = Number(version.split('.')[0])
  return major >= MIN_NODE_MAJOR
    ? {name: 'node', status: 'ok', detail: `v${version}`, hints: []}
    : {
        name: 'node',
        status: 'fail',
        detail: `v${version}; ecap needs Node.js ${MIN_NODE_MAJOR} or newer`,
        hints: ['Install a current LTS release of Node.js, e.g. with nvm: nvm install --lts'],
        exitCode: ExitCode.usage,
      }
}

function checkConfig(options: ResolveConfigOptions): {check: DoctorCheck; config?: ResolvedConfig} {
  let config: ResolvedConfig
  try {
    config = resolveConfig(options)
    // A lake URL ecap cannot use (gs://, s3:/bucket) is a config error, as in every other command.
    lakeLocation(config.lake.value)
    parseBrokers(config.brokers.value)
    // Throws on a bad tls value, an unknown SASL mechanism or a SASL setup without user or password.
    connectionFromConfig(config, options.env ?? process.env)
    // An engine ecap does not know (ECAP_ENGINE=spark) fails every analysis.
    extractEngineOf(config)
  } catch (error) {
    return {check: failure('config', error, ExitCode.usage)}
  }
  const sasl = config['sasl-mechanism'].value !== ''
  const shown = Object.entries(config).filter(
    ([key, v]) => (v.value !== '' || v.source !== 'default') && (sasl || !key.startsWith('sasl-')),
  )
  const detail = shown
    .map(([key, {value, source, origin}]) => `${key}=${value} (${source}${origin ? ` ${origin}` : ''})`)
    .join(', ')
  return {check: {name: 'config', status: 'ok', detail, hints: [], data: {settings: config}}, config}
}

/** Connects to the configured brokers and looks up the topic: a `kafka` and a `topic` check. */
export async function checkKafka(
  config: ResolvedConfig,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<DoctorCheck[]> {
  const brokers = config.brokers.value
  const topic = config.topic.value
  const skippedTopic: DoctorCheck = {name: 'topic', status: 'skip', detail: `${topic}: not checked`, hints: []}
  let admin: ClusterAdmin
  try {
    const connection = connectionFromConfig(config, env)
    admin = kafkaClient(
      {...connection, clientId: 'ecap-doctor', retries: 1, connectionTimeoutMs: timeoutMs},
      env,
    ).admin()
  } catch (error) {
    return [failure('kafka', error, ExitCode.usage), skippedTopic]
  }
  try {
    try {
      await admin.connect()
    } catch (error) {
      const sasl = /sasl|authenticat/i.test(`${(error as Error).name} ${(error as Error).message}`)
      return [
        {
          name: 'kafka',
          status: 'fail',
          detail: `${brokers} is not reachable: ${(error as Error).message}`,
          hints: sasl
            ? ['Check sasl-username and the password (ecap config show names where they come from).']
            : [
                'Check brokers (--brokers, ECAP_BROKERS or ecap.config.json) and that they are up.',
                'For a local broker: npm run kafka:dev',
              ],
          exitCode: sasl ? ExitCode.usage : ExitCode.unavailable,
        },
        skippedTopic,
      ]
    }
    const cluster = await admin.describeCluster()
    const kafka: DoctorCheck = {
      name: 'kafka',
      status: 'ok',
      detail: `${brokers}: ${cluster.brokers.length} broker${cluster.brokers.length === 1 ? '' : 's'}, controller ${cluster.controller ?? '-'}`,
      hints: [],
      data: {brokers: cluster.brokers.map((b) => `${b.host}:${b.port}`), clusterId: cluster.clusterId},
    }
    const topics = await admin.listTopics()
    if (!topics.includes(topic)) {
      return [
        kafka,
        {
          name: 'topic',
          status: 'warn',
          detail: `${topic} does not exist yet`,
          hints: [
            'ecap generate --to kafka creates it, or create it with your Kafka tools.',
            'Or point at another topic: --topic NAME, ECAP_TOPIC, "topic" in ecap.config.json',
          ],
          data: {topic, exists: false},
        },
      ]
    }
    const metadata = await admin.fetchTopicMetadata({topics: [topic]})
    const partitions = metadata.topics[0]?.partitions.length ?? 0
    return [
      kafka,
      {
        name: 'topic',
        status: 'ok',
        detail: `${topic}: ${partitions} partition${partitions === 1 ? '' : 's'}`,
        hints: [],
        data: {topic, exists: true, partitions},
      },
    ]
  } catch (error) {
    return [failure('kafka', error, ExitCode.unavailable), skippedTopic]
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

async function checkLake(lake: string, openEngine: EngineOpener): Promise<DoctorCheck[]> {
  const root = lakeLocation(lake)
  const store = isObjectStore(root) ? await checkStore(root, openEngine) : []
  if (store.some((c) => c.status === 'fail')) {
    return [...store, {name: 'lake', status: 'skip', detail: `${root}: not checked: the store comes first`, hints: []}]
  }
  const missing = isObjectStore(root) ? await lakeMissingInStore(root) : lakeMissingOnDisk(root)
  if (missing) return [...store, missing]
  let tables: string[]
  try {
    tables = await findTables(root)
  } catch (error) {
    return [...store, failure('lake', error, ExitCode.data)]
  }
  // One line for the lake; a line of its own only for a table that needs a look.
  const problems: DoctorCheck[] = []
  const summaries: TableHealth[] = []
  for (const table of tables) {
    const name = relativeLocation(root, table) ?? table
    try {
      // A table with a checkpoint needs DuckDB to read it; a session of its own per table keeps one failure to one line.
      const snapshot = await openEngine((engine) => readSnapshot(table, {engine}), {threads: 1, memoryLimit: '256MB'})
      const live = [...snapshot.files.values()]
      const known = new Set<string>()
      for (const path of snapshot.files.keys()) known.add(decodeURIComponent(path))
      for (const path of snapshot.tombstones.keys()) known.add(decodeURIComponent(path))
      const orphans: string[] = []
      for await (const file of dataFiles(storageAt(table), '')) if (!known.has(file)) orphans.push(file)
      const health: TableHealth = {
        table: name,
        version: snapshot.version,
        files: live.length,
        rows: live.reduce((sum, f) => sum + rowsOf(f), 0),
        orphanFiles: orphans.length,
      }
      summaries.push(health)
      if (orphans.length > 0) {
        problems.push({
          name: `lake:${name}`,
          status: 'warn',
          detail: `${orphans.length} data files no commit references (a running writer's, or left by a crash)`,
          hints: ['ecap lake vacuum removes them once they are older than its --retain.'],
          data: {...health},
        })
      }
    } catch (error) {
      // Ctrl-C or SIGTERM (a health check's timeout) says nothing about the table: the run stops, exit 130.
      if (error instanceof InterruptedError) throw error
      problems.push(failure(`lake:${name}`, error, ExitCode.data))
    }
  }
  // Staging folders are local whatever the lake: in a local lake, or under $TMPDIR for one in a store.
  const stagingDir = stagingFolder(root)
  const staging = orphanStaging(stagingDir)
  const corrupt = problems.some((c) => c.status === 'fail')
  const events = summaries.find((t) => t.table === EVENTS_TABLE)
  const parts = [root]
  if (events) {
    parts.push(
      `events v${events.version} (${events.rows.toLocaleString('en-US')} rows in ${events.files.toLocaleString('en-US')} files)`,
    )
  }
  const analyses = summaries.filter((t) => t.table.startsWith('analytics/')).length
  if (analyses > 0) parts.push(`${analyses} analysis tables`)
  const others = summaries
    .filter((t) => t !== events && !t.table.startsWith('analytics/'))
    .map((t) => `${t.table} v${t.version}`)
  if (others.length > 0) parts.push(others.join(', '))
  if (corrupt) parts.push(`${problems.filter((c) => c.status === 'fail').length} unreadable`)
  if (staging.length > 0) parts.push(`${staging.length} staging folders of writers no longer running`)
  const summary: DoctorCheck = {
    name: 'lake',
    status: corrupt ? 'fail' : staging.length > 0 || problems.length > 0 ? 'warn' : 'ok',
    detail: parts.join(', '),
    hints: staging.length > 0 ? [`Remove them: rm -r ${staging.map((d) => join(stagingDir, d)).join(' ')}`] : [],
    data: {lake: root, exists: true, tables: summaries, orphanStaging: staging},
  }
  if (corrupt) {
    summary.exitCode = ExitCode.data
  } else if (tables.length === 0) {
    summary.status = 'warn'
    summary.detail = `${root} holds no Delta table yet`
    summary.hints.push('ecap generate --to lake or ecap ingest writes the events table.')
  }
  return [...store, summary, ...problems]
}

/** A local lake folder that is not there yet (a warning: ecap creates it), or a file where the folder should be. */
function lakeMissingOnDisk(root: string): DoctorCheck | undefined {
  if (!existsSync(root)) {
    return {
      name: 'lake',
      status: 'warn',
      detail: `${root} does not exist yet`,
      hints: [
        'ecap demo, ecap generate --to lake or ecap ingest creates it.',
        'Or point at a lake: --lake PATH, ECAP_LAKE',
      ],
      data: {lake: root, exists: false},
    }
  }
  if (!statSync(root).isDirectory()) {
    return {
      name: 'lake',
      status: 'fail',
      detail: `${root} is a file, not a lake folder`,
      hints: ['Point at the lake folder: --lake PATH, ECAP_LAKE'],
      exitCode: ExitCode.usage,
    }
  }
  return undefined
}

/** A lake in a store exists once an object lies under its prefix (an object store has no empty folders). */
async function lakeMissingInStore(root: string): Promise<DoctorCheck | undefined> {
  try {
    if ((await storageAt(root).list('')).length > 0) return undefined
  } catch (error) {
    return failure('lake', error, ExitCode.unavailable)
  }
  return {
    name: 'lake',
    status: 'warn',
    detail: `${root} holds nothing yet`,
    hints: [
      `ecap generate --to lake --lake ${root}, ecap import or ecap ingest writes its tables.`,
      'Or point at a lake: --lake s3://bucket/prefix, ECAP_LAKE',
    ],
    data: {lake: root, exists: false},
  }
}

/**
 * The store of an `s3://` lake, as ecap will use it: the settings (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP), the bucket
 * answering to these credentials (`store`), and DuckDB's httpfs extension, which reads the tables' Parquet files
 * (`httpfs`). A missing bucket or refused credentials are the user's to fix (2), a store that does not answer may
 * come back (4).
 */
async function checkStore(root: string, openEngine: EngineOpener): Promise<DoctorCheck[]> {
  let settings: S3Settings
  let storage: LakeStorage
  try {
    settings = s3Settings()
    storage = storageAt(root)
    await storage.prepare()
  } catch (error) {
    if (error instanceof InterruptedError) throw error
    return [
      failure('store', error, ExitCode.unavailable),
      {name: 'httpfs', status: 'skip', detail: 'not checked: the store comes first', hints: []},
    ]
  }
  const {bucket} = s3Parts(root)
  const where = settings.endpoint ? settings.endpoint.href.replace(/\/$/, '') : 'AWS S3'
  const store: DoctorCheck = {
    name: 'store',
    status: 'ok',
    detail: `bucket ${bucket} at ${where}${settings.region ? ` (${settings.region})` : ''} accepts the credentials`,
    hints: [],
    data: {
      bucket,
      endpoint: settings.endpoint?.href ?? null,
      region: settings.region ?? null,
      pathStyle: settings.pathStyle,
    },
  }
  try {
    await openEngine((engine) => storage.attach(engine), {threads: 1, memoryLimit: '256MB'})
  } catch (error) {
    if (error instanceof InterruptedError) throw error
    return [store, failure('httpfs', error, ExitCode.usage)]
  }
  const folder = process.env[EXTENSIONS_ENV]
  return [
    store,
    {
      name: 'httpfs',
      status: 'ok',
      detail: `DuckDB's httpfs extension loads${folder ? ` (from ${EXTENSIONS_ENV}=${folder})` : ''}`,
      hints: [],
    },
  ]
}

/** The Trino lines are for a setup that uses Trino: the engine set to trino, or a server named for it. */
function trinoWanted(config: ResolvedConfig): boolean {
  return extractEngineOf(config) === 'trino' || config['trino-url'].value.trim() !== ''
}

/**
 * The Trino server of --engine trino and the events table on it: a `trino` check (the settings, and the server
 * answering a query: exit 4 when it does not, 2 when it refuses the user) and a `trino-table` check (the catalog, the
 * schema and the table exist, and the table reads this lake's events: exit 2 with the fix when not). Nothing is
 * registered here: that is `ecap lake register --engine trino`.
 */
export async function checkTrino(
  config: ResolvedConfig,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<DoctorCheck[]> {
  const skippedTable: DoctorCheck = {
    name: 'trino-table',
    status: 'skip',
    detail: 'not checked: the server comes first',
    hints: [],
  }
  let client: TrinoClient
  try {
    client = new TrinoClient(trinoSettingsFromConfig(config, env))
  } catch (error) {
    return [failure('trino', error, ExitCode.usage), skippedTable]
  }
  const {url, user, catalog, schema, table} = client.settings
  const answer = <R>(work: Promise<R>) => withinTime(work, timeoutMs, url)
  let version: string
  try {
    const {rows} = await answer(client.rows('SELECT version()'))
    version = String(rows[0]?.[0] ?? '?')
  } catch (error) {
    const check = failure('trino', error, ExitCode.unavailable)
    // The client's advice to run `ecap doctor` is where the person already is.
    check.hints = check.hints.filter((hint) => hint !== 'ecap doctor')
    return [check, skippedTable]
  }
  const server: DoctorCheck = {
    name: 'trino',
    status: 'ok',
    detail: `${url}: Trino ${version}, user ${user}`,
    hints: [],
    data: {url, version, user},
  }
  const name = `${catalog}.${schema}.${table}`
  const eventsPath = tablePath(config.lake.value, EVENTS_TABLE)
  let location: string
  try {
    await answer(catalogConnector(client))
    location = await answer(registeredLocation(client))
  } catch (error) {
    const check = failure('trino-table', error, ExitCode.unexpected)
    if (error instanceof EcapError && error.code === 'TRINO_TABLE_MISSING') {
      check.detail = `${name} is not registered (${error.message.replace(/^Trino: (line \d+:\d+: )?/, '')})`
      check.hints = [
        `ecap lake register --engine trino --lake ${config.lake.value}${table === 'events' ? '' : ` --trino-table ${table}`}`,
        ...check.hints.filter((hint) => !hint.startsWith('ecap lake register')),
      ]
    }
    return [server, check]
  }
  const data = {table: name, location, lake: eventsPath}
  if (!sameLocation(location, eventsPath)) {
    return [
      server,
      {
        name: 'trino-table',
        status: 'fail',
        detail: `${name} reads ${location}, not this lake's ${eventsPath}`,
        hints: [
          `ecap lake register --engine trino --lake ${config.lake.value} --trino-table ${table}_2, then ECAP_TRINO_TABLE=${table}_2`,
          'ECAP_TRINO_SCHEMA / ECAP_TRINO_TABLE name the table registered over this lake',
        ],
        exitCode: ExitCode.usage,
        data,
      },
    ]
  }
  return [server, {name: 'trino-table', status: 'ok', detail: `${name} reads ${location}`, hints: [], data}]
}

/** `work`, or exit 4 when the server has not answered within `timeoutMs` (a host that drops packets never refuses). */
async function withinTime<R>(work: Promise<R>, timeoutMs: number, url: string): Promise<R> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UnavailableError('TRINO_UNREACHABLE', `Trino at ${url} did not answer within ${timeoutMs / 1000} s.`, {
            hints: ['Check that the server runs and ECAP_TRINO_URL points at its coordinator.'],
          }),
        ),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

interface TableHealth {
  table: string
  version: number
  files: number
  rows: number
  /** Data files in the table folder that no commit references. */
  orphanFiles: number
}

/** Opens a small session through the caller's opener: the check is that opening one works. */
export async function checkDuckDb(openEngine: EngineOpener): Promise<DoctorCheck> {
  try {
    const [row] = await openEngine((engine) => engine.rows('SELECT version() AS version'), {
      threads: 1,
      memoryLimit: '256MB',
    })
    return {name: 'duckdb', status: 'ok', detail: `DuckDB ${row?.version ?? '?'} loads`, hints: []}
  } catch (error) {
    if (error instanceof InterruptedError) throw error
    return failure('duckdb', error, ExitCode.unexpected)
  }
}

/** Staging folders are named <kind>-<pid>-<time>; one whose process is gone was left by a crash or a kill. */
function orphanStaging(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, {withFileTypes: true})
    .filter((entry) => {
      const pid = Number(/^[a-z]+-(\d+)-/.exec(entry.name)?.[1])
      return !(Number.isInteger(pid) && pid > 0 && processAlive(pid))
    })
    .map((entry) => entry.name)
    .sort()
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function failure(name: string, error: unknown, fallbackExit: number): DoctorCheck {
  const ecap: EcapError = error instanceof EcapError ? error : toEcapError(error)
  const exitCode = error instanceof EcapError && ecap.exitCode !== ExitCode.unexpected ? ecap.exitCode : fallbackExit
  return {name, status: 'fail', detail: ecap.message, hints: ecap.hints, exitCode}
}
