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
}

/**
 * A DuckDB session: one in-memory database and connection. Lake tables are registered as views over their current
 * snapshot (see lake/). `close()` is idempotent and always called in `finally` by whoever opened the engine.
 */
export class Engine {
  private closed = false

  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
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
      const engine = new Engine(instance, await instance.connect())
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
    await this.connection.run(sql, values)
  }

  /** Runs a query and returns its rows as JSON-friendly objects (numbers that may overflow come as strings). */
  async rows(sql: string, values?: DuckDBValue[]): Promise<Record<string, Json>[]> {
    const reader = await this.connection.runAndReadAll(sql, values)
    return reader.getRowObjectsJson()
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
