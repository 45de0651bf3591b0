import {randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import type pg from 'pg'
import {escapeIdentifier, escapeLiteral} from 'pg'
import {from as copyFrom} from 'pg-copy-streams'
import type {Engine} from '../engine/engine.js'
import {failpoint} from '../failpoints.js'
import {copyLineSql, pgColumnType} from './postgres-types.js'
import type {PreparedQuery} from './write-result.js'

/** The first key of the advisory lock that orders the swaps of one table (see replaceTable). */
const SWAP_LOCK = 'ecap export --to postgres'

export interface PgColumn {
  name: string
  duckdbType: string
  pgType: string
}

export interface ReplaceTableOptions {
  schema: string
  /** The table's name in PostgreSQL. */
  name: string
  /** What fills it: a checked query over the lake's views. */
  query: PreparedQuery
  /** COMMENT ON TABLE, for whoever finds the table in a BI tool. */
  comment: string
  signal?: AbortSignal
}

export interface ReplaceTableResult {
  rows: number
  columns: PgColumn[]
}

/**
 * Replaces `schema.name` with the rows of `query` in one transaction: a new table under a name no one else uses is
 * created and filled by COPY, streamed from DuckDB one chunk at a time (memory stays bounded whatever the size), then
 * the old table is dropped and the new one renamed into its place, and all of it commits at once. Readers see the old
 * table or the new one, never a half-filled one; any failure (a bad value, a lost connection, Ctrl-C, a kill, which
 * ends the session) rolls the whole transaction back and leaves the old table as it was.
 */
export async function replaceTable(
  engine: Engine,
  client: pg.Client,
  options: ReplaceTableOptions,
): Promise<ReplaceTableResult> {
  const columns = options.query.columns.map((c) => ({
    name: c.name,
    duckdbType: c.type.toString(),
    pgType: pgColumnType(c.type).pgType,
  }))
  const schema = escapeIdentifier(options.schema)
  const target = `${schema}.${escapeIdentifier(options.name)}`
  // Invisible to every other session until the commit, and unique, so two exports never share one.
  const loadName = `_ecap_load_${randomBytes(6).toString('hex')}`
  const load = `${schema}.${escapeIdentifier(loadName)}`
  const definition = columns.map((c) => `${escapeIdentifier(c.name)} ${c.pgType}`).join(', ')

  // Ctrl-C between statements: ending the session is what makes the server roll back at once, even while a statement
  // waits for a lock (a BI query still reading the old table).
  const onAbort = () => {
    engine.connection.interrupt()
    client.end().catch(() => {})
  }
  options.signal?.addEventListener('abort', onAbort)
  try {
    options.signal?.throwIfAborted()
    await client.query('BEGIN')
    try {
      await client.query(`CREATE TABLE ${load} (${definition})`)
      const rows = await copyRows(engine, client, load, options)
      // Two exports of one table at once (a cron run overlapping a manual one) take turns to swap: without this, when
      // the table is new, neither sees the other's uncommitted rename and the later one fails on the catalog's unique
      // name. Held to the commit; taken after the COPY, so their loads still run side by side.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
        SWAP_LOCK,
        JSON.stringify([options.schema, options.name]),
      ])
      await client.query(`DROP TABLE IF EXISTS ${target}`)
      await client.query(`ALTER TABLE ${load} RENAME TO ${escapeIdentifier(options.name)}`)
      await client.query(`COMMENT ON TABLE ${target} IS ${escapeLiteral(options.comment)}`)
      options.signal?.throwIfAborted()
      await client.query('COMMIT')
      return {rows, columns}
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    }
  } catch (error) {
    options.signal?.throwIfAborted()
    throw error
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** COPY FROM STDIN in CSV, fed chunk by chunk with back-pressure; returns the rows the server counted. */
async function copyRows(
  engine: Engine,
  client: pg.Client,
  load: string,
  options: ReplaceTableOptions,
): Promise<number> {
  const query = options.query
  const from = `(\n${query.sql}\n) AS q(${query.columns.map((_, i) => `c${i}`).join(', ')})`
  const result = await engine.connection.stream(copyLineSql(from, query.columns))
  const signal = options.signal
  async function* lines() {
    let first = true
    for (;;) {
      signal?.throwIfAborted()
      const chunk = await result.fetchChunk()
      if (!chunk || chunk.rowCount === 0) return
      yield `${(chunk.getColumnValues(0) as string[]).join('\n')}\n`
      // Reached with the first chunk sent and the COPY still open: a test's fault lands mid-load.
      if (first) failpoint('export.postgres.copy')
      first = false
    }
  }
  const copy = client.query(copyFrom(`COPY ${load} FROM STDIN (FORMAT csv)`))
  // A failure on either side destroys the COPY stream, which sends CopyFail: the server discards what it took.
  await pipeline(Readable.from(lines()), copy)
  return copy.rowCount
}
