import {AtomicFile} from '../../atomic-file.js'
import {serializeEvent} from '../../events/serialize.js'
import {writeEventBytes} from '../../events/serialize-bytes.js'
import type {ShopEvent} from '../../events/types.js'
import type {EventSink} from './sink.js'

/** Bytes of NDJSON gathered before one write: large writes keep the syscall count low. */
const CHUNK_BYTES = 1 << 20
/** Room left in the chunk below which it is written out before the next event: far more than a generated line. */
const LINE_ROOM = 1 << 16

/** Writes events as NDJSON, one JSON object per line, to a file (atomically) or a stream such as stdout. */
export class NdjsonSink implements EventSink {
  // Each event is written straight into a byte buffer (writeEventBytes): building its line as a string, then joining
  // lines and encoding them, cost most of this sink's time; gathering one long string instead cost more still, as
  // the young-generation GC copied megabytes of live lines again and again (6 s per million events).
  private chunk: Buffer = Buffer.allocUnsafe(CHUNK_BYTES)
  private used = 0
  /**
   * A file's chunks are written in the background (the write copied 290 MB per million events on the generator's
   * thread) from two buffers in turn: this one is filled while the other is written.
   */
  private spare: Buffer | undefined
  /** The background write of the spare buffer, if one was started; a failure surfaces at the next flush or commit. */
  private writing: Promise<void> | undefined
  /** The flush that waits for `writing` before it starts the next background write: abort must wait for it too. */
  private flushing: Promise<void> | undefined
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
    if (this.chunk.length - this.used < LINE_ROOM) {
      const flushed = this.flush()
      if (flushed) return flushed.then(() => this.writeEvent(event))
    }
    return this.writeEvent(event)
  }

  private writeEvent(event: ShopEvent): void | Promise<void> {
    const end = writeEventBytes(event, this.chunk, this.used)
    if (end >= 0 && end < this.chunk.length) {
      this.chunk[end] = 10
      this.used = end + 1
      return
    }
    // A value that needs escaping or non-ASCII bytes, or a line longer than the room left: the string path, whose
    // text is what writeEventBytes would have written. What the byte writer left past `used` is overwritten.
    const text = `${serializeEvent(event)}\n`
    const maxBytes = text.length * 3
    // Flush first when the text might not fit; text larger than the whole buffer gets a buffer of its own.
    if (this.used + maxBytes > this.chunk.length) {
      const flushed = this.flush()
      if (flushed) return flushed.then(() => this.writeText(text, maxBytes))
    }
    this.writeText(text, maxBytes)
  }

  private writeText(text: string, maxBytes: number): void {
    if (this.used + maxBytes > this.chunk.length) {
      const larger = Buffer.allocUnsafe(this.used + maxBytes)
      this.chunk.copy(larger, 0, 0, this.used)
      this.chunk = larger
    }
    this.used += this.chunk.write(text, this.used)
  }

  /**
   * Hands the filled part of the chunk on. Afterwards the chunk is empty and free to fill, once a returned promise
   * has settled.
   */
  private flush(): void | Promise<void> {
    if (this.used === 0) return
    const bytes = this.chunk.subarray(0, this.used)
    this.used = 0
    if (this.file) {
      this.flushing = this.flushInBackground(this.file, bytes)
      return this.flushing
    }
    if (!this.stream || this.streamClosed) return
    // The stream keeps the buffer until it is written, so the next lines go to a fresh one.
    this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, this.chunk.length))
    if (!this.stream.write(bytes)) return this.drain()
  }

  /** Starts writing this chunk once the spare's write is done, and fills the spare meanwhile. */
  private async flushInBackground(file: AtomicFile, bytes: Buffer): Promise<void> {
    const full = this.chunk
    await this.writing
    this.writing = file.writeBytesInBackground(bytes)
    // Keep the rejection observed; it is raised by the next await of `writing`.
    this.writing.catch(() => {})
    this.chunk = this.spare ?? Buffer.allocUnsafe(CHUNK_BYTES)
    this.spare = full
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
    await this.flush()
    await this.writing
    this.file?.commit()
  }

  async abort(): Promise<void> {
    this.used = 0
    // The file descriptor is closed only once no write can still use it (its number could be reused at once): a
    // flush still waiting for the previous write starts one more when that settles, so it is waited for first.
    await this.flushing?.catch(() => {})
    await this.writing?.catch(() => {})
    this.file?.abort()
  }
}
