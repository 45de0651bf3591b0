import {closeSync, fsyncSync, openSync, renameSync, unlinkSync, write, writeSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {fsyncDirectory} from './durable.js'
import {UsageError} from './errors.js'

/**
 * A file that appears under its name only when complete: data goes to a hidden temp file beside it, which is
 * renamed over the target on commit and deleted on abort. Readers never see half a file, whatever happens.
 */
export class AtomicFile {
  private fd: number | undefined
  private readonly tempPath: string

  constructor(
    readonly path: string,
    /** The flag that named this path, for the error message. */
    flag: string,
    /**
     * Whether commit waits for the disk. Only for scratch files that something reads at once and deletes, and
     * whose loss in a crash costs nothing (the run that staged them never committed): the fsync of a staged chunk
     * is pure waiting.
     */
    private readonly durable = true,
  ) {
    this.tempPath = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}`)
    try {
      this.fd = openSync(this.tempPath, 'wx', 0o644)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new UsageError(
        'OUTPUT_NOT_WRITABLE',
        `Cannot write ${flag} ${path}: ${code ?? (error as Error).message}.`,
        {
          cause: error,
          hints: [`Choose a path in an existing folder you can write to, e.g. ${flag} ./${basename(path)}`],
        },
      )
    }
  }

  write(text: string): void {
    this.writeBytes(Buffer.from(text, 'utf8'))
  }

  writeBytes(buffer: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`AtomicFile ${this.path} is closed`)
    let offset = 0
    while (offset < buffer.length) offset += writeSync(this.fd, buffer, offset)
  }

  /**
   * Writes bytes on libuv's thread pool, so the caller's thread goes on while the kernel copies them. The caller
   * must leave the bytes alone, start no other write, and neither commit nor abort until the promise settles.
   */
  async writeBytesInBackground(buffer: Uint8Array): Promise<void> {
    const fd = this.fd
    if (fd === undefined) throw new Error(`AtomicFile ${this.path} is closed`)
    let offset = 0
    while (offset < buffer.length) {
      offset += await new Promise<number>((resolve, reject) =>
        write(fd, buffer, offset, buffer.length - offset, null, (error, written) =>
          error ? reject(error) : resolve(written),
        ),
      )
    }
  }

  /** Flushes to disk and moves the file into place, durably (the rename is an entry of the folder). */
  commit(): void {
    if (this.fd === undefined) return
    if (this.durable) fsyncSync(this.fd)
    closeSync(this.fd)
    this.fd = undefined
    renameSync(this.tempPath, this.path)
    if (this.durable) fsyncDirectory(dirname(this.path))
  }

  /** Drops the temp file; safe to call more than once and after commit. */
  abort(): void {
    if (this.fd === undefined) return
    try {
      closeSync(this.fd)
    } finally {
      this.fd = undefined
      try {
        unlinkSync(this.tempPath)
      } catch {
        // Already gone: nothing left to clean.
      }
    }
  }
}
