import type {Engine} from '../engine/engine.js'
import {LocalStorage} from './local-storage.js'
import {isObjectStore} from './location.js'
import {S3Storage} from './s3-storage.js'

/**
 * Where a Delta table's files live, as the table format needs them and no more: read, list, put-if-absent, atomic
 * replace, delete, and durable data files that DuckDB writes itself. Paths are relative to the storage's root (a
 * table's folder), '/'-separated, never starting with '/'. Two implementations: local disk (LocalStorage) and S3 with
 * conditional writes, `If-None-Match: *` (S3Storage). The contract promises "durable" and "atomic", never how (no
 * fsync, no rename, no folders that must exist).
 */
export interface LakeStorage {
  /** The root as a person and DuckDB name it: a folder path, or a URI. */
  readonly root: string

  /** Where DuckDB reads or writes `path` (`read_parquet`, `COPY ... TO`): a local path, or a URI. */
  locate(path: string): string

  /** The storage path of a locate()d name (a file DuckDB reports having written); the inverse of locate. */
  pathOf(located: string): string

  /** Makes `engine` able to read and write locate()d names (an object store's extension and credentials). */
  attach(engine: Engine): Promise<void>

  /** The file's text, or undefined when there is no such file. */
  readText(path: string): Promise<string | undefined>

  /** The file's bytes, or undefined when there is no such file. */
  readBytes(path: string): Promise<Uint8Array | undefined>

  /** Size and last modification of a file, or undefined when there is no such file. */
  stat(path: string): Promise<StoredFile | undefined>

  /**
   * The entries directly under the folder `dir` ('' for the root), in no particular order; [] when it has none.
   * Folders are listed for what they hold: an object store has no empty ones.
   */
  list(dir: string): Promise<ListedEntry[]>

  /**
   * Writes `data` to `path` only if no file has that name, atomically (a reader sees all of it or nothing) and durably
   * once it returns true. Returns false, writing nothing, when the name is taken: this is how two writers race for a
   * table version and exactly one wins. `onLanded` is called as soon as the name is ours, before anything else that
   * can fail: from then on readers may see the file, even if the call then fails.
   */
  putIfAbsent(path: string, data: Uint8Array, options?: {onLanded?: () => void}): Promise<boolean>

  /** Writes `data` to `path`, replacing any file of that name atomically (old or new, never a mix) and durably. */
  replace(path: string, data: Uint8Array): Promise<void>

  /** Deletes a file; a file already gone is no error. */
  delete(path: string): Promise<void>

  /**
   * Makes the root ready to receive files: DuckDB's COPY writes to locate()d paths under it. `creating`: a new table's
   * first commit follows, so the root itself must survive a crash as well as what goes in it.
   */
  prepare(options?: {creating?: boolean}): Promise<void>

  /**
   * Makes files written at their locate()d paths by someone else (DuckDB's COPY, which syncs nothing) durable, so that
   * a commit naming them never survives a crash that they do not.
   */
  persist(paths: readonly string[]): Promise<void>
}

export interface StoredFile {
  size: number
  /** Milliseconds since the epoch (with a fraction, where the storage keeps one). */
  modificationTime: number
}

export interface ListedEntry {
  /** The entry's name within the folder listed (no '/'). */
  name: string
  folder: boolean
}

/** Joins storage paths with '/', skipping empty parts (the root is ''). */
export function storagePath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/')
}

/** The storage of the table (or lake) at `location`. */
export function storageAt(location: string): LakeStorage {
  return isObjectStore(location) ? new S3Storage(location) : new LocalStorage(location)
}
