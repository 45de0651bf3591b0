import {randomUUID} from 'node:crypto'
import type {Json} from '@duckdb/node-api'
import type {Engine} from '../engine/engine.js'
import {sqlString, sqlStringList} from '../engine/sql.js'
import {DataError, UnavailableError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import type {Action, AddAction} from './actions.js'
import {assertWritable, changesTable, commitActions, readSnapshot} from './delta-log.js'
import type {DeltaStruct} from './delta-schema.js'
import {maybeCheckpoint} from './lake.js'
import {persistDataFiles, statKinds, statsFromCopy, writtenFile} from './parquet-files.js'
import {SMALL_FILE_BYTES} from './status.js'
import {storageAt} from './storage.js'

export interface CompactOptions {
  /** Files under this size are rewritten. */
  smallFileBytes?: number
  /** A partition is compacted only when it has at least this many small files. */
  minFiles?: number
  /** Ctrl-C or SIGTERM: no commit after it; the files written so far are deleted (DuckDB's COPY stops by itself). */
  signal?: AbortSignal
}

export interface CompactResult {
  table: string
  version: number | null
  partitionsCompacted: number
  filesRemoved: number
  filesAdded: number
  bytesBefore: number
  bytesAfter: number
  /** Set when the compaction landed but the checkpoint after it failed: the table is correct, reads only slower. */
  checkpointError?: string
}

/**
 * Rewrites the small files of each partition into one file, committed as `remove` + `add` with dataChange false
 * (readers and streaming consumers see no new data). Safe beside appending writers: appends never conflict with it;
 * if another process removed one of the same files first, the compaction is abandoned and its new files deleted.
 * Once the commit has landed its files are the table's, whatever fails after it (the checkpoint is only a warning).
 */
export async function compactTable(
  engine: Engine,
  tablePath: string,
  options: CompactOptions = {},
): Promise<CompactResult> {
  const smallFileBytes = options.smallFileBytes ?? SMALL_FILE_BYTES
  const minFiles = options.minFiles ?? 2
  const storage = storageAt(tablePath)
  const snapshot = await readSnapshot(tablePath, {engine})
  assertWritable(snapshot, 'compact')
  await storage.attach(engine)
  const kinds = statKinds(JSON.parse(snapshot.metadata.schemaString) as DeltaStruct)
  const groups = new Map<string, AddAction[]>()
  for (const add of snapshot.files.values()) {
    if (add.size >= smallFileBytes) continue
    const key = JSON.stringify(add.partitionValues)
    groups.set(key, [...(groups.get(key) ?? []), add])
  }
  const removed: AddAction[] = []
  const added: AddAction[] = []
  let landed = false
  let version: number
  try {
    for (const files of groups.values()) {
      if (files.length < minFiles) continue
      const first = files[0] as AddAction
      const dir = first.path.includes('/') ? first.path.slice(0, first.path.lastIndexOf('/')) : ''
      const relativePath = `${dir ? `${dir}/` : ''}part-${randomUUID()}-compacted.parquet`
      const target = decodeURIComponent(relativePath)
      const sources = files.map((f) => storage.locate(decodeURIComponent(f.path)))
      const [row] = await engine.rows(
        // hive_partitioning off: DuckDB would otherwise read event_date from the folder names and write it into the
        // file, where no Delta data file carries its partition columns.
        `COPY (SELECT * FROM read_parquet(${sqlStringList(sources)}, union_by_name = true, hive_partitioning = false))
         TO ${sqlString(storage.locate(target))} (FORMAT parquet, COMPRESSION zstd, RETURN_STATS true, ROW_GROUP_SIZE 122880)`,
      )
      const written = await writtenFile(storage, target)
      added.push({
        path: relativePath,
        partitionValues: first.partitionValues,
        size: written.size,
        modificationTime: Math.floor(written.modificationTime),
        dataChange: false,
        stats: statsFromCopy(row as Record<string, Json>, kinds),
      })
      removed.push(...files)
    }
    if (added.length === 0) {
      return emptyResult(tablePath)
    }
    await persistDataFiles(
      storage,
      added.map((add) => decodeURIComponent(add.path)),
    )
    const now = Date.now()
    const removedPaths = new Set(removed.map((f) => f.path))
    const actions: Action[] = [
      {
        commitInfo: {
          timestamp: now,
          operation: 'OPTIMIZE',
          operationParameters: {predicate: '[]', targetSize: String(smallFileBytes)},
          engineInfo: 'ecap',
          isBlindAppend: false,
        },
      },
      ...removed.map(
        (f): Action => ({
          remove: {
            path: f.path,
            deletionTimestamp: now,
            dataChange: false,
            extendedFileMetadata: true,
            partitionValues: f.partitionValues,
            size: f.size,
          },
        }),
      ),
      ...added.map((add): Action => ({add})),
    ]
    failpoint('lake.compact.before-commit')
    options.signal?.throwIfAborted()
    version = await commitActions(tablePath, () => actions, {
      readVersion: snapshot.version,
      onLanded: () => {
        landed = true
      },
      onConflict: (winner) => {
        if (changesTable(winner)) {
          throw new DataError(
            'DELTA_METADATA_CHANGED',
            `Another writer changed the schema or protocol of ${tablePath} while it was being compacted.`,
            {hints: ['Run ecap lake compact again: it checks the new protocol first.']},
          )
        }
        const clash = winner.some((a) => 'remove' in a && removedPaths.has(a.remove.path))
        if (clash) {
          throw new UnavailableError(
            'COMPACT_CONFLICT',
            `Another process rewrote files of ${tablePath} at the same time.`,
            {
              hints: ['Run ecap lake compact again.'],
            },
          )
        }
      },
    })
  } catch (error) {
    // Uncommitted files would be invisible anyway; removing them now saves vacuum the work. Committed ones are data.
    if (!landed) for (const add of added) await storage.delete(decodeURIComponent(add.path))
    throw error
  }
  let checkpointError: string | undefined
  try {
    await maybeCheckpoint(tablePath, version, {engine})
  } catch (error) {
    checkpointError = (error as Error).message
  }
  return {
    table: tablePath,
    version,
    partitionsCompacted: added.length,
    filesRemoved: removed.length,
    filesAdded: added.length,
    bytesBefore: removed.reduce((s, f) => s + f.size, 0),
    bytesAfter: added.reduce((s, f) => s + f.size, 0),
    checkpointError,
  }
}

function emptyResult(table: string): CompactResult {
  return {table, version: null, partitionsCompacted: 0, filesRemoved: 0, filesAdded: 0, bytesBefore: 0, bytesAfter: 0}
}
