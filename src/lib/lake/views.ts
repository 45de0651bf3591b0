import type {Engine} from '../engine/engine.js'
import {sqlIdentifier, sqlStringList} from '../engine/sql.js'
import {DataError} from '../errors.js'
import type {AddAction} from './actions.js'
import {readSnapshot, type Snapshot} from './delta-log.js'
import {type LakeStorage, storageAt} from './storage.js'

/** The column registerTableView adds with `rowIds`: where a row lies in the snapshot (file and row in it). */
export const ROW_ID_COLUMN = '__row_id'

export interface TableViewOptions {
  /**
   * Adds ROW_ID_COLUMN, a BIGINT unique to each row of this registration (file number × 2^32 + row in the file), so a
   * caller can set chosen rows aside; views that never select it pay nothing, since DuckDB reads only columns in use.
   */
  rowIds?: boolean
}

/**
 * Registers a Delta table's current snapshot as a DuckDB view: only the files the log lists (so files of a crashed
 * writer stay invisible), with partition values taken from the log rather than from folder names.
 */
export async function registerTableView(
  engine: Engine,
  viewName: string,
  tablePath: string,
  options: TableViewOptions = {},
): Promise<Snapshot> {
  const storage = storageAt(tablePath)
  const snapshot = await readSnapshot(tablePath, {engine})
  const partitionColumns = snapshot.metadata.partitionColumns
  const files = [...snapshot.files.values()]
  await storage.attach(engine)
  await assertFilesPresent(storage, tablePath, files)
  const view = sqlIdentifier(viewName)
  if (files.length === 0) {
    // No file to take columns from: typed NULLs from the log's schema, so queries naming columns still bind.
    const rowId = options.rowIds ? `, CAST(NULL AS BIGINT) AS ${ROW_ID_COLUMN}` : ''
    await engine.run(`CREATE OR REPLACE TEMP VIEW ${view} AS SELECT ${emptyColumns(snapshot)}${rowId} WHERE false`)
    return snapshot
  }
  // One temp table maps each file to its partition values; read_parquet's filename column joins to it.
  const mapName = sqlIdentifier(`__files_${viewName}`)
  const partitionDefs = partitionColumns.map((c) => `${sqlIdentifier(c)} VARCHAR`).join(', ')
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${mapName} (file_number BIGINT, path VARCHAR${partitionDefs ? `, ${partitionDefs}` : ''})`,
  )
  const placeholders = `(${['?', '?', ...partitionColumns.map(() => '?')].join(', ')})`
  for (let i = 0; i < files.length; i += 500) {
    const batch = files.slice(i, i + 500)
    const values = batch.flatMap((add, j) => [
      i + j,
      storage.locate(decodeURIComponent(add.path)),
      ...partitionColumns.map((c) => add.partitionValues[c] ?? null),
    ])
    await engine.run(`INSERT INTO ${mapName} VALUES ${batch.map(() => placeholders).join(', ')}`, values)
  }
  const paths = files.map((add) => storage.locate(decodeURIComponent(add.path)))
  const partitionSelect = partitionColumns
    .map((c) => `TRY_CAST(f.${sqlIdentifier(c)} AS ${partitionType(snapshot, c)}) AS ${sqlIdentifier(c)}`)
    .join(', ')
  const rowId = options.rowIds ? `, f.file_number * 4294967296 + d.file_row_number AS ${ROW_ID_COLUMN}` : ''
  await engine.run(
    `CREATE OR REPLACE TEMP VIEW ${view} AS
     SELECT d.* EXCLUDE (filename${options.rowIds ? ', file_row_number' : ''})${partitionSelect ? `, ${partitionSelect}` : ''}${rowId}
     FROM read_parquet(${sqlStringList(paths)}, filename = true, hive_partitioning = false, union_by_name = true${
       options.rowIds ? ', file_row_number = true' : ''
     }) d
     JOIN ${mapName} f ON f.path = d.filename`,
  )
  return snapshot
}

function partitionType(snapshot: Snapshot, column: string): string {
  const schema = JSON.parse(snapshot.metadata.schemaString) as {fields: {name: string; type: unknown}[]}
  const type = schema.fields.find((f) => f.name === column)?.type
  if (type === 'date') return 'DATE'
  if (type === 'integer') return 'INTEGER'
  if (type === 'long') return 'BIGINT'
  return 'VARCHAR'
}

type DeltaType =
  | string
  | {type: 'array'; elementType: DeltaType}
  | {type: 'map'; keyType: DeltaType; valueType: DeltaType}
  | {type: 'struct'; fields: {name: string; type: DeltaType}[]}

const DELTA_PRIMITIVES: Record<string, string> = {
  string: 'VARCHAR',
  integer: 'INTEGER',
  long: 'BIGINT',
  short: 'SMALLINT',
  byte: 'TINYINT',
  float: 'FLOAT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  binary: 'BLOB',
  date: 'DATE',
  timestamp: 'TIMESTAMPTZ',
  timestamp_ntz: 'TIMESTAMP',
}

/** The DuckDB type a Parquet column of this Delta type reads as. */
function duckdbTypeOf(type: DeltaType): string {
  if (typeof type === 'string') {
    const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type)
    return decimal ? `DECIMAL(${decimal[1]},${decimal[2]})` : (DELTA_PRIMITIVES[type] ?? 'VARCHAR')
  }
  if (type.type === 'array') return `${duckdbTypeOf(type.elementType)}[]`
  if (type.type === 'map') return `MAP(${duckdbTypeOf(type.keyType)}, ${duckdbTypeOf(type.valueType)})`
  return `STRUCT(${type.fields.map((f) => `${sqlIdentifier(f.name)} ${duckdbTypeOf(f.type)}`).join(', ')})`
}

/** The columns of a table without files, in the order the file-backed view has them: data, then partitions. */
function emptyColumns(snapshot: Snapshot): string {
  const schema = JSON.parse(snapshot.metadata.schemaString) as {fields: {name: string; type: DeltaType}[]}
  const partitions = snapshot.metadata.partitionColumns
  return [
    ...schema.fields
      .filter((f) => !partitions.includes(f.name))
      .map((f) => `CAST(NULL AS ${duckdbTypeOf(f.type)}) AS ${sqlIdentifier(f.name)}`),
    ...partitions.map((c) => `CAST(NULL AS ${partitionType(snapshot, c)}) AS ${sqlIdentifier(c)}`),
  ].join(', ')
}

/** Files checked at once: one round trip each on an object store, so a table of thousands is not checked in series. */
const STAT_CONCURRENCY = 32

/** Fails with a data error naming the first data file the log lists that is not there (deleted by hand). */
async function assertFilesPresent(storage: LakeStorage, tablePath: string, files: readonly AddAction[]): Promise<void> {
  for (let i = 0; i < files.length; i += STAT_CONCURRENCY) {
    const batch = files.slice(i, i + STAT_CONCURRENCY)
    const stats = await Promise.all(batch.map((add) => storage.stat(decodeURIComponent(add.path))))
    const missing = batch.find((_, j) => stats[j] === undefined)
    if (missing) {
      throw new DataError(
        'DELTA_FILE_MISSING',
        `Data file ${storage.locate(decodeURIComponent(missing.path))} of table ${tablePath} is listed in the log but missing.`,
        {hints: ['A data file was deleted by hand; restore it from a backup, or rewrite the table.']},
      )
    }
  }
}
