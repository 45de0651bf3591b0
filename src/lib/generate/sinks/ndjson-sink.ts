import {AtomicFile} from '../../atomic-file.js'
import {serializeEvent} from '../../events/serialize.js'
import type {ShopEvent} from '../../events/types.js'
import type {EventSink} from './sink.js'

/** Bytes of NDJSON gathered before one write: large writes keep the syscall count low. */
const CHUNK_BYTES = 1 << 20
/** Lines serialised before they are encoded to bytes together. */
const LINES_PER_BATCH = 256

/** Writes events as NDJSON, one JSON object per line, to a file (atomically) or a stream such as stdout. */
export class NdjsonSink implements EventSink {
  // Lines are encoded straight into a byte buffer. Gathering them as one long string instead keeps every line alive
  // until the flush, and the young-generation GC then copies megabytes of them again and again (measured: 6 s per
  // million events).
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES)
  private used = 0
  private readonly lines: string[] = []
  private streamClosed = false

  private constructor(
    readonly target: string,
    private readonly file: AtomicFile | undefined,
    private readonly stream: NodeJS.WritableStream | undefined,
  ) {
    stream?.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') this.streamClosed = true
    })
  }

  /**
   * A sink that appears at `path` only once the run succeeds; `durable: false` skips the fsync for a scratch file
   * (see AtomicFile).
   */
  static toFile(path: string, flag = '--output', {durable = true}: {durable?: boolean} = {}): NdjsonSink {
    return new NdjsonSink(path, new AtomicFile(path, flag, durable), undefined)
  }

  static toStream(stream: NodeJS.WritableStream, name = 'stdout'): NdjsonSink {
    return new NdjsonSink(name, undefined, stream)
  }

  get onAbort(): 'nothing-left' | 'sent-events-stay' {
    return this.file ? 'nothing-left' : 'sent-events-stay'
  }

  get closed(): boolean {
    return this.streamClosed
  }

  write(event: ShopEvent): void | Promise<void> {
    this.lines.push(serializeEvent(event))
    if (this.lines.length === LINES_PER_BATCH) return this.encodeLines()
    return undefined
  }

  /** Encodes the gathered lines as one flat string (join is far cheaper than encoding each line on its own). */
  private encodeLines(): void | Promise<void> {
    if (this.lines.length === 0) return
    const text = `${this.lines.join('\n')}\n`
    this.lines.length = 0
    const maxBytes = text.length * 3
    // Flush first when the batch might not fit; a batch larger than the whole buffer gets a buffer of its own.
    const flushed = this.used + maxBytes > this.chunk.length ? this.flush() : undefined
    if (maxBytes > this.chunk.length) this.chunk = Buffer.allocUnsafe(maxBytes)
    this.used += this.chunk.write(text, this.used)
    return flushed
  }

  private flush(): void | Promise<void> {
    if (this.used === 0) return
    const bytes = this.chunk.subarray(0, this.used)
    this.used = 0
    if (this.file) return this.file.writeBytes(bytes)
    if (!this.stream || this.streamClosed) return
    // The stream keeps the buffer until it is written, so the next lines go to a fresh one.
    this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, this.chunk.length))
    if (!this.stream.write(bytes)) return this.drain()
  }

  private drain(): Promise<void> {
    const stream = this.stream as NodeJS.WritableStream
    return new Promise((resolve) => {
      const done = () => {
        stream.off('drain', done)
        stream.off('close', done)
        stream.off('error', done)
        resolve()
      }
      stream.on('drain', done)
      stream.on('close', done)
      stream.on('error', done)
    })
  }

  async commit(): Promise<void> {
    await this.encodeLines()
    await this.flush()
    this.file?.commit()
  }

  async abort(): Promise<void> {
    this.used = 0
    this.lines.length = 0
    this.file?.abort()
  }
}
