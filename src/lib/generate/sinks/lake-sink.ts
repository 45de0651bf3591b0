import {mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import type {Engine} from '../../engine/engine.js'
import type {ShopEvent} from '../../events/types.js'
import type {AddAction} from '../../lake/actions.js'
import {
  type AppendResult,
  assertAppendable,
  commitAppend,
  EVENTS_SPEC,
  EVENTS_TABLE,
  stagingPath,
  tablePath,
} from '../../lake/lake.js'
import {writeEventFiles} from '../../lake/parquet-files.js'
import {type LakeStorage, storageAt} from '../../lake/storage.js'
import {NdjsonSink} from './ndjson-sink.js'
import type {EventSink} from './sink.js'

/**
 * Events staged before DuckDB turns them into Parquet: bounds memory and disk use whatever the run's size. DuckDB's
 * partitioned COPY of a chunk holds a writer per event_date it spans (~90-130 days for 250,000 events); at 100,000
 * the peak RSS of 1M events to a lake was 355-403 MB instead of 451-549 MB, with ~1% more files (a chunk's first and
 * last day are split) and CPU within the noise of the runs.
 */
const DEFAULT_CHUNK_EVENTS = 100_000

/**
 * Writes generated events into `<lake>/events`. Events are staged as NDJSON in chunks; DuckDB turns each chunk into
 * Parquet files (parsing in parallel); the whole run becomes one Delta commit at the end, so a reader sees all of
 * it or none of it. Files of an interrupted run are never committed, and `ecap lake vacuum` removes them.
 */
export class LakeSink implements EventSink {
  readonly target: string
  /** The events table's storage: a local folder or an object store's prefix, never a path made with node:fs. */
  private readonly storage: LakeStorage
  private readonly stagingDir: string
  private chunk: NdjsonSink
  private chunkFile: string
  private chunkEvents = 0
  private chunkSeq = 0
  private readonly adds: AddAction[] = []
  /** The chunk DuckDB is turning into Parquet while the generator fills the next one (at most one at a time). */
  private converting: Promise<void> = Promise.resolve()
  /** The check that the table takes ecap's appends, made before the first event is staged. */
  private checked: Promise<void> | undefined
  /** Set once the commit has landed: its files are the table's from then on, whatever fails after. */
  private landed = false
  result: AppendResult | undefined

  constructor(
    private readonly engine: Engine,
    private readonly lake: string,
    private readonly chunkSize = DEFAULT_CHUNK_EVENTS,
  ) {
    this.target = tablePath(lake, EVENTS_TABLE)
    this.storage = storageAt(this.target)
    this.stagingDir = join(stagingPath(lake), `generate-${process.pid}-${Date.now().toString(36)}`)
    mkdirSync(this.stagingDir)
    this.chunkFile = this.nextChunkFile()
    this.chunk = this.stageChunk()
  }

  readonly onAbort = 'nothing-left'

  get closed(): boolean {
    return false
  }

  write(event: ShopEvent): void | Promise<void> {
    // A table ecap must not write to (newer protocol, table features, another schema) is refused before a whole
    // run is generated and converted for nothing.
    if (this.checked === undefined) {
      // The table's folder is made (or, in an object store, its bucket checked) before any file goes into it.
      this.checked = assertAppendable(this.lake, EVENTS_SPEC, this.engine).then(() =>
        this.storage.prepare({creating: true}),
      )
      return this.checked.then(() => this.write(event))
    }
    const pending = this.chunk.write(event)
    this.chunkEvents++
    if (this.chunkEvents >= this.chunkSize) return this.writeChunk(pending)
    return pending
  }

  /**
   * A staged chunk is read by DuckDB right after it is written and then deleted, and a crash before the commit
   * loses the whole run anyway: its fsync (and the folder's) only waited for the disk.
   */
  private stageChunk(): NdjsonSink {
    return NdjsonSink.toFile(this.chunkFile, '--lake', {durable: false})
  }

  private nextChunkFile(): string {
    return join(this.stagingDir, `chunk-${++this.chunkSeq}.ndjson`)
  }

  private async writeChunk(pending?: void | Promise<void>): Promise<void> {
    await pending
    if (this.chunkEvents === 0) return
    await this.chunk.commit()
    // Back-pressure: wait for the previous conversion, then let DuckDB work on this chunk in its own threads while
    // the generator goes on with the next one.
    await this.converting
    const file = this.chunkFile
    // Shielded: an interrupted partitioned COPY leaves the part files it had begun, and only files it reports (adds)
    // are removed by abort(). Ctrl-C waits for this one chunk instead.
    this.converting = this.engine
      .shielded(() => writeEventFiles(this.engine, file, this.target))
      .then((adds) => {
        this.adds.push(...adds)
        rmSync(file, {force: true})
      })
    // Keep the rejection observed; it is raised by the next await of `converting`.
    this.converting.catch(() => {})
    this.chunkEvents = 0
    this.chunkFile = this.nextChunkFile()
    this.chunk = this.stageChunk()
  }

  async commit(): Promise<void> {
    await this.writeChunk()
    await this.converting
    await this.chunk.abort()
    this.result = await commitAppend(this.lake, this.adds, [], {
      engine: this.engine,
      onLanded: () => {
        this.landed = true
      },
    })
    rmSync(this.stagingDir, {recursive: true, force: true})
  }

  async abort(): Promise<void> {
    await this.converting.catch(() => {})
    await this.chunk.abort()
    // Files of chunks already converted were never committed: remove them now rather than leave them to vacuum
    // (which cannot run on a lake whose first run never committed). Once the commit landed they are data.
    if (!this.landed) {
      for (const add of this.adds) await this.storage.delete(decodeURIComponent(add.path))
    }
    rmSync(this.stagingDir, {recursive: true, force: true})
  }
}
