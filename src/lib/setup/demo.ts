import {existsSync, mkdirSync, readdirSync, rmSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {type AnalysisName, analyzeAll} from '../analytics/all.js'
import {runReport} from '../analytics/reports.js'
import type {EngineOpener} from '../engine/engine.js'
import {UsageError} from '../errors.js'
import {GENERATE_DEFAULTS, type GenerateResult, generateShop} from '../generate/index.js'
import {LakeSink} from '../generate/sinks/lake-sink.js'
import {isObjectStore, lakeLocation} from '../lake/location.js'
import {type LakeStorage, storageAt, storagePath} from '../lake/storage.js'

export const DEMO_DEFAULTS = {
  lake: './ecap-demo/lake',
  report: './ecap-demo/report.html',
  customers: 2000,
  days: 90,
  seed: GENERATE_DEFAULTS.seed,
} as const

/** Deletes in flight at once when --force empties a lake in an object store. */
const DELETE_BATCH = 16

/** Folders ecap itself makes at the top of a lake: a folder holding only these may be replaced with --force. */
const LAKE_ENTRIES = new Set(['events', 'dead_letters', 'analytics', 'fraud_alerts', '_staging'])

export type DemoStep = 'generate' | 'analyze' | 'report'

export interface DemoOptions {
  lake: string
  /** The HTML report to write. */
  report: string
  customers: number
  days: number
  seed: number
  /** Replace a lake that holds data already. */
  force: boolean
  /** Colour in the terminal summary. */
  color: boolean
  /** How the lake is named in the commands suggested next; omitted when it is the configured lake. */
  lakeFlag?: string
  signal?: AbortSignal
  onProgress?: (step: DemoStep, detail: string) => void
}

export interface DemoNext {
  what: string
  /** Arguments of `ecap`. */
  argv: string[]
}

export interface DemoResult {
  lake: string
  report: string
  shop: Pick<
    GenerateResult,
    | 'seed'
    | 'events'
    | 'customers'
    | 'sessions'
    | 'orders'
    | 'revenue'
    | 'refunds'
    | 'fraudOrders'
    | 'currency'
    | 'firstEventTime'
    | 'lastEventTime'
  > & {lakeVersion: number}
  asOf: string
  analyses: {analysis: AnalysisName; seconds: number; summary: string}[]
  next: DemoNext[]
  seconds: number
}

/**
 * The whole road on one machine, without Kafka: a seeded shop generated into a fresh lake (a local folder or an
 * s3:// prefix), every analysis run and saved, the summary report rendered for the terminal and as a self-contained
 * HTML page. A lake that holds data already is left alone unless `force`, and even then only if it looks like an ecap
 * lake (in a bucket, only its tables are deleted). `openEngine` opens the DuckDB sessions (the caller binds them to
 * its abort signal).
 */
export async function runDemo(
  openEngine: EngineOpener,
  options: DemoOptions,
): Promise<{result: DemoResult; summary: string}> {
  const started = performance.now()
  const lake = lakeLocation(options.lake)
  const report = resolve(options.report)
  await prepareLake(lake, options.force)

  const {generated, lakeVersion, all} = await openEngine(async (engine) => {
    options.onProgress?.('generate', `${options.customers.toLocaleString('en-US')} customers over ${options.days} days`)
    const sink = new LakeSink(engine, lake)
    const generated = await generateShop(
      {...GENERATE_DEFAULTS, seed: options.seed, customers: options.customers, days: options.days},
      {events: sink},
      {
        signal: options.signal,
        onProgress: (p) => options.onProgress?.('generate', `${p.events.toLocaleString('en-US')} events`),
      },
    )
    const lakeVersion = sink.result?.version ?? -1
    const all = await analyzeAll(engine, {lake, onProgress: (analysis) => options.onProgress?.('analyze', analysis)})
    return {generated, lakeVersion, all}
  })
  if (options.signal?.aborted) throw options.signal.reason

  options.onProgress?.('report', report)
  mkdirSync(dirname(report), {recursive: true})
  // A session of its own: the report reads the saved results as `ecap report` does, and the analyses leave working
  // tables under the names of those results.
  const summary = await openEngine(async (engine) => {
    await runReport(engine, {report: 'summary', format: 'html', output: report, lake, color: false})
    return (await runReport(engine, {report: 'summary', format: 'table', lake, color: options.color})).text
  })

  const g = generated
  return {
    result: {
      lake,
      report,
      shop: {
        seed: g.seed,
        events: g.events,
        customers: g.customers,
        sessions: g.sessions,
        orders: g.orders,
        revenue: g.revenue,
        refunds: g.refunds,
        fraudOrders: g.fraudOrders,
        currency: g.currency,
        firstEventTime: g.firstEventTime,
        lastEventTime: g.lastEventTime,
        lakeVersion,
      },
      asOf: all.asOf,
      analyses: all.runs.map(({analysis, seconds, summary}) => ({analysis, seconds, summary})),
      next: nextSteps(options.lakeFlag),
      seconds: Math.round((performance.now() - started) / 100) / 10,
    },
    summary,
  }
}

/** Commands worth trying on the demo lake; each is run by the tests, so the advice keeps working. */
export function nextSteps(lakeFlag?: string): DemoNext[] {
  const lake = lakeFlag ? ['--lake', lakeFlag] : []
  return [
    {what: 'Customers by RFM segment, as bars', argv: ['report', 'rfm', ...lake]},
    {what: 'The orders fraud scoring flagged, riskiest first', argv: ['report', 'fraud', '--top', '10', ...lake]},
    {
      what: 'Your own SQL over the lake (events, orders, order_items, customers, every analysis)',
      argv: [
        'query',
        'SELECT order_date, count(*) AS orders, round(sum(net_total), 2) AS revenue FROM orders GROUP BY 1 ORDER BY 1 DESC LIMIT 7',
        ...lake,
      ],
    },
    {
      what: 'Customers at risk of leaving, as a CSV file for a campaign',
      argv: ['report', 'rfm', '--segment', 'at risk', '--format', 'csv', '-o', 'at-risk.csv', ...lake],
    },
  ]
}

async function prepareLake(lake: string, force: boolean): Promise<void> {
  let entries: string[]
  if (isObjectStore(lake)) {
    const storage = storageAt(lake)
    // A missing bucket or refused credentials say so here, before anything is generated.
    await storage.prepare()
    entries = (await storage.list('')).map((entry) => entry.name)
  } else {
    if (!existsSync(lake)) return
    if (!statSync(lake).isDirectory()) {
      throw new UsageError('DEMO_LAKE_NOT_A_FOLDER', `${lake} is a file, not a lake folder.`, {
        hints: ['--lake ./ecap-demo/lake'],
      })
    }
    entries = readdirSync(lake)
  }
  if (entries.length === 0) return
  if (!force) {
    throw new UsageError('DEMO_LAKE_NOT_EMPTY', `${lake} holds data already; the demo writes a fresh lake.`, {
      hints: [`ecap demo --force   (deletes ${lake} and writes the demo there)`, 'ecap demo --lake ./another-folder'],
    })
  }
  // --force deletes: only what is recognisably a lake, never a home folder given by mistake.
  const foreign = entries.filter((name) => !LAKE_ENTRIES.has(name) && !name.startsWith('.'))
  if (foreign.length > 0) {
    throw new UsageError(
      'DEMO_LAKE_FOREIGN',
      `${lake} holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}, which no ecap lake has; --force will not delete it.`,
      {
        hints: [
          'ecap demo --lake ./ecap-demo/lake',
          'Empty or remove that folder yourself if it is really meant to go.',
        ],
      },
    )
  }
  if (!isObjectStore(lake)) {
    rmSync(lake, {recursive: true, force: true})
    return
  }
  // In a bucket, the prefix may be shared with what is not ecap's, and a folder named like a lake's may hold a
  // stranger's objects: only Delta tables (folders with a _delta_log) go, and anything else under those names stops it.
  const storage = storageAt(lake)
  const {tables, strangers} = await lakeTables(storage, entries)
  if (strangers.length > 0) {
    throw new UsageError(
      'DEMO_LAKE_FOREIGN',
      `${lake} holds ${strangers.slice(0, 3).join(', ')}${strangers.length > 3 ? ', ...' : ''}, which is not an ecap table; --force will not delete it.`,
      {
        hints: [
          'ecap demo --lake s3://bucket/another-prefix',
          'Move or delete those objects yourself if they are really meant to go.',
        ],
      },
    )
  }
  for (const table of tables) await deleteTree(storage, table)
}

/**
 * The Delta tables among a lake's top-level `entries` (events, dead letters, fraud alerts, and each analytics/<name>),
 * and what sits under those names without being a table (a file, a folder with no _delta_log).
 */
async function lakeTables(storage: LakeStorage, entries: string[]): Promise<{tables: string[]; strangers: string[]}> {
  const tables: string[] = []
  const strangers: string[] = []
  const isTable = async (dir: string) => (await storage.list(dir)).some((e) => e.folder && e.name === '_delta_log')
  for (const name of entries.filter((n) => LAKE_ENTRIES.has(n))) {
    if (name === 'analytics') {
      for (const entry of await storage.list(name)) {
        const dir = storagePath(name, entry.name)
        if (entry.folder && (await isTable(dir))) tables.push(dir)
        else strangers.push(dir)
      }
    } else if (name !== '_staging' && (await isTable(name))) tables.push(name)
    else strangers.push(name)
  }
  return {tables, strangers}
}

/** Deletes every object under `dir` of an object store (a folder there is only a prefix of its objects). */
async function deleteTree(storage: LakeStorage, dir: string): Promise<void> {
  const entries = await storage.list(dir)
  const files = entries.filter((entry) => !entry.folder).map((entry) => storagePath(dir, entry.name))
  for (let i = 0; i < files.length; i += DELETE_BATCH) {
    await Promise.all(files.slice(i, i + DELETE_BATCH).map((file) => storage.delete(file)))
  }
  for (const entry of entries) if (entry.folder) await deleteTree(storage, storagePath(dir, entry.name))
}
