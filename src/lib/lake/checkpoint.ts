import {randomUUID} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type Engine, withEngine} from '../engine/engine.js'
import {sqlString} from '../engine/sql.js'
import {DataError} from '../errors.js'
import type {Action} from './delta-log.js'

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
  protocol: 'STRUCT(minReaderVersion INTEGER, minWriterVersion INTEGER)',
}

export function checkpointFileName(version: number): string {
  return `${String(version).padStart(20, '0')}.checkpoint.parquet`
}

/**
 * The version of the latest checkpoint: the one `_last_checkpoint` names, or, when that hint is missing or damaged,
 * the newest `*.checkpoint.parquet` in the log (Delta treats `_last_checkpoint` as a hint, not as the truth).
 */
export function lastCheckpointVersion(logDir: string): number | undefined {
  const file = join(logDir, LAST_CHECKPOINT)
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as {version?: unknown}
      if (typeof parsed.version === 'number' && Number.isInteger(parsed.version)) return parsed.version
    } catch {
      // A torn or foreign hint: fall back to listing.
    }
  }
  const versions = readdirSync(logDir)
    .map((name) => /^(\d{20})\.checkpoint\.parquet$/.exec(name)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
  return versions.length === 0 ? undefined : Math.max(...versions)
}

/**
 * Writes the state at `version` (the actions a reader needs: protocol, metadata, live files, tombstones, txns) as a
 * single-part Parquet checkpoint, then points `_last_checkpoint` at it. Both are written to temp files and renamed,
 * so a crash leaves either the old pointer or the new, complete checkpoint.
 */
export async function writeCheckpoint(
  logDir: string,
  version: number,
  actions: Action[],
  engine?: Engine,
): Promise<void> {
  const staged = join(tmpdir(), `ecap-checkpoint-${randomUUID()}.ndjson`)
  const temp = join(logDir, `.tmp-${randomUUID()}.checkpoint.parquet`)
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
    renameSync(temp, join(logDir, checkpointFileName(version)))
    const pointer = join(logDir, `.tmp-${randomUUID()}${LAST_CHECKPOINT}`)
    writeFileSync(pointer, JSON.stringify({version, size: actions.length}))
    renameSync(pointer, join(logDir, LAST_CHECKPOINT))
  } finally {
    rmSync(staged, {force: true})
    rmSync(temp, {force: true})
  }
}

/** Reads the actions of a checkpoint back as log actions. */
export async function readCheckpoint(logDir: string, version: number, engine?: Engine): Promise<Action[]> {
  const file = join(logDir, checkpointFileName(version))
  if (!existsSync(file)) {
    throw new DataError(
      'DELTA_CHECKPOINT_MISSING',
      `_last_checkpoint names version ${version}, but ${file} is missing.`,
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
  const rows = engine ? await read(engine) : await withEngine(read)
  const actions: Action[] = []
  for (const row of rows) {
    for (const [name, value] of Object.entries(row)) {
      if (value !== null) actions.push({[name]: dropNulls(JSON.parse(String(value)))} as unknown as Action)
    }
  }
  return actions
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
