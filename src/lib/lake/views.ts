import {existsSync} from 'node:fs'
import {join} from 'node:path'
import type {Engine} from '../engine/engine.js'
import {sqlIdentifier, sqlStringList} from '../engine/sql.js'
import {DataError} from '../errors.js'
import {readSnapshot, type Snapshot} from './delta-log.js'

/**
 * Registers a Delta table's current snapshot as a DuckDB view: only the files the log lists (so files of a crashed
 * writer stay invisible), with partition values taken from the log rather than from folder names.
 */
export async function registerTableView(engine: Engine, viewName: string, tablePath: string): Promise<Snapshot> {
  const snapshot = await readSnapshot(tablePath, {engine})
  const partitionColumns = snapshot.metadata.partitionColumns
  const files = [...snapshot.files.values()]
  for (const add of files) {
    const file = join(tablePath, decodeURIComponent(add.path))
    if (!existsSync(file)) {
      throw new DataError(
        'DELTA_FILE_MISSING',
        `Data file ${file} of table ${tablePath} is listed in the log but missing.`,
        {
          hints: ['A data file was deleted by hand; restore it from a backup, or rewrite the table.'],
        },
      )
    }
  }
  const view = sqlIdentifier(viewName)
  if (files.length === 0) {
    await engine.run(`CREATE OR REPLACE TEMP VIEW ${view} AS SELECT NULL WHERE false`)
    return snapshot
  }
  // One temp table maps each file to its partition values; read_parquet's filename column joins to it.
  const mapName = sqlIdentifier(`__files_${viewName}`)
  const partitionDefs = partitionColumns.map((c) => `${sqlIdentifier(c)} VARCHAR`).join(', ')
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${mapName} (path VARCHAR${partitionDefs ? `, ${partitionDefs}` : ''})`)
  const placeholders = `(${['?', ...partitionColumns.map(() => '?')].join(', ')})`
  for (let i = 0; i < files.length; i += 500) {
    const batch = files.slice(i, i + 500)
    const values = batch.flatMap((add) => [
      join(tablePath, decodeURIComponent(add.path)),
      ...partitionColumns.map((c) => add.partitionValues[c] ?? null),
    ])
    await engine.run(`INSERT INTO ${mapName} VALUES ${batch.map(() => placeholders).join(', ')}`, values)
  }
  const paths = files.map((add) => join(tablePath, decodeURIComponent(add.path)))
  const partitionSelect = partitionColumns
    .map((c) => `TRY_CAST(f.${sqlIdentifier(c)} AS ${partitionType(snapshot, c)}) AS ${sqlIdentifier(c)}`)
    .join(', ')
  await engine.run(
    `CREATE OR REPLACE TEMP VIEW ${view} AS
     SELECT d.* EXCLUDE (filename)${partitionSelect ? `, ${partitionSelect}` : ''}
     FROM read_parquet(${sqlStringList(paths)}, filename = true, hive_partitioning = false, union_by_name = true) d
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
