import {randomUUID} from 'node:crypto'
import type {Json} from '@duckdb/node-api'
import type {Engine} from '../engine/engine.js'
import {sqlIdentifier, sqlString, sqlStringList, utcDate} from '../engine/sql.js'
import {EVENT_COLUMNS} from '../events/columns.js'
import {failpoint} from '../failpoints.js'
import type {AddAction} from './actions.js'
import {type DeltaStruct, EVENTS_PARTITION_COLUMN, eventsDeltaSchema} from './delta-schema.js'
import {type LakeStorage, type StoredFile, storageAt} from './storage.js'

/** DuckDB's read_json column map for the contract, so every value is parsed to its contract type. */
function jsonColumns(): string {
  return `{${EVENT_COLUMNS.map((c) => `${sqlString(c.name)}: ${sqlString(c.duckdbType)}`).join(', ')}}`
}

type StatKind = 'number' | 'timestamp' | 'string'

/**
 * How each top-level column's min/max appear in Delta stats, from the table's Delta schema. Nested and binary
 * columns get no min/max (Delta allows leaving any out), but still a null count.
 */
export function statKinds(schema: DeltaStruct): Map<string, StatKind | undefined> {
  const kinds = new Map<string, StatKind | undefined>()
  for (const f of schema.fields) {
    const t = f.type
    let kind: StatKind | undefined
    if (t === 'integer' || t === 'long' || (typeof t === 'string' && t.startsWith('decimal'))) kind = 'number'
    else if (t === 'timestamp') kind = 'timestamp'
    else if (t === 'string' || t === 'date') kind = 'string'
    kinds.set(`"${f.name}"`, kind)
  }
  return kinds
}

const EVENT_STAT_KINDS = statKinds(eventsDeltaSchema())

/**
 * Writes the events of one NDJSON file (or several) into the table folder as Parquet, one or more files per event_date partition,
 * and returns the Delta `add` actions for them (not yet committed: until then no reader sees the files).
 * DuckDB parses the JSON into contract types, writes zstd Parquet (timestamps as UTC microseconds, order lines as a
 * list of structs) and reports each file's row count and column statistics, which become the Delta stats.
 */
export async function writeEventFiles(
  engine: Engine,
  ndjsonPath: string | string[],
  tablePath: string,
  options: WriteEventFilesOptions = {},
): Promise<AddAction[]> {
  // DuckDB's JSON reader gives each thread buffers of twice the largest object it accepts (16 MiB by default): a
  // writer that knows its longest line can make them much smaller.
  const objectSize = options.maxLineBytes
    ? `, maximum_object_size = ${Math.max(options.maxLineBytes + 1, 1 << 20)}`
    : ''
  return writeQueryEventFiles(
    engine,
    `SELECT * FROM read_json(${typeof ndjsonPath === 'string' ? sqlString(ndjsonPath) : sqlStringList(ndjsonPath)}, format = 'newline_delimited', columns = ${jsonColumns()}${objectSize})`,
    tablePath,
    options.codec,
  )
}

export interface WriteEventFilesOptions {
  /** The longest line of the NDJSON file in bytes, when the writer knows it. */
  maxLineBytes?: number
  /** The Parquet compression codec [default: zstd]. */
  codec?: ParquetCodec
}

/**
 * zstd makes the smallest files. snappy (Spark's default for Delta tables) costs far less CPU per file: DuckDB sets up
 * zstd for every column chunk, which dominates when a write spreads over hundreds of small per-date files.
 */
export type ParquetCodec = 'zstd' | 'snappy'

/**
 * Writes the rows of a DuckDB query into the events table folder as Parquet (see writeEventFiles) and returns their
 * `add` actions. The query must return every contract column by name; each is cast to its contract type here, so the
 * files match the table schema whatever types the query produced. Nothing passes through JavaScript memory.
 */
export async function writeQueryEventFiles(
  engine: Engine,
  query: string,
  tablePath: string,
  codec: ParquetCodec = 'zstd',
): Promise<AddAction[]> {
  const columns = EVENT_COLUMNS.map(
    (c) => `CAST(${sqlIdentifier(c.name)} AS ${c.duckdbType}) AS ${sqlIdentifier(c.name)}`,
  )
  const storage = storageAt(tablePath)
  await storage.attach(engine)
  const sql = `COPY (
      SELECT ${columns.join(', ')}, ${utcDate('CAST(event_time AS TIMESTAMPTZ)')} AS ${sqlIdentifier(EVENTS_PARTITION_COLUMN)}
      FROM (${query})
    ) TO ${sqlString(storage.locate(''))} (
      FORMAT parquet, COMPRESSION ${codec}, PARTITION_BY (${sqlIdentifier(EVENTS_PARTITION_COLUMN)}),
      FILENAME_PATTERN 'part-{uuid}', APPEND true, RETURN_STATS true, ROW_GROUP_SIZE 122880
    )`
  // Rows within a partition file need no particular order; letting DuckDB drop it parallelises the write.
  await engine.run('SET preserve_insertion_order = false')
  try {
    const rows = await engine.rows(sql)
    const paths = rows.map((row) => storage.pathOf(String(row.filename)))
    await persistDataFiles(storage, paths)
    return await Promise.all(rows.map((row, i) => toAddAction(row, storage, paths[i] as string)))
  } finally {
    await engine.run('RESET preserve_insertion_order')
  }
}

/**
 * Writes the rows of a DuckDB query as one new zstd Parquet file in an unpartitioned table's folder and returns its
 * `add` action (not yet committed, so no reader sees it) and the row count. `schema` is the table's Delta schema,
 * which says how each column's min/max go into the stats. A failed write leaves no file behind.
 */
export async function writeQueryFile(
  engine: Engine,
  query: string,
  tablePath: string,
  schema: DeltaStruct,
): Promise<{add: AddAction; rows: number}> {
  const storage = storageAt(tablePath)
  await storage.prepare()
  await storage.attach(engine)
  const name = `part-${randomUUID()}.parquet`
  try {
    const [row] = await engine.rows(
      `COPY (${query}) TO ${sqlString(storage.locate(name))} (FORMAT parquet, COMPRESSION zstd, RETURN_STATS true)`,
    )
    await persistDataFiles(storage, [name])
    const stat = await writtenFile(storage, name)
    const add: AddAction = {
      path: name,
      partitionValues: {},
      size: stat.size,
      modificationTime: Math.floor(stat.modificationTime),
      dataChange: true,
      stats: statsFromCopy(row as Record<string, Json>, statKinds(schema)),
    }
    return {add, rows: Number((row as Record<string, Json>).count)}
  } catch (error) {
    await storage.delete(name)
    throw error
  }
}

/**
 * Makes data files DuckDB's COPY wrote (`paths` within the table's storage) durable before any commit names them, so
 * that a commit surviving a power cut never names a file that did not. DuckDB itself syncs nothing it COPYs.
 */
export async function persistDataFiles(storage: LakeStorage, paths: readonly string[]): Promise<void> {
  await storage.persist(paths)
  failpoint('lake.datafiles.after')
}

/** The size and time of a data file just written; it must be there. */
export async function writtenFile(storage: LakeStorage, path: string): Promise<StoredFile> {
  const stat = await storage.stat(path)
  if (!stat) throw new Error(`DuckDB reported writing ${storage.locate(path)}, which is not there.`)
  return stat
}

async function toAddAction(row: Record<string, Json>, storage: LakeStorage, file: string): Promise<AddAction> {
  const path = file.split('/').map(encodePathSegment).join('/')
  const partitionValues: Record<string, string | null> = {}
  for (const {key, value} of (row.partition_keys ?? []) as {key: string; value: string}[]) partitionValues[key] = value
  return {
    path,
    partitionValues,
    size: Number(row.file_size_bytes),
    modificationTime: Math.floor((await writtenFile(storage, file)).modificationTime),
    dataChange: true,
    stats: statsFromCopy(row, EVENT_STAT_KINDS),
  }
}

/** Delta per-file stats (numRecords, minValues, maxValues, nullCount) from one row of DuckDB's COPY RETURN_STATS. */
export function statsFromCopy(row: Record<string, Json>, kinds: Map<string, StatKind | undefined>): string {
  const stats = {
    numRecords: Number(row.count),
    minValues: {} as Record<string, string | number>,
    maxValues: {} as Record<string, string | number>,
    nullCount: {} as Record<string, number>,
  }
  for (const {key, value} of (row.column_statistics ?? []) as {key: string; value: {key: string; value: string}[]}[]) {
    if (!kinds.has(key)) continue // a nested column ("items"."element"...) or a partition column
    const name = key.slice(1, -1)
    const kind = kinds.get(key)
    const s = Object.fromEntries(value.map((e) => [e.key, e.value]))
    if (s.null_count !== undefined) stats.nullCount[name] = Number(s.null_count)
    if (kind && s.min !== undefined && s.max !== undefined) {
      stats.minValues[name] = statValue(kind, s.min)
      stats.maxValues[name] = statValue(kind, s.max)
    }
  }
  return JSON.stringify(stats)
}

/** Delta stats hold numbers as JSON numbers and timestamps as ISO 8601 UTC with milliseconds. */
function statValue(kind: StatKind, text: string): string | number {
  if (kind === 'number') return Number(text)
  if (kind === 'timestamp') return new Date(text.replace(' ', 'T').replace(/\+00$/, 'Z')).toISOString()
  return text
}

/** Delta paths are relative URIs: escape each segment but keep the `=` of hive-style partition folders. */
function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replaceAll('%3D', '=')
}
