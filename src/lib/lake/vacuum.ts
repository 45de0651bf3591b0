import type {Engine} from '../engine/engine.js'
import {UsageError} from '../errors.js'
import {assertWritable, LOG_DIR, readSnapshot} from './delta-log.js'
import {type LakeStorage, storageAt, storagePath} from './storage.js'

export const DEFAULT_RETAIN_MS = 7 * 24 * 3_600_000
/** Below this, vacuum could delete files a running writer has not committed yet: it needs `--yes`. */
export const MIN_SAFE_RETAIN_MS = 3_600_000

export interface VacuumOptions {
  retainMs: number
  dryRun: boolean
  /** Allow a retention under one hour. */
  force: boolean
  now?: number
  /**
   * Ctrl-C or SIGTERM: stop before the next file is looked at or deleted. Stopping part-way is safe: every file
   * vacuum deletes is one no snapshot in the retention references, so the rest can wait for the next run.
   */
  signal?: AbortSignal
}

export interface VacuumResult {
  table: string
  dryRun: boolean
  /** Files deleted (or, with dryRun, that would be). */
  files: string[]
  bytes: number
}

/**
 * Deletes data files that no snapshot within the retention period references: files removed by compaction more
 * than `retainMs` ago, and files no commit ever referenced (a crashed writer's) once they are older than `retainMs`.
 * The age test on unreferenced files keeps vacuum from deleting what a running writer is about to commit.
 */
export async function vacuumTable(tablePath: string, options: VacuumOptions, engine: Engine): Promise<VacuumResult> {
  if (options.retainMs < MIN_SAFE_RETAIN_MS && !options.force) {
    throw new UsageError(
      'VACUUM_RETENTION_TOO_SHORT',
      'A retention under 1 hour can delete files that a running writer has not committed yet.',
      {
        hints: ['--retain 7d', 'Add --yes if no other process writes to this lake.'],
      },
    )
  }
  const now = options.now ?? Date.now()
  const cutoff = now - options.retainMs
  const snapshot = await readSnapshot(tablePath, {engine})
  // Features such as deletion vectors keep files of their own that vacuum would take for orphans.
  assertWritable(snapshot, 'vacuum')
  const keep = new Set<string>()
  for (const path of snapshot.files.keys()) keep.add(decodeURIComponent(path))
  for (const [path, remove] of snapshot.tombstones) {
    if (remove.deletionTimestamp > cutoff) keep.add(decodeURIComponent(path))
  }
  const doomed: string[] = []
  let bytes = 0
  const storage = storageAt(tablePath)
  for await (const rel of dataFiles(storage, '')) {
    options.signal?.throwIfAborted()
    if (keep.has(rel)) continue
    const stat = await storage.stat(rel)
    if (!stat || stat.modificationTime > cutoff) continue
    doomed.push(rel)
    bytes += stat.size
  }
  if (!options.dryRun) {
    for (const rel of doomed) {
      options.signal?.throwIfAborted()
      await storage.delete(rel)
    }
  }
  return {table: tablePath, dryRun: options.dryRun, files: doomed.sort(), bytes}
}

/**
 * Every file under the table except the log and hidden or underscore-prefixed folders (as Delta readers skip), as
 * paths relative to the table: what vacuum and `ecap doctor` compare with the files commits reference.
 */
export async function* dataFiles(storage: LakeStorage, dir: string): AsyncGenerator<string> {
  for (const entry of await storage.list(dir)) {
    if (entry.name === LOG_DIR || entry.name.startsWith('.') || entry.name.startsWith('_')) continue
    const path = storagePath(dir, entry.name)
    if (entry.folder) yield* dataFiles(storage, path)
    else yield path
  }
}
