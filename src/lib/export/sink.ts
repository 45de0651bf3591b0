import {closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'
import {AtomicFile} from '../atomic-file.js'
import {UsageError} from '../errors.js'

/** Where result bytes go: a file that appears only when complete, or a stream (stdout) written with back-pressure. */
export interface ByteSink {
  write(data: string | Uint8Array): Promise<void>
  /** Makes the output final (renames the file into place). */
  commit(): Promise<void>
  /** Drops a partial file; safe after commit and more than once. */
  abort(): void
  readonly bytes: number
}

/** The reader of a stream went away (`ecap export ... -o - | head`): not an error, the output just ends. */
export class OutputClosedError extends Error {
  constructor() {
    super('The reader of the output went away.')
    this.name = 'OutputClosedError'
  }
}

/** Fails early, with the flag in the message, when the output cannot be a file. */
export function checkOutputPath(path: string, flag: string): string {
  const full = resolve(path)
  if (existsSync(full) && statSync(full).isDirectory()) {
    throw new UsageError('OUTPUT_IS_DIRECTORY', `${flag} ${path} is a folder; give a file name.`, {
      hints: [`${flag} ${join(path, 'export.parquet')}`],
    })
  }
  const dir = dirname(full)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError('OUTPUT_NOT_WRITABLE', `Cannot write ${flag} ${path}: folder ${dir} does not exist.`, {
      hints: [`mkdir -p ${dir}`, `${flag} ./${basename(full)}`],
    })
  }
  return full
}

export class FileSink implements ByteSink {
  private readonly file: AtomicFile
  bytes = 0

  constructor(path: string, flag: string) {
    this.file = new AtomicFile(checkOutputPath(path, flag), flag)
  }

  async write(data: string | Uint8Array): Promise<void> {
    const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    this.file.writeBytes(buffer)
    this.bytes += buffer.byteLength
  }

  async commit(): Promise<void> {
    this.file.commit()
  }

  abort(): void {
    this.file.abort()
  }
}

export class StreamSink implements ByteSink {
  bytes = 0
  private closed = false

  constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', this.onError)
  }

  private readonly onError = () => {
    this.closed = true
  }

  async write(data: string | Uint8Array): Promise<void> {
    if (this.closed) throw new OutputClosedError()
    this.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
    if (this.stream.write(data)) return
    // The reader is slower than DuckDB: wait until it has taken what is buffered before reading more rows.
    await new Promise<void>((done) => {
      const finish = () => {
        this.stream.off('drain', finish)
        this.stream.off('error', finish)
        this.stream.off('close', finish)
        done()
      }
      this.stream.on('drain', finish)
      this.stream.on('error', finish)
      this.stream.on('close', finish)
    })
    if (this.closed) throw new OutputClosedError()
  }

  async commit(): Promise<void> {
    this.stream.off('error', this.onError)
  }

  abort(): void {
    this.stream.off('error', this.onError)
  }
}

/**
 * A temp file beside `path` for writers that make the file themselves (DuckDB COPY): `commit` fsyncs it and renames
 * it into place, `abort` deletes it, so a failed export never leaves a half-written file under the target name.
 */
export class TempTarget {
  readonly tempPath: string
  private done = false

  constructor(readonly path: string) {
    this.tempPath = join(
      dirname(path),
      `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    )
  }

  commit(): void {
    const fd = openSync(this.tempPath, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(this.tempPath, this.path)
    this.done = true
  }

  abort(): void {
    if (this.done) return
    this.done = true
    rmSync(this.tempPath, {force: true})
  }
}
