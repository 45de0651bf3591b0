import {randomUUID} from 'node:crypto'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Engine} from '../engine/engine.js'
import {sqlString} from '../engine/sql.js'
import {DataError, InterruptedError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import type {Action} from './actions.js'
import {storageAt, storagePath} from './storage.js'

/** Commits between checkpoints: readers replay at most this many JSON files after the last checkpoint. */
export const DEFAULT_CHECKPOINT_INTERVAL = 10

const LAST_CHECKPOINT = '_last_checkpoint'
/** The log folder, as delta-log.ts names it (not imported from there: that module imports this one). */
const LOG_DIR = '_delta_log'

/** The Parquet schema of a Delta checkpoint (PROTOCOL.md, "Checkpoint Schema"), as DuckDB types. */
const CHECKPOINT_COLUMNS: Record<string, string> = {
  txn: 'STRUCT(appId VARCHAR, version BIGINT, lastUpdated BIGINT)',
  add: 'STRUCT(path VARCHAR, partitionValues MAP(VARCHAR, VARCHAR), size BIGINT, modificationTime BIGINT, dataChange BOOLEAN, stats VARCHAR)',
  remove:
    'STRUCT(path VARCHAR, deletionTimestamp BIGINT, dataChange BOOLEAN, extendedFileMetadata BOOLEAN, partitionValues MAP(VARCHAR, VARCHAR), size BIGINT)',
  metaData:
    'STRUCT(id VARCHAR, name VARCHAR, description VARCHAR, format STRUCT(provider VARCHAR, options MAP(VARCHAR, VARCHAR)), schemaString VARCHAR, partitionColumns VARCHAR[], configuration MAP(VARCHAR, VARCHAR), createdTime BIGINT)',
  // The whole protocol: a checkpoint that dropped the feature lists would silently downgrade the table.
  protocol:
    'STRUCT(minReaderVersion INTEGER, minWriterVersion INTEGER, readerFeatures VARCHAR[], writerFeatures VARCHAR[])',
}

export function checkpointFileName(version: number): string {
  return `${String(version).padStart(20, '0')}.checkpoint.parquet`
}

/**
 * The checkpoints a reader may start from, best first: the one `_last_checkpoint` names, then every
 * `*.checkpoint.parquet` in the log, newest first. Delta treats `_last_checkpoint` as a hint, not as the truth: it may
 * be missing or damaged, or name a checkpoint that is (see readSnapshot).
 */
export async function checkpointVersions(tablePath: string): Promise<number[]> {
  const storage = storageAt(tablePath)
  const hinted = hintedCheckpoint(await storage.readText(storagePath(LOG_DIR, LAST_CHECKPOINT)))
  const listed = (await storage.list(LOG_DIR))
    .map(({name, folder}) => (folder ? undefined : /^(\d{20})\.checkpoint\.parquet$/.exec(name)?.[1]))
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => b - a)
  return [...new Set([...(hinted === undefined ? [] : [hinted]), ...listed])]
}

function hintedCheckpoint(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  try {
    const parsed = JSON.parse(text) as {version?: unknown}
    if (typeof parsed.version === 'number' && Number.isInteger(parsed.version)) return parsed.version
  } catch {
    // A torn or foreign hint: the listing stands in for it.
  }
  return undefined
}

/**
 * Writes the state at `version` (the actions a reader needs: protocol, metadata, live files, tombstones, txns) as a
 * single-part Parquet checkpoint, then points `_last_checkpoint` at it. DuckDB writes the Parquet to a scratch file;
 * each is then put in place with an atomic replace, so a crash or power cut leaves either the old pointer or the new,
 * complete checkpoint, never a name for half a file.
 */
export async function writeCheckpoint(
  engine: Engine,
  tablePath: string,
  version: number,
  actions: Action[],
): Promise<void> {
  const storage = storageAt(tablePath)
  const staged = join(tmpdir(), `ecap-checkpoint-${randomUUID()}.ndjson`)
  const parquet = join(tmpdir(), `ecap-checkpoint-${randomUUID()}.parquet`)
  try {
    writeFileSync(staged, `${actions.map((a) => JSON.stringify(a)).join('\n')}\n`)
    const columns = `{${Object.entries(CHECKPOINT_COLUMNS)
      .map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`)
      .join(', ')}}`
    await engine.run(
      `COPY (SELECT * FROM read_json(${sqlString(staged)}, format = 'newline_delimited', columns = ${columns}))
       TO ${sqlString(parquet)} (FORMAT parquet)`,
    )
    await storage.replace(storagePath(LOG_DIR, checkpointFileName(version)), readFileSync(parquet))
    failpoint('lake.checkpoint.write')
    const pointer = Buffer.from(JSON.stringify({version, size: actions.length}))
    failpoint('lake.checkpoint.pointer')
    await storage.replace(storagePath(LOG_DIR, LAST_CHECKPOINT), pointer)
  } finally {
    rmSync(staged, {force: true})
    rmSync(parquet, {force: true})
  }
}

/** Reads the actions of a checkpoint back as log actions; fails with a data error if it is missing or damaged. */
export async function readCheckpoint(engine: Engine, tablePath: string, version: number): Promise<Action[]> {
  const storage = storageAt(tablePath)
  const path = storagePath(LOG_DIR, checkpointFileName(version))
  const file = storage.locate(path)
  await storage.attach(engine)
  if ((await storage.stat(path)) === undefined) {
    throw new DataError(
      'DELTA_CHECKPOINT_MISSING',
      `_last_checkpoint names checkpoint ${version}, but ${file} is missing.`,
      {
        hints: ['Delete _last_checkpoint: readers then replay the JSON log from the start.'],
      },
    )
  }
  const read = () =>
    engine.rows(
      `SELECT ${Object.keys(CHECKPOINT_COLUMNS)
        .map((c) => `to_json(${c}) AS ${c}`)
        .join(', ')} FROM read_parquet(?)`,
      [file],
    )
  let rows: Awaited<ReturnType<typeof read>>
  try {
    rows = await read()
  } catch (error) {
    if (error instanceof InterruptedError) throw error
    throw unreadable(file, (error as Error).message, error)
  }
  const actions: Action[] = []
  for (const row of rows) {
    for (const [name, value] of Object.entries(row)) {
      if (value !== null) actions.push({[name]: dropNulls(JSON.parse(String(value)))} as unknown as Action)
    }
  }
  if (!actions.some((a) => 'protocol' in a) || !actions.some((a) => 'metaData' in a)) {
    throw unreadable(file, 'it holds no protocol or metadata')
  }
  return actions
}

function unreadable(file: string, why: string, cause?: unknown): DataError {
  return new DataError('DELTA_CHECKPOINT_UNREADABLE', `Delta checkpoint ${file} cannot be read: ${why}.`, {
    cause,
    hints: ['Delete it and _last_checkpoint: readers then replay the JSON log from the start.'],
  })
}

/** Parquet has a column for every optional field; the JSON log leaves absent ones out, and so do we. */
function dropNulls(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, dropNulls(v)]),
  )
}
