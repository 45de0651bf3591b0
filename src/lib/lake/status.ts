import {statSync} from 'node:fs'
import type {Engine} from '../engine/engine.js'
import {UsageError} from '../errors.js'
import {LOG_DIR, readSnapshot} from './delta-log.js'
import {rowsOf} from './lake.js'
import {isObjectStore, type Location, lakeLocation, relativeLocation} from './location.js'
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
  const root = lakeLocation(lake)
  if (!(await lakeExists(root))) {
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
      name: relativeLocation(root, path) as string,
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

/**
 * Whether there is a lake at `location`: a folder (an empty one too: a lake with no table yet), or a prefix of an
 * object store holding anything (a store has no empty folders, so a lake there exists once something is written in
 * it; a missing bucket is the store's error, with its fix).
 */
export async function lakeExists(location: Location): Promise<boolean> {
  if (isObjectStore(location)) return (await storageAt(location).list('')).length > 0
  // A local lake is a local folder, whatever leads there (a symlinked lake folder too).
  return statSync(location, {throwIfNoEntry: false})?.isDirectory() ?? false
}
