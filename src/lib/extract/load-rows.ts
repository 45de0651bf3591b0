import type {Engine} from '../engine/engine.js'
import {sqlIdentifier} from '../engine/sql.js'

/** A column of a local extract table: its name and DuckDB type, the same as the DuckDB path gives it. */
export interface LocalColumn {
  name: string
  type: string
}

/** Rows gathered as text before each insert into the typed table: bounded memory, few statements. */
const BATCH_ROWS = 50_000

/**
 * Turns one value of a remote row, as extract SQL encodes it (trino-sql.ts), into the local column's type: times
 * from whole milliseconds, nested values from JSON text, everything else by DuckDB's cast from text.
 */
function decode(column: LocalColumn, text: string): string {
  const type = column.type.toUpperCase()
  if (type === 'TIMESTAMPTZ' || type === 'TIMESTAMP WITH TIME ZONE') {
    // The engine's session is in UTC (Engine.open), so the local time of make_timestamp is the UTC instant.
    return `CAST(make_timestamp(CAST(${text} AS BIGINT) * 1000) AS TIMESTAMPTZ)`
  }
  if (type.endsWith('[]') || type.startsWith('STRUCT') || type.startsWith('MAP')) {
    return `CAST(CAST(${text} AS JSON) AS ${column.type})`
  }
  return `CAST(${text} AS ${column.type})`
}

/**
 * A local table filled from pages of remote rows: created with the given columns (replacing one of that name), fed
 * page by page through a text staging table and DuckDB's appender, then cast to each column's type in batches, so
 * a large extract never sits in memory whole. `finish()` loads the last batch and drops the staging table.
 */
export class RowLoader {
  private readonly staging: string
  private pending = 0

  private constructor(
    private readonly engine: Engine,
    private readonly table: string,
    private readonly columns: readonly LocalColumn[],
  ) {
    this.staging = `__staging_${table}`
  }

  static async create(engine: Engine, table: string, columns: readonly LocalColumn[]): Promise<RowLoader> {
    const loader = new RowLoader(engine, table, columns)
    const typed = columns.map((c) => `${sqlIdentifier(c.name)} ${c.type}`).join(', ')
    const text = columns.map((c) => `${sqlIdentifier(c.name)} VARCHAR`).join(', ')
    await engine.run(`CREATE OR REPLACE TEMP TABLE ${sqlIdentifier(table)} (${typed})`)
    await engine.run(`CREATE OR REPLACE TEMP TABLE ${sqlIdentifier(loader.staging)} (${text})`)
    return loader
  }

  /** Appends rows whose values are in the columns' order, as the remote engine sent them. */
  async append(rows: readonly unknown[][]): Promise<void> {
    const appender = await this.engine.connection.createAppender(this.staging, 'main', 'temp')
    try {
      for (const row of rows) {
        for (let i = 0; i < this.columns.length; i++) {
          const value = row[i]
          if (value === null || value === undefined) appender.appendNull()
          else appender.appendVarchar(typeof value === 'string' ? value : JSON.stringify(value))
        }
        appender.endRow()
      }
      appender.flushSync()
    } finally {
      appender.closeSync()
    }
    this.pending += rows.length
    if (this.pending >= BATCH_ROWS) await this.insertPending()
  }

  async finish(): Promise<void> {
    await this.insertPending()
    await this.engine.run(`DROP TABLE IF EXISTS ${sqlIdentifier(this.staging)}`)
  }

  private async insertPending(): Promise<void> {
    if (this.pending === 0) return
    const casts = this.columns.map((c) => `${decode(c, sqlIdentifier(c.name))} AS ${sqlIdentifier(c.name)}`)
    await this.engine.run(
      `INSERT INTO ${sqlIdentifier(this.table)} SELECT ${casts.join(', ')} FROM ${sqlIdentifier(this.staging)}`,
    )
    await this.engine.run(`DELETE FROM ${sqlIdentifier(this.staging)}`)
    this.pending = 0
  }
}
