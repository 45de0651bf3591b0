import {basename, dirname, relative, resolve} from 'node:path'
import type {Engine} from '../engine/engine.js'
import {UsageError} from '../errors.js'
import {LOG_DIR, readSnapshot} from './delta-log.js'
import {rowsOf} from './lake.js'
import {lakeLocation} from './location.js'
import {storageAt, storagePath} from './storage.js'

/** Files under this size count as small: candidates for `ecap lake compact`. */
export const SMALL_FILE_BYTES = 8 * 2 ** 20

export interface TableStatus {
  name: string
  path: string
  version: number
  files: number
  rows: number
  bytes: number
  partitions: number
  smallFiles: number
  lastCommit: string | null
}

export interface LakeStatus {
  lake: string
  tables: TableStatus[]
}

/** Finds the Delta tables of a lake: folders holding a `_delta_log`, at most two levels down (analytics/<name>). */
export async function findTables(lake: string): Promise<string[]> {
  const root = lakeLocation(lake)
  const storage = storageAt(root)
  const tables: string[] = []
  const visit = async (dir: string, depth: number) => {
    const entries = await storage.list(dir)
    if (entries.some((e) => e.folder && e.name === LOG_DIR)) {
      tables.push(storage.locate(dir))
      return
    }
    if (depth === 0) return
    for (const entry of entries) {
      if (entry.folder && !entry.name.startsWith('_') && !entry.name.startsWith('.')) {
        await visit(storagePath(dir, entry.name), depth - 1)
      }
    }
  }
  await visit('', 2)
  return tables.sort()
}

/** Summarises every table of the lake from its Delta log (no data file is read). */
export async function lakeStatus(engine: Engine, lake: string): Promise<LakeStatus> {
  const root = resolve(lake)
  if (!(await isFolder(root))) {
    throw new UsageError('LAKE_MISSING', `There is no lake at ${root}.`, {
      hints: ['Create one with: ecap generate --to lake', 'Point at an existing lake with --lake PATH or ECAP_LAKE.'],
    })
  }
  const tables: TableStatus[] = []
  for (const path of await findTables(root)) {
    const snapshot = await readSnapshot(path, {engine})
    const files = [...snapshot.files.values()]
    const partitions = new Set(files.map((f) => JSON.stringify(f.partitionValues)))
    tables.push({
      name: relative(root, path),
      path,
      version: snapshot.version,
      files: files.length,
      rows: files.reduce((sum, f) => sum + rowsOf(f), 0),
      bytes: files.reduce((sum, f) => sum + f.size, 0),
      partitions: snapshot.metadata.partitionColumns.length === 0 ? 0 : partitions.size,
      smallFiles: files.filter((f) => f.size < SMALL_FILE_BYTES).length,
      lastCommit:
        snapshot.lastCommitTimestamp === undefined ? null : new Date(snapshot.lastCommitTimestamp).toISOString(),
    })
  }
  return {lake: root, tables}
}

/** Whether `path` is a folder (an empty one too: a lake with no table yet). */
async function isFolder(path: string): Promise<boolean> {
  if (dirname(path) === path) return true
  // A lake with anything in it lists it, whatever leads there (a symlinked lake folder too); an empty one shows only
  // in its parent's listing.
  const own = await storageAt(path)
    .list('')
    .catch(() => [])
  if (own.length > 0) return true
  const entries = await storageAt(dirname(path)).list('')
  return entries.some((e) => e.folder && e.name === basename(path))
}
