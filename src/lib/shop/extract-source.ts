import type {Engine} from '../engine/engine.js'
import type {ShopViews} from './views.js'

/** The engines that can run the extract step of the analyses. */
export const EXTRACT_ENGINES = ['duckdb', 'trino'] as const
export type ExtractEngineName = (typeof EXTRACT_ENGINES)[number]

/** What one extract table cost: the rows and bytes that came back and where the time went. */
export interface ExtractTableStats {
  /** The local table it filled. */
  table: string
  rows: number
  /** UTF-8 size of the rows as JSON text; the coordinator gzips its pages, so fewer bytes cross the network. */
  bytes: number
  /** Until the first row arrived: the remote engine's scan and aggregation. */
  querySeconds: number
  /** From the first row to the last one loaded into the local table. */
  transferSeconds: number
}

/**
 * An engine other than the local DuckDB that runs the scan-heavy step of the analyses (the *extract*) over the same
 * Delta table, and loads its summaries into local tables with the names and types the model step reads: the model
 * step never knows which engine ran. Bound to a DuckDB engine with bindExtractSource; without one, the shop views read
 * the lake in DuckDB itself.
 */
export interface ExtractSource {
  readonly engine: ExtractEngineName
  /**
   * Does what registerShopViews does in DuckDB: pins the snapshot and the as-of cut, and fills `orders` (with the
   * `order_items` and `customers` views over it). No `events` view exists afterwards: reading raw events locally
   * would defeat the point, so a step that tries fails loudly instead of reading nothing.
   */
  registerShop(engine: Engine, lake: string, options: {asOf?: string}): Promise<ShopViews>
  /** Whether it fills the local table `name` itself (cacheShopTable then asks it instead of running DuckDB SQL). */
  provides(name: string): boolean
  /** Fills the local table `name` from the pinned snapshot. */
  fill(engine: Engine, name: string): Promise<void>
  /** What every extract so far brought back, in order. */
  readonly stats: ExtractTableStats[]
}

const bound = new WeakMap<Engine, ExtractSource>()

/** Has the analyses run on `engine` take their extract from `source` (the command layer does this for --engine). */
export function bindExtractSource(engine: Engine, source: ExtractSource): void {
  bound.set(engine, source)
}

/** The source bound to `engine`, or undefined when the extract runs in this DuckDB engine. */
export function extractSourceOf(engine: Engine): ExtractSource | undefined {
  return bound.get(engine)
}

/** What the extracts of `engine` brought back since `from` (an index into its stats), for a result's --json. */
export function extractStatsSince(engine: Engine, from = 0): ExtractSummary | undefined {
  const source = bound.get(engine)
  if (!source) return undefined
  const tables = source.stats.slice(from)
  return {
    engine: source.engine,
    rows: tables.reduce((n, t) => n + t.rows, 0),
    bytes: tables.reduce((n, t) => n + t.bytes, 0),
    tables,
  }
}

/** The extract of a run as its --json shows it: the engine, and the rows and bytes that came back, per table. */
export interface ExtractSummary {
  engine: ExtractEngineName
  rows: number
  bytes: number
  tables: ExtractTableStats[]
}
