import {closeSync, fsyncSync, mkdirSync, openSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {dirname} from 'node:path'

/**
 * What reaches the disk, and when. Data written with write() or by DuckDB's COPY sits in the page cache until the
 * kernel gets to it; a power cut loses it even though every call returned. A file, and the directory entry that names
 * it, survive only once fsynced: the file before anything names it (a commit, a rename), the directory after an
 * entry is added to it.
 */

/** Flushes a file's data to disk. */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Flushes a directory's entries: a file created, linked or renamed into it survives a power cut only after this. */
export function fsyncDirectory(path: string): void {
  // Windows cannot open a directory as a file, and NTFS journals its entries anyway.
  if (process.platform === 'win32') return
  fsyncFile(path)
}

/** Files fsynced at once: enough to keep libuv's threads and the disk's queue busy, few enough for any fd limit. */
const PARALLEL_SYNCS = 8

/** Flushes many files, several at a time (each fsync waits on the disk; they need not wait on each other). */
export async function fsyncFiles(paths: readonly string[]): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < paths.length) {
      const handle = await open(paths[next++] as string, 'r')
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    }
  }
  await Promise.all(Array.from({length: Math.min(PARALLEL_SYNCS, paths.length)}, worker))
}

/** Flushes many directories' entries, several at a time (see fsyncDirectory). */
export async function fsyncDirectories(paths: readonly string[]): Promise<void> {
  if (process.platform === 'win32') return
  await fsyncFiles(paths)
}

/** `mkdir -p` whose new folders survive a power cut: the parent of each folder it created is fsynced. */
export function mkdirDurable(dir: string): void {
  const first = mkdirSync(dir, {recursive: true})
  if (first === undefined) return
  for (let created = dir; ; created = dirname(created)) {
    fsyncDirectory(dirname(created))
    if (created === first || dirname(created) === created) return
  }
}
