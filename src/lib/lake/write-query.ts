import {statSync} from 'node:fs'
import {relative, sep} from 'node:path'
import type {Json} from '@duckdb/node-api'
import type {Engine} from '../engine/engine.js'
import {sqlIdentifier, sqlString} from '../engine/sql.js'
import {EVENT_COLUMNS} from '../events/columns.js'
import type {AddAction} from './delta-log.js'
import {EVENTS_PARTITION_COLUMN, eventsDeltaSchema} from './delta-schema.js'
import {statKinds, statsFromCopy} from './parquet-files.js'

const EVENT_STAT_KINDS = statKinds(eventsDeltaSchema())

/**
 * Writes the rows of a DuckDB query into the events table folder as Parquet, like writeEventFiles does from NDJSON,
 * and returns the Delta `add` actions (not committed: no reader sees the files until commitAppend). The query must
 * return every contract column by name; each is cast to its contract type here, so the files match the table schema
 * whatever types the query produced. Nothing passes through JavaScript memory.
 */
export async function writeQueryEventFiles(engine: Engine, query: string, tablePath: string): Promise<AddAction[]> {
  const columns = EVENT_COLUMNS.map(
    (c) => `CAST(${sqlIdentifier(c.name)} AS ${c.duckdbType}) AS ${sqlIdentifier(c.name)}`,
  )
  const sql = `COPY (
      SELECT ${columns.join(', ')}, CAST(CAST(event_time AS TIMESTAMPTZ) AS DATE) AS ${sqlIdentifier(EVENTS_PARTITION_COLUMN)}
      FROM (${query})
    ) TO ${sqlString(tablePath)} (
      FORMAT parquet, COMPRESSION zstd, PARTITION_BY (${sqlIdentifier(EVENTS_PARTITION_COLUMN)}),
      FILENAME_PATTERN 'part-{uuid}', APPEND true, RETURN_STATS true, ROW_GROUP_SIZE 122880
    )`
  // As in writeEventFiles: rows within a partition file need no order, and dropping it parallelises the write.
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
    stats: statsFromCopy(row, EVENT_STAT_KINDS),
  }
}

/** Delta paths are relative URIs: escape each segment but keep the `=` of hive-style partition folders. */
function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replaceAll('%3D', '=')
}
