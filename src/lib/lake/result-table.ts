import {randomUUID} from 'node:crypto'
import type {Engine} from '../engine/engine.js'
import {DataError} from '../errors.js'
import type {Action} from './actions.js'
import {
  assertWritable,
  commitActions,
  listCommitVersions,
  READER_VERSION,
  readSnapshot,
  WRITER_VERSION,
} from './delta-log.js'
import {type DeltaStruct, field} from './delta-schema.js'
import {maybeCheckpoint} from './lake.js'
import {writeQueryFile} from './parquet-files.js'
import {storageAt} from './storage.js'

/** Table property holding the run description (JSON) of the result a table holds. */
export const RUN_PROPERTY = 'ecap.run'

export interface ReplaceResult {
  version: number
  rows: number
  bytes: number
  /** Set when the result landed but the checkpoint after it failed: the table is correct, reads only slower. */
  checkpointError?: string
}

/** Replacing a result removes every row (dataChange): refused on tables ecap cannot write, and on append-only ones. */
const OPERATION = 'overwrite'

/**
 * Replaces the whole content of a small derived table (an analysis result) with the rows of `query`, as one Delta
 * commit: a new metaData (schema and the run description in its configuration), a `remove` for every current file
 * and one `add`. Readers see the old result or the new one, never a mix. A concurrent replace that wins the race
 * makes this one re-read the table and try again, so the last writer's result is the whole table.
 */
export async function replaceTable(
  engine: Engine,
  tablePath: string,
  query: string,
  run: Record<string, unknown>,
): Promise<ReplaceResult> {
  // Checked before the query runs and its file is written, so a refusal changes nothing on disk.
  if ((await listCommitVersions(tablePath)).length > 0) {
    assertWritable(await readSnapshot(tablePath, {engine}), OPERATION, {removesData: true})
  }
  const schema = await schemaOf(engine, query)
  const {add, rows} = await writeQueryFile(engine, query, tablePath, schema)
  let landed = false
  let version: number
  try {
    for (let attempt = 0; ; attempt++) {
      const exists = (await listCommitVersions(tablePath)).length > 0
      const snapshot = exists ? await readSnapshot(tablePath, {engine}) : undefined
      if (snapshot) assertWritable(snapshot, OPERATION, {removesData: true})
      const now = Date.now()
      const actions: Action[] = [
        {
          commitInfo: {
            timestamp: now,
            operation: exists ? 'WRITE' : 'CREATE TABLE AS SELECT',
            operationParameters: {mode: 'Overwrite', partitionBy: '[]'},
            engineInfo: 'ecap/0.1.0',
            isBlindAppend: false,
          },
        },
        ...(exists ? [] : [{protocol: {minReaderVersion: READER_VERSION, minWriterVersion: WRITER_VERSION}}]),
        {
          metaData: {
            id: snapshot?.metadata.id ?? randomUUID(),
            name: tablePath.split('/').pop(),
            format: {provider: 'parquet', options: {}},
            schemaString: JSON.stringify(schema),
            partitionColumns: [],
            configuration: {[RUN_PROPERTY]: JSON.stringify(run)},
            createdTime: snapshot?.metadata.createdTime ?? now,
          },
        },
        ...[...(snapshot?.files.values() ?? [])].map(
          (old): Action => ({
            remove: {
              path: old.path,
              deletionTimestamp: now,
              dataChange: true,
              extendedFileMetadata: true,
              partitionValues: old.partitionValues,
              size: old.size,
            },
          }),
        ),
        {add},
      ]
      try {
        version = await commitActions(tablePath, () => actions, {
          readVersion: snapshot?.version ?? -1,
          onLanded: () => {
            landed = true
          },
          onConflict: () => {
            throw new LostRace()
          },
        })
        break
      } catch (error) {
        if (error instanceof LostRace && attempt < 100) continue
        throw error
      }
    }
  } catch (error) {
    // Once the commit landed the file is the table's, whatever failed after it.
    if (!landed) await storageAt(tablePath).delete(add.path)
    throw error
  }
  let checkpointError: string | undefined
  try {
    await maybeCheckpoint(tablePath, version, {engine})
  } catch (error) {
    checkpointError = (error as Error).message
  }
  return {version, rows, bytes: add.size, checkpointError}
}

/** Another writer replaced the table since we read it: our removes would miss its files, so read again. */
class LostRace extends Error {}

/** The run description stored with a result table, or undefined when the table does not exist. */
export async function readRun(tablePath: string, engine: Engine): Promise<Record<string, unknown> | undefined> {
  if ((await listCommitVersions(tablePath)).length === 0) return undefined
  const snapshot = await readSnapshot(tablePath, {engine})
  const text = snapshot.metadata.configuration?.[RUN_PROPERTY]
  if (text === undefined) {
    throw new DataError('RESULT_TABLE_FOREIGN', `${tablePath} has no ecap run description.`, {
      hints: ['This folder was not written by ecap analyze; move it out of <lake>/analytics.'],
    })
  }
  return JSON.parse(text) as Record<string, unknown>
}

/** The Delta schema of a query's result, from DuckDB's description of it. */
async function schemaOf(engine: Engine, query: string): Promise<DeltaStruct> {
  const columns = await engine.rows(`DESCRIBE (${query})`)
  return {
    type: 'struct',
    fields: columns.map((c) => field(String(c.column_name), deltaTypeOfResult(String(c.column_type)))),
  }
}

type DeltaType = Parameters<typeof field>[1]

/** Delta type of a DuckDB result column; results use plain types only (cast anything else in the query). */
export function deltaTypeOfResult(type: string): DeltaType {
  const primitive: Record<string, string> = {
    VARCHAR: 'string',
    INTEGER: 'integer',
    BIGINT: 'long',
    SMALLINT: 'short',
    TINYINT: 'byte',
    DOUBLE: 'double',
    FLOAT: 'float',
    BOOLEAN: 'boolean',
    DATE: 'date',
    'TIMESTAMP WITH TIME ZONE': 'timestamp',
    BLOB: 'binary',
  }
  if (primitive[type]) return primitive[type]
  const decimal = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(type)
  if (decimal) return `decimal(${decimal[1]},${decimal[2]})`
  if (type.endsWith('[]')) return {type: 'array', elementType: deltaTypeOfResult(type.slice(0, -2)), containsNull: true}
  throw new Error(`Result column type ${type} has no Delta equivalent here; cast it (e.g. to DOUBLE or VARCHAR).`)
}
