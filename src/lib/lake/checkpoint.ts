import {randomUUID} from 'node:crypto'
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fsyncDirectory, fsyncFile} from '../durable.js'
import {type Engine, withEngine} from '../engine/engine.js'
import {sqlString} from '../engine/sql.js'
import {DataError, InterruptedError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import type {Action} from './actions.js'

/** Commits between checkpoints: readers replay at most this many JSON files after the last checkpoint. */
export const DEFAULT_CHECKPOINT_INTERVAL = 10

const LAST_CHECKPOINT = '_last_checkpoint'

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
export function checkpointVersions(logDir: string): number[] {
  const hinted = hintedCheckpoint(logDir)
  const listed = readdirSync(logDir)
    .map((name) => /^(\d{20})\.checkpoint\.parquet$/.exec(name)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => b - a)
  return [...new Set([...(hinted === undefined ? [] : [hinted]), ...listed])]
}

function hintedCheckpoint(logDir: string): number | undefined {
  const file = join(logDir, LAST_CHECKPOINT)
  if (!existsSync(file)) return undefined
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as {version?: unknown}
    if (typeof parsed.version === 'number' && Number.isInteger(parsed.version)) return parsed.version
  } catch {
    // A torn or foreign hint: the listing stands in for it.
  }
  return undefined
}

/**
 * Writes the state at `version` (the actions a reader needs: protocol, metadata, live files, tombstones, txns) as a
 * single-part Parquet checkpoint, then points `_last_checkpoint` at it. Each is written to a temp file, fsynced,
 * renamed into place and the log folder fsynced, so a crash or power cut leaves either the old pointer or the new,
 * complete checkpoint, never a name for half a file.
 */
export async function writeCheckpoint(
  logDir: string,
  version: number,
  actions: Action[],
  engine?: Engine,
): Promise<void> {
  const staged = join(tmpdir(), `ecap-checkpoint-${randomUUID()}.ndjson`)
  const temp = join(logDir, `.tmp-${randomUUID()}.checkpoint.parquet`)
  const pointer = join(logDir, `.tmp-${randomUUID()}${LAST_CHECKPOINT}`)
  try {
    writeFileSync(staged, `${actions.map((a) => JSON.stringify(a)).join('\n')}\n`)
    const columns = `{${Object.entries(CHECKPOINT_COLUMNS)
      .map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`)
      .join(', ')}}`
    const write = (e: Engine) =>
      e.run(
        `COPY (SELECT * FROM read_json(${sqlString(staged)}, format = 'newline_delimited', columns = ${columns}))
         TO ${sqlString(temp)} (FORMAT parquet)`,
      )
    if (engine) await write(engine)
    else await withEngine(write)
    fsyncFile(temp)
    renameSync(temp, join(logDir, checkpointFileName(version)))
    fsyncDirectory(logDir)
    failpoint('lake.checkpoint.write')
    writeDurably(pointer, JSON.stringify({version, size: actions.length}))
    failpoint('lake.checkpoint.pointer')
    renameSync(pointer, join(logDir, LAST_CHECKPOINT))
    fsyncDirectory(logDir)
  } finally {
    rmSync(staged, {force: true})
    rmSync(temp, {force: true})
    rmSync(pointer, {force: true})
  }
}

function writeDurably(path: string, text: string): void {
  const fd = openSync(path, 'wx')
  try {
    const bytes = Buffer.from(text)
    for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Reads the actions of a checkpoint back as log actions; fails with a data error if it is missing or damaged. */
export async function readCheckpoint(logDir: string, version: number, engine?: Engine): Promise<Action[]> {
  const file = join(logDir, checkpointFileName(version))
  if (!existsSync(file)) {
    throw new DataError(
      'DELTA_CHECKPOINT_MISSING',
      `_last_checkpoint names checkpoint ${version}, but ${file} is missing.`,
      {
        hints: ['Delete _last_checkpoint: readers then replay the JSON log from the start.'],
      },
    )
  }
  const read = (e: Engine) =>
    e.rows(
      `SELECT ${Object.keys(CHECKPOINT_COLUMNS)
        .map((c) => `to_json(${c}) AS ${c}`)
        .join(', ')} FROM read_parquet(?)`,
      [file],
    )
  let rows: Awaited<ReturnType<typeof read>>
  try {
    rows = engine ? await read(engine) : await withEngine(read)
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
