import {CATALOGUE_TABLE, FUNNEL_WALKS_TABLE, ORDERS_CACHE_TABLE, SESSION_PARTS_TABLE} from '../analytics/sessions.js'
import type {Engine} from '../engine/engine.js'
import {DataError} from '../errors.js'
import {readSnapshot, type Snapshot} from '../lake/delta-log.js'
import {EVENTS_TABLE, tablePath} from '../lake/lake.js'
import type {ExtractSource, ExtractTableStats} from '../shop/extract-source.js'
import {
  CUSTOMERS_VIEW_SQL,
  latestTimeOf,
  markShopTable,
  ORDER_ITEMS_VIEW_SQL,
  registerDeadLetters,
  type ShopViews,
} from '../shop/views.js'
import type {TrinoClient, TrinoQueryStats} from '../trino/client.js'
import {eventsTableName} from '../trino/settings.js'
import {assertSameTable} from '../trino/table-location.js'
import {type LocalColumn, RowLoader} from './load-rows.js'
import {
  catalogueSql,
  copiesSql,
  funnelWalksSql,
  latestTimeSql,
  ordersSql,
  sessionPartsSql,
  type TrinoPin,
} from './trino-sql.js'

const TIME = 'TIMESTAMPTZ'

/**
 * Each table Trino fills: its columns with the DuckDB types the DuckDB path gives them (test/engine-trino.test.ts
 * compares the two), and the query, whose select list is in the same order.
 */
const TABLES: Record<string, {columns: LocalColumn[]; sql: (pin: TrinoPin) => string}> = {
  [ORDERS_CACHE_TABLE]: {
    sql: ordersSql,
    columns: columns(
      'order_id VARCHAR, customer_id VARCHAR, session_id VARCHAR, order_time TIMESTAMPTZ, order_date DATE, device VARCHAR, ip_country VARCHAR, billing_country VARCHAR, shipping_country VARCHAR, payment_method VARCHAR, card_fingerprint VARCHAR, currency VARCHAR, items STRUCT(product_id VARCHAR, quantity INTEGER, unit_price DECIMAL(12,2))[], units INTEGER, total DECIMAL(12,2), refunded DECIMAL(38,2), net_total DECIMAL(38,2), refund_count BIGINT, chargeback BOOLEAN',
    ),
  },
  [SESSION_PARTS_TABLE]: {
    sql: sessionPartsSql,
    columns: columns(
      `session_id VARCHAR, customer_id VARCHAR, device VARCHAR, ip_country VARCHAR, first_seen ${TIME}, last_seen ${TIME}, visit_start ${TIME}, converted BOOLEAN, first_2 ${TIME}, last_2 ${TIME}, first_3 ${TIME}, last_3 ${TIME}, first_4 ${TIME}, last_4 ${TIME}, first_5 ${TIME}, last_5 ${TIME}`,
    ),
  },
  [CATALOGUE_TABLE]: {sql: catalogueSql, columns: columns('product_id VARCHAR, category VARCHAR')},
  [FUNNEL_WALKS_TABLE]: {sql: funnelWalksSql, columns: columns('session_id VARCHAR, funnel_step INTEGER')},
}

function columns(list: string): LocalColumn[] {
  // Split on the commas between columns, not those inside a type such as DECIMAL(12,2) or STRUCT(...).
  const parts: string[] = []
  let depth = 0
  let current = ''
  for (const ch of list) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      parts.push(current.trim())
      current = ''
    } else current += ch
  }
  parts.push(current.trim())
  return parts.map((part) => {
    const space = part.indexOf(' ')
    return {name: part.slice(0, space), type: part.slice(space + 1)}
  })
}

/**
 * The extract step on Trino: the events table registered there (catalog.schema.table of the settings) must be the
 * lake's own, which each run checks. The snapshot version and the as-of day are decided here from the Delta log, as
 * the DuckDB path decides them, and every query reads that version; only the summaries come back.
 */
export class TrinoExtractSource implements ExtractSource {
  readonly engine = 'trino' as const
  readonly stats: ExtractTableStats[] = []
  private pin?: TrinoPin

  constructor(private readonly client: TrinoClient) {}

  async registerShop(engine: Engine, lake: string, options: {asOf?: string}): Promise<ShopViews> {
    const eventsPath = tablePath(lake, EVENTS_TABLE)
    const snapshot = await readSnapshot(eventsPath, {engine})
    await assertSameTable(this.client, eventsPath)
    const table = eventsTableName(this.client.settings)
    const latestTime = latestTimeOf(snapshot) ?? (await this.latestScanned(table, snapshot.version))
    const latestDay = latestTime?.slice(0, 10)
    const asOf = options.asOf ?? latestDay
    if (!asOf) {
      throw new DataError('LAKE_EMPTY', `The events table in ${lake} has no rows yet.`, {
        hints: ['ecap generate --to lake', 'ecap ingest --until-caught-up'],
      })
    }
    const pin: TrinoPin = {
      table,
      version: snapshot.version,
      cutDay: nextDay(asOf),
      // The rule of registerShopViews, so both engines keep the same events (those without a time included).
      cutsNothing: latestDay !== undefined && latestDay <= asOf,
      columns: columnOrder(snapshot),
      hasCopies: false,
    }
    let duplicateEvents = 0
    const check = await this.client.query(copiesSql(pin), (rows) => {
      duplicateEvents = Number(rows[0]?.[0] ?? 0)
    })
    // Not a table, but its scan of every event_id is part of what the extract cost.
    this.stats.push({table: '(copies check)', ...statsOf(check, check.querySeconds + check.transferSeconds)})
    this.pin = {...pin, hasCopies: duplicateEvents > 0}
    // What an earlier registration on this engine (a DuckDB one, say) left would be read instead of the extract.
    for (const view of ['events', 'duplicate_events', '__cut_events', '__lake_events']) {
      await engine.run(`DROP VIEW IF EXISTS ${view}`)
    }
    await this.fill(engine, ORDERS_CACHE_TABLE)
    markShopTable(engine, ORDERS_CACHE_TABLE)
    await engine.run(`CREATE OR REPLACE TEMP VIEW orders AS SELECT * FROM ${ORDERS_CACHE_TABLE}`)
    await engine.run(`CREATE OR REPLACE TEMP VIEW order_items AS ${ORDER_ITEMS_VIEW_SQL}`)
    await engine.run(`CREATE OR REPLACE TEMP VIEW customers AS ${CUSTOMERS_VIEW_SQL}`)
    await registerDeadLetters(engine, lake)
    return {asOf, eventsVersion: snapshot.version, duplicateEvents, latestEventTime: latestTime ?? null}
  }

  provides(name: string): boolean {
    return name in TABLES
  }

  async fill(engine: Engine, name: string): Promise<void> {
    const definition = TABLES[name]
    if (!definition || !this.pin) throw new Error(`No Trino extract for ${name} before the shop views are registered`)
    const loader = await RowLoader.create(engine, name, definition.columns)
    const started = performance.now()
    const query = await this.client.query(definition.sql(this.pin), (rows) => loader.append(rows))
    await loader.finish()
    this.stats.push({table: name, ...statsOf(query, (performance.now() - started) / 1000)})
  }

  private async latestScanned(table: string, version: number): Promise<string | undefined> {
    const {rows} = await this.client.rows(latestTimeSql(table, version))
    const ms = rows[0]?.[0]
    return typeof ms === 'number' ? new Date(ms).toISOString() : undefined
  }
}

/** The day after `day` (YYYY-MM-DD), in UTC. */
function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)
}

/** The events table's columns as DuckDB's view has them: data columns in the schema's order, then partitions. */
function columnOrder(snapshot: Snapshot): TrinoPin['columns'] {
  const schema = JSON.parse(snapshot.metadata.schemaString) as {fields: {name: string; type: unknown}[]}
  const partitions = snapshot.metadata.partitionColumns
  const typeOf = (name: string) => schema.fields.find((f) => f.name === name)?.type ?? 'string'
  return [
    ...schema.fields.filter((f) => !partitions.includes(f.name)).map((f) => ({name: f.name, type: f.type})),
    ...partitions.map((name) => ({name, type: typeOf(name)})),
  ]
}

/** A query's figures; the transfer is what the whole took (`seconds`, loading included) beyond the query itself. */
function statsOf(query: TrinoQueryStats, seconds: number): Omit<ExtractTableStats, 'table'> {
  return {
    rows: query.rows,
    bytes: query.bytes,
    querySeconds: round(query.querySeconds),
    transferSeconds: round(Math.max(0, seconds - query.querySeconds)),
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000
}
