import {randomUUID} from 'node:crypto'
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import {basename, dirname, join, relative, resolve, sep} from 'node:path'
import {fsyncDirectories, fsyncDirectory, fsyncFiles, mkdirDurable} from '../durable.js'
import type {LakeStorage, ListedEntry, StoredFile} from './storage.js'

/**
 * A table on local disk. Durable means fsynced: a file before anything names it (a link, a rename), a folder after an
 * entry is added to it. Put-if-absent writes a hidden temp file and hard-links it to the name, which fails if the name
 * exists (atomic on every POSIX file system, unlike a check then a rename); replace renames a temp file over the name.
 */
export class LocalStorage implements LakeStorage {
  constructor(readonly root: string) {}

  locate(path: string): string {
    return path === '' ? this.root : join(this.root, ...path.split('/'))
  }

  pathOf(located: string): string {
    return relative(this.root, located).split(sep).join('/')
  }

  /** DuckDB reads and writes local paths without help. */
  async attach(): Promise<void> {}

  async readText(path: string): Promise<string | undefined> {
    return this.read(path, (file) => readFileSync(file, 'utf8'))
  }

  async readBytes(path: string): Promise<Uint8Array | undefined> {
    return this.read(path, (file) => readFileSync(file))
  }

  async stat(path: string): Promise<StoredFile | undefined> {
    const stat = this.read(path, (file) => statSync(file))
    if (!stat?.isFile()) return undefined
    return {size: stat.size, modificationTime: stat.mtimeMs}
  }

  async list(dir: string): Promise<ListedEntry[]> {
    const entries = this.read(dir, (folder) => readdirSync(folder, {withFileTypes: true})) ?? []
    return entries.filter((e) => e.isFile() || e.isDirectory()).map((e) => ({name: e.name, folder: e.isDirectory()}))
  }

  async putIfAbsent(path: string, data: Uint8Array, options: {onLanded?: () => void} = {}): Promise<boolean> {
    const target = this.locate(path)
    const dir = dirname(target)
    mkdirDurable(dir)
    const temp = join(dir, `.tmp-${randomUUID()}${extensionOf(target)}`)
    writeDurably(temp, data)
    try {
      try {
        linkSync(temp, target)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
        throw error
      }
      options.onLanded?.()
      // The link is a new entry of the folder: durable only once the folder is.
      fsyncDirectory(dir)
      return true
    } finally {
      unlinkSync(temp)
    }
  }

  async replace(path: string, data: Uint8Array): Promise<void> {
    const target = this.locate(path)
    const dir = dirname(target)
    mkdirDurable(dir)
    const temp = join(dir, `.tmp-${randomUUID()}${basename(target)}`)
    try {
      writeDurably(temp, data)
      renameSync(temp, target)
      fsyncDirectory(dir)
    } finally {
      rmSync(temp, {force: true})
    }
  }

  async delete(path: string): Promise<void> {
    rmSync(this.locate(path), {force: true})
  }

  async prepare(options: {creating?: boolean} = {}): Promise<void> {
    mkdirDurable(this.root)
    // A writer may have made the folder with plain mkdir: a new table's entry in its parent must survive too.
    if (options.creating) fsyncDirectory(dirname(resolve(this.root)))
  }

  /** Each file, then every folder between it and the root (COPY creates partition folders), then the root. */
  async persist(paths: readonly string[]): Promise<void> {
    const files = paths.map((p) => this.locate(p))
    await fsyncFiles(files)
    const root = resolve(this.root)
    const dirs = new Set<string>()
    for (const file of files) {
      for (let dir = dirname(resolve(file)); dir.startsWith(root); dir = dirname(dir)) {
        if (dirs.has(dir)) break
        dirs.add(dir)
        if (dir === root) break
      }
    }
    dirs.add(root)
    await fsyncDirectories([...dirs])
  }

  /** `read` of the located path, or undefined when nothing is there. */
  private read<T>(path: string, read: (located: string) => T): T | undefined {
    try {
      return read(this.locate(path))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
      throw error
    }
  }
}

/** Creates `path` (which must not exist) holding `data`, flushed to disk before it is closed. */
function writeDurably(path: string, data: Uint8Array): void {
  const fd = openSync(path, 'wx')
  try {
    // writeSync may write less than asked; a file cut short would be a torn commit.
    for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset)
    fsyncSync(fd)
  } catch (error) {
    closeSync(fd)
    rmSync(path, {force: true})
    throw error
  }
  closeSync(fd)
}

/** `.json` of a commit: its temp file keeps the kind, as the log's temp files always have. */
function extensionOf(path: string): string {
  const name = basename(path)
  const dot = name.indexOf('.')
  return dot === -1 ? '' : name.slice(dot)
}
