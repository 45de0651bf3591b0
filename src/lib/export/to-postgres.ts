import type pg from 'pg'
import type {Engine} from '../engine/engine.js'
import {sqlIdentifier} from '../engine/sql.js'
import {DataError, EcapError, UnavailableError, UsageError} from '../errors.js'
import {type LakeView, registerLakeViews, SHOP_VIEWS} from './lake-views.js'
import {connectPg, describeTarget, type PgTarget} from './postgres-connection.js'
import {type PgColumn, replaceTable} from './postgres-load.js'
import {prepareQuery} from './write-result.js'

/** PostgreSQL cuts longer identifiers short (NAMEDATALEN - 1 bytes): a name must fit whole to be found again. */
const PG_NAME_BYTES = 63

export interface PostgresExportOptions {
  lake: string
  /** Views to export; every shop view and saved analysis result when absent. */
  tables?: string[]
  schema: string
  /** A variable holding a postgres:// URL (see postgres-connection.ts). */
  urlEnv?: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** Called as each table starts and is committed, for progress. */
  onTable?: (event: {table: string; done?: PgTableResult}) => void
}

export interface PgTableResult {
  /** The view of the lake. */
  table: string
  /** `schema.table` in PostgreSQL. */
  pgTable: string
  rows: number
  columns: PgColumn[]
  elapsedMs: number
}

export interface PostgresExportResult {
  lake: string
  /** `user@host:port/database`: never the password. */
  server: string
  schema: string
  tables: PgTableResult[]
  /** Copies of an event_id already seen that the shop views set aside, when a shop view was exported; else 0. */
  duplicateEvents: number
  /** Lake tables that could not be read and were left out, with the reason. */
  skipped: {name: string; reason: string}[]
  elapsedMs: number
}

/**
 * Exports views of the lake to PostgreSQL tables in `schema`, each replaced whole in a transaction of its own, so BI
 * tools that read PostgreSQL (Metabase, Superset, Power BI) see the shop views and analysis results. Every name is
 * checked before the server is contacted; a table that fails keeps its old rows, and the error says which tables
 * were already replaced.
 */
export async function exportToPostgres(engine: Engine, options: PostgresExportOptions): Promise<PostgresExportResult> {
  const started = Date.now()
  checkName(options.schema, '--schema')
  const wantsShop =
    options.tables === undefined || options.tables.some((t) => (SHOP_VIEWS as readonly string[]).includes(t))
  const lake = await registerLakeViews(engine, options.lake, {shopViews: wantsShop})
  const views = chooseViews(lake.views, options.tables, lake.lake)
  const asOf = lake.asOf === null ? '' : `, shop views as of ${lake.asOf}`
  const queries = []
  for (const view of views) {
    checkName(view.name, '--tables')
    const query = await prepareQuery(engine, `SELECT * FROM ${sqlIdentifier(view.name)}`)
    for (const column of query.columns) checkName(column.name, `a column of ${view.name}`)
    queries.push({view, query})
  }

  const {client, target} = await connectPg({urlEnv: options.urlEnv, env: options.env})
  const done: PgTableResult[] = []
  try {
    await createSchema(client, options.schema, target)
    for (const {view, query} of queries) {
      options.onTable?.({table: view.name})
      const tableStarted = Date.now()
      const exportedAt = new Date().toISOString()
      try {
        const loaded = await replaceTable(engine, client, {
          schema: options.schema,
          name: view.name,
          query,
          comment: `ecap export of ${view.name} (${view.kind === 'analysis' ? 'analysis result' : view.kind === 'shop' ? 'shop view' : 'lake table'}) from the lake at ${lake.lake}${asOf}; exported ${exportedAt}. Replaced whole by each export.`,
          signal: options.signal,
        })
        const result = {
          table: view.name,
          pgTable: `${options.schema}.${view.name}`,
          ...loaded,
          elapsedMs: Date.now() - tableStarted,
        }
        done.push(result)
        options.onTable?.({table: view.name, done: result})
      } catch (error) {
        options.signal?.throwIfAborted()
        throw loadError(error, `${options.schema}.${view.name}`, target, done)
      }
    }
  } finally {
    await client.end().catch(() => {})
  }
  return {
    lake: lake.lake,
    server: describeTarget(target),
    schema: options.schema,
    tables: done,
    duplicateEvents: views.some((v) => v.kind === 'shop') ? lake.duplicateEvents : 0,
    skipped: lake.skipped,
    elapsedMs: Date.now() - started,
  }
}

function chooseViews(views: LakeView[], wanted: string[] | undefined, lake: string): LakeView[] {
  const names = views.map((v) => v.name)
  if (wanted === undefined) {
    // The shop and what ecap analyze saved: what a BI dashboard is built on. Other lake tables on request.
    const chosen = views.filter((v) => v.kind !== 'table')
    if (chosen.length === 0) {
      throw new UsageError('TABLE_UNKNOWN', `The lake at ${lake} has no shop views or analysis results yet.`, {
        hints: ['ecap generate --to lake', 'ecap analyze all'],
      })
    }
    return chosen
  }
  const unknown = wanted.filter((name) => !names.includes(name))
  if (unknown.length > 0) {
    throw new UsageError(
      'TABLE_UNKNOWN',
      names.length === 0
        ? `The lake at ${lake} has no tables yet.`
        : `No table ${unknown.join(', ')} in the lake. Tables: ${names.join(', ')}.`,
      {hints: names.length === 0 ? ['ecap generate --to lake'] : [`--tables ${names.slice(0, 3).join(',')}`]},
    )
  }
  return [...new Set(wanted)].map((name) => views.find((v) => v.name === name) as LakeView)
}

function checkName(name: string, flag: string): void {
  if (name === '' || Buffer.byteLength(name) > PG_NAME_BYTES || name.includes('\u0000')) {
    throw new UsageError(
      'PG_NAME_INVALID',
      `${flag}: "${name}" cannot be a PostgreSQL name (1 to ${PG_NAME_BYTES} bytes, no NUL).`,
      {
        hints: flag === '--schema' ? ['--schema ecap'] : ['ecap export <table> -o file.parquet exports it to a file'],
      },
    )
  }
}

async function createSchema(client: pg.Client, schema: string, target: PgTarget): Promise<void> {
  try {
    // Looked up first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema is there, which a
    // user granted only a schema of its own does not have.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
    if (exists.rowCount !== 0) return
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(schema)}`)
  } catch (error) {
    // Two exports creating it at once: one wins, and the schema is there either way.
    if ((error as {code?: string}).code === '23505') return
    throw loadError(error, schema, target, [])
  }
}

/** What a failed load means for the user, with the tables already replaced (they stay replaced). */
function loadError(error: unknown, what: string, target: PgTarget, done: PgTableResult[]): EcapError {
  const where = describeTarget(target)
  const code = (error as {code?: string}).code
  const message = error instanceof Error ? error.message : String(error)
  const kept = `${what} keeps its old rows${done.length > 0 ? `; already replaced: ${done.map((t) => t.pgTable).join(', ')}` : ''}.`
  if (error instanceof EcapError) {
    return new EcapError(error.code, `${error.message} ${kept}`, {
      exitCode: error.exitCode,
      hints: error.hints,
      cause: error,
    })
  }
  if (code === '42501') {
    // Replacing a table means dropping it, which only its owner may do; making a schema needs CREATE on the database.
    const hints = /must be owner/.test(message)
      ? [`ALTER TABLE ${what} OWNER TO ${target.user}; (as its owner)`, `--schema a schema of ${target.user}'s own`]
      : [
          `GRANT CREATE ON DATABASE ${target.database} TO ${target.user}; (as the database owner)`,
          `--schema a schema ${target.user} may create in`,
        ]
    return new UsageError('PG_PERMISSION_DENIED', `PostgreSQL at ${where}: ${message}. ${kept}`, {cause: error, hints})
  }
  if (code === '2BP01') {
    return new UsageError('PG_TABLE_IN_USE', `PostgreSQL at ${where}: ${message}. ${kept}`, {
      cause: error,
      hints: [
        "The table's columns changed, so ecap must replace the table, and it never drops your objects: drop the views, export again, and create them on the new columns.",
      ],
    })
  }
  if (code === '42809') {
    return new UsageError(
      'PG_NAME_TAKEN',
      `PostgreSQL at ${where}: ${what} is not a table ecap can replace (${message}). ${kept}`,
      {
        cause: error,
        hints: ["--schema a schema of ecap's own, e.g. --schema ecap"],
      },
    )
  }
  if (code?.startsWith('22')) {
    return new DataError('PG_VALUE_REFUSED', `PostgreSQL at ${where} refused a value of ${what}: ${message}. ${kept}`, {
      cause: error,
      hints: [
        'ecap export <table> -o check.csv --where "..." finds the row; PostgreSQL text cannot hold NUL characters.',
      ],
    })
  }
  if (/^(08|57P)/.test(code ?? '') || /Connection terminated|ECONNRESET|EPIPE|not queryable/i.test(message)) {
    return new UnavailableError(
      'PG_CONNECTION_LOST',
      `Lost the connection to PostgreSQL at ${where}: ${message}. ${kept}`,
      {
        cause: error,
        hints: [`pg_isready -h ${target.host} -p ${target.port}`, 'Run the export again: tables are replaced whole.'],
      },
    )
  }
  return new EcapError('PG_EXPORT_FAILED', `PostgreSQL at ${where}: ${message}. ${kept}`, {
    cause: error,
    hints: ['Run again with ECAP_DEBUG=1 for a stack trace.'],
  })
}
