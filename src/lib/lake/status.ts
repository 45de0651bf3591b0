import {existsSync, readdirSync, statSync} from 'node:fs'
import {join, relative, resolve} from 'node:path'
import {UsageError} from '../errors.js'
import {LOG_DIR, readSnapshot} from './delta-log.js'
import {rowsOf} from './lake.js'

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
export function findTables(lake: string): string[] {
  const root = resolve(lake)
  const tables: string[] = []
  const visit = (dir: string, depth: number) => {
    if (existsSync(join(dir, LOG_DIR))) {
      tables.push(dir)
      return
    }
    if (depth === 0) return
    for (const entry of readdirSync(dir, {withFileTypes: true})) {
      if (entry.isDirectory() && !entry.name.startsWith('_') && !entry.name.startsWith('.')) {
        visit(join(dir, entry.name), depth - 1)
      }
    }
  }
  visit(root, 2)
  return tables.sort()
}

/** Summarises every table of the lake from its Delta log (no data file is read). */
export async function lakeStatus(lake: string): Promise<LakeStatus> {
  const root = resolve(lake)
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new UsageError('LAKE_MISSING', `There is no lake at ${root}.`, {
      hints: ['Create one with: ecap generate --to lake', 'Point at an existing lake with --lake PATH or ECAP_LAKE.'],
    })
  }
  const tables: TableStatus[] = []
  for (const path of findTables(root)) {
    const snapshot = await readSnapshot(path)
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
