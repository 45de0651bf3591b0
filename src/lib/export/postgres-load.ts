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

/** The first key of the advisory lock that orders the exports of one table (see replaceTable). */
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
 * Replaces `schema.name` with the rows of `query` in one transaction, its rows streamed by COPY from DuckDB one chunk
 * at a time (memory stays bounded whatever the size). Two ways, both committed at once:
 * - the table exists with the same columns and types (every export but the first, or after a schema change):
 *   DELETE its rows and COPY the new ones into it. MVCC keeps every reader right, a REPEATABLE READ transaction whose
 *   snapshot is older included (it still sees the old rows); the table keeps its grants, indexes and dependent views,
 *   and readers never wait for a lock. The deleted rows are left for autovacuum.
 * - otherwise: a new table under a name no one else uses is filled, the old one dropped and the new one renamed into
 *   its place (a moment of exclusive lock).
 * Readers see the old rows or the new ones, never a half-filled table; any failure (a bad value, a lost connection,
 * Ctrl-C, a kill, which ends the session) rolls the whole transaction back and leaves the old table as it was.
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
      // Two exports of one table at once (a cron run overlapping a manual one) take turns, held to the commit: the
      // later one's DELETE then sees the earlier one's rows (a new statement, a new snapshot) and its rows stay, and
      // two first exports of a new table do not both create it.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
        SWAP_LOCK,
        JSON.stringify([options.schema, options.name]),
      ])
      // The load table's columns as PostgreSQL spells them, to compare with the existing table's.
      await client.query(`CREATE TABLE ${load} (${definition})`)
      const inPlace = await sameColumns(client, load, target)
      let rows: number
      if (inPlace) {
        await client.query(`DROP TABLE ${load}`)
        await client.query(`DELETE FROM ${target}`)
        rows = await copyRows(engine, client, target, options)
      } else {
        rows = await copyRows(engine, client, load, options)
        await client.query(`DROP TABLE IF EXISTS ${target}`)
        await client.query(`ALTER TABLE ${load} RENAME TO ${escapeIdentifier(options.name)}`)
      }
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

/** Whether `target` is an ordinary table with exactly the columns of `load`: the same names, order and types. */
async function sameColumns(client: pg.Client, load: string, target: string): Promise<boolean> {
  const {rows} = await client.query<{table: string; columns: string | null}>(
    `SELECT t.name AS table,
            (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
             FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
     FROM (VALUES ('load', $1::text), ('target', $2::text)) t(name, ref)
     LEFT JOIN pg_class c ON c.oid = to_regclass(t.ref) AND c.relkind = 'r'`,
    [load, target],
  )
  const of = (name: string) => rows.find((r) => r.table === name)?.columns ?? null
  return of('target') !== null && of('target') === of('load')
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
