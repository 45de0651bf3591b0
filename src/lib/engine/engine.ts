import {randomUUID} from 'node:crypto'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type DuckDBConnection, DuckDBInstance, type DuckDBValue, type Json} from '@duckdb/node-api'

export interface EngineOptions {
  /** DuckDB worker threads; DuckDB's default is one per core. */
  threads?: number
  /** Memory limit such as "2GB", so large jobs spill to disk instead of growing without bound. */
  memoryLimit?: string
  /** Where DuckDB spills beyond the memory limit. [default: a folder of its own under the OS temp folder ($TMPDIR)] */
  spillDirectory?: string
  /**
   * Aborting it interrupts the running statement (DuckDB checks between vectors) and fails every later one with the
   * signal's reason, so a long analysis stops on Ctrl-C or a cron job's SIGTERM instead of running to its end.
   */
  signal?: AbortSignal
}

/**
 * A DuckDB session: one in-memory database and connection. Lake tables are registered as views over their current
 * snapshot (see lake/). `close()` is idempotent and always called in `finally` by whoever opened the engine.
 */
export class Engine {
  private closed = false
  /** Above zero while a shielded piece of work runs: its statements are not interrupted. */
  private shieldDepth = 0
  private readonly translators: ((error: unknown) => unknown)[] = []

  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    private readonly signal?: AbortSignal,
  ) {}

  static async open(options: EngineOptions = {}): Promise<Engine> {
    const config: Record<string, string> = {}
    if (options.threads) config.threads = String(options.threads)
    // DuckDB's default limit is 80% of RAM; ecap runs beside other work (Kafka, cron jobs) and should stay small,
    // spilling to disk beyond the limit instead.
    config.memory_limit = options.memoryLimit ?? '1GB'
    // DuckDB's default spill folder for an in-memory database is ./.tmp, i.e. wherever ecap was started (a cron job's
    // folder, a read-only one). A private folder under $TMPDIR instead; DuckDB creates it on the first spill and
    // removes it on close.
    config.temp_directory = options.spillDirectory ?? join(tmpdir(), `ecap-duckdb-${process.pid}-${randomUUID()}`)
    const instance = await DuckDBInstance.create(':memory:', config)
    try {
      const engine = new Engine(instance, await instance.connect(), options.signal)
      // Dates of TIMESTAMPTZ values (the event_date partitions) are UTC dates, whatever the machine's zone.
      await engine.run("SET TimeZone = 'UTC'")
      return engine
    } catch (error) {
      instance.closeSync()
      throw error
    }
  }

  /** Runs a statement; values bind to `$1`/`?` parameters. */
  async run(sql: string, values?: DuckDBValue[]): Promise<void> {
    await this.statement(() => this.connection.run(sql, values))
  }

  /** Runs a query and returns its result by column (cheaper than row objects for many rows). */
  async columns(sql: string, values?: DuckDBValue[]): Promise<DuckDBValue[][]> {
    const reader = await this.statement(() => this.connection.runAndReadAll(sql, values))
    return reader.getColumns()
  }

  /**
   * Runs `work` to its end even if the signal aborts meanwhile; an abort before it starts still stops it. For a group
   * of saves that belong together (an analysis's several result tables): stopping between them would leave some
   * tables of the new run beside others of the old one.
   */
  async shielded<T>(work: () => Promise<T>): Promise<T> {
    this.signal?.throwIfAborted()
    this.shieldDepth++
    try {
      return await work()
    } finally {
      this.shieldDepth--
    }
  }

  /** Runs a query and returns its rows as JSON-friendly objects (numbers that may overflow come as strings). */
  async rows(sql: string, values?: DuckDBValue[]): Promise<Record<string, Json>[]> {
    const reader = await this.statement(() => this.connection.runAndReadAll(sql, values))
    return reader.getRowObjectsJson()
  }

  /**
   * Has `translate` turn what this session's statements throw into ecap's own errors (it returns anything not of its
   * kind unchanged). An extension's errors are its owner's to name: attachS3 registers one for httpfs, so that a store
   * that stops answering mid-query is the same retriable failure as when the AWS SDK finds it so.
   */
  translateErrors(translate: (error: unknown) => unknown): void {
    this.translators.push(translate)
  }

  private async statement<T>(statement: () => Promise<T>): Promise<T> {
    try {
      return await this.interruptible(statement)
    } catch (error) {
      throw this.translators.reduce((e, translate) => translate(e), error)
    }
  }

  /** Runs one statement; once the signal is aborted, fails with its reason rather than DuckDB's "Interrupted!". */
  private async interruptible<T>(statement: () => Promise<T>): Promise<T> {
    const signal = this.signal
    if (!signal || this.shieldDepth > 0) return statement()
    signal.throwIfAborted()
    // interrupt() reaches only a statement DuckDB has begun: an abort in the moment before would be lost, so it is
    // repeated until this statement ends.
    let repeat: NodeJS.Timeout | undefined
    const onAbort = () => {
      this.connection.interrupt()
      repeat = setInterval(() => this.connection.interrupt(), 100)
    }
    signal.addEventListener('abort', onAbort, {once: true})
    try {
      return await statement()
    } catch (error) {
      signal.throwIfAborted()
      throw error
    } finally {
      signal.removeEventListener('abort', onAbort)
      clearInterval(repeat)
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.connection.closeSync()
    this.instance.closeSync()
  }
}

/** Opens an engine, runs `work` with it, and closes it whatever happens. */
export async function withEngine<T>(work: (engine: Engine) => Promise<T>, options: EngineOptions = {}): Promise<T> {
  const engine = await Engine.open(options)
  try {
    return await work(engine)
  } finally {
    engine.close()
  }
}

/**
 * Opens an engine for `work` and closes it after, as `withEngine` does. A lib service that needs a fresh session
 * of its own (not the one its caller holds) takes one of these, so the caller still decides how engines are opened
 * and binds each to its abort signal (`EcapCommand.withEngine`).
 */
export type EngineOpener = <T>(
  work: (engine: Engine) => Promise<T>,
  options?: Omit<EngineOptions, 'signal'>,
) => Promise<T>
