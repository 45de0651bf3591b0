import {statSync} from 'node:fs'
import {relative, sep} from 'node:path'
import type {Json} from '@duckdb/node-api'
import type {Engine} from '../engine/engine.js'
import {sqlIdentifier, sqlString} from '../engine/sql.js'
import {EVENT_COLUMNS} from '../events/columns.js'
import type {AddAction} from './delta-log.js'
import {EVENTS_PARTITION_COLUMN} from './delta-schema.js'

/** DuckDB's read_json column map for the contract, so every value is parsed to its contract type. */
function jsonColumns(): string {
  return `{${EVENT_COLUMNS.map((c) => `${sqlString(c.name)}: ${sqlString(c.duckdbType)}`).join(', ')}}`
}

/** Top-level columns whose min/max go into Delta stats (nested columns are skipped, as Delta allows). */
const STAT_COLUMNS = new Map(EVENT_COLUMNS.filter((c) => !c.duckdbType.endsWith('[]')).map((c) => [`"${c.name}"`, c]))

/**
 * Writes the events of one NDJSON file into the table folder as Parquet, one or more files per event_date partition,
 * and returns the Delta `add` actions for them (not yet committed: until then no reader sees the files).
 * DuckDB parses the JSON into contract types, writes zstd Parquet (timestamps as UTC microseconds, order lines as a
 * list of structs) and reports each file's row count and column statistics, which become the Delta stats.
 */
export async function writeEventFiles(engine: Engine, ndjsonPath: string, tablePath: string): Promise<AddAction[]> {
  const columns = EVENT_COLUMNS.map((c) => sqlIdentifier(c.name)).join(', ')
  const sql = `COPY (
      SELECT ${columns}, CAST(event_time AS DATE) AS ${sqlIdentifier(EVENTS_PARTITION_COLUMN)}
      FROM read_json(${sqlString(ndjsonPath)}, format = 'newline_delimited', columns = ${jsonColumns()})
    ) TO ${sqlString(tablePath)} (
      FORMAT parquet, COMPRESSION zstd, PARTITION_BY (${sqlIdentifier(EVENTS_PARTITION_COLUMN)}),
      FILENAME_PATTERN 'part-{uuid}', APPEND true, RETURN_STATS true, ROW_GROUP_SIZE 122880
    )`
  // Rows within a partition file need no particular order; letting DuckDB drop it parallelises the write.
  await engine.run('SET preserve_insertion_order = false')
  try {
    const rows = await engine.rows(sql)
    return rows.map((row) => toAddAction(row, tablePath))
  } finally {
    await engine.run('RESET preserve_insertion_order')
  }
}

function toAddAction(row: Record<string, Json>, tablePath: string): AddAction {
  const file = String(row.filename)
  const path = relative(tablePath, file).split(sep).map(encodePathSegment).join('/')
  const partitionValues: Record<string, string | null> = {}
  for (const {key, value} of (row.partition_keys ?? []) as {key: string; value: string}[]) partitionValues[key] = value
  return {
    path,
    partitionValues,
    size: Number(row.file_size_bytes),
    modificationTime: Math.floor(statSync(file).mtimeMs),
    dataChange: true,
    stats: statsFromCopy(row),
  }
}

/** Delta per-file stats (numRecords, minValues, maxValues, nullCount) from one row of DuckDB's COPY RETURN_STATS. */
export function statsFromCopy(row: Record<string, Json>): string {
  const stats = {
    numRecords: Number(row.count),
    minValues: {} as Record<string, string | number>,
    maxValues: {} as Record<string, string | number>,
    nullCount: {} as Record<string, number>,
  }
  for (const {key, value} of (row.column_statistics ?? []) as {key: string; value: {key: string; value: string}[]}[]) {
    const column = STAT_COLUMNS.get(key)
    if (!column) continue
    const s = Object.fromEntries(value.map((e) => [e.key, e.value]))
    if (s.null_count !== undefined) stats.nullCount[column.name] = Number(s.null_count)
    if (s.min !== undefined && s.max !== undefined) {
      stats.minValues[column.name] = statValue(column.duckdbType, s.min)
      stats.maxValues[column.name] = statValue(column.duckdbType, s.max)
    }
  }
  return JSON.stringify(stats)
}

/** Delta stats hold numbers as JSON numbers and timestamps as ISO 8601 UTC with milliseconds. */
function statValue(duckdbType: string, text: string): string | number {
  if (duckdbType === 'INTEGER' || duckdbType === 'BIGINT' || duckdbType.startsWith('DECIMAL')) return Number(text)
  if (duckdbType === 'TIMESTAMPTZ') return new Date(text.replace(' ', 'T').replace(/\+00$/, 'Z')).toISOString()
  return text
}

/** Delta paths are relative URIs: escape each segment but keep the `=` of hive-style partition folders. */
function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replaceAll('%3D', '=')
}
