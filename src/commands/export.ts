import {Args, Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {UsageError} from '../lib/errors.js'
import {type ExportResult, exportTable} from '../lib/export/export.js'
import {BINARY_FORMATS, DATA_FORMATS, formatOfPath} from '../lib/export/formats.js'
import {DEFAULT_PG_SCHEMA, DEFAULT_URL_ENV} from '../lib/export/postgres-defaults.js'
import type {PostgresExportResult} from '../lib/export/to-postgres.js'
import {duplicatesWarning} from '../lib/shop/views.js'
import {lakeFlag} from '../shared-flags.js'

/** Flags that only mean something for one destination. */
const FILE_FLAGS = ['output', 'format', 'where', 'columns'] as const
const POSTGRES_FLAGS = ['tables', 'schema', 'url-env'] as const

export default class ExportCommand extends EcapCommand<ExportResult | PostgresExportResult> {
  static override summary =
    'Export a table of the lake or an analysis result as Parquet, CSV, NDJSON, JSON or Arrow, or tables to PostgreSQL.'

  static override description =
    `<table> is a shop view (events with each event_id once, orders, order_items, customers, duplicate_events: the copies events leaves out, dead_letters), an analysis result (rfm, clv, fraud, kpi_*, funnel, cohort: whatever ecap analyze has saved) or any other table of the lake; an unknown name lists the ones there are.

The result is streamed, never held in memory: CSV, NDJSON, JSON and Arrow go out one DuckDB chunk at a time (Arrow as an IPC stream of record batches), Parquet is written by DuckDB row group by row group. A file appears under its name only when complete; a failed export leaves nothing. With -o - the data goes to stdout for another tool; Parquet, which has its footer at the end, is then written to a temp file first and copied out.

--where is SQL by design, as with duckdb -c: you own the lake. It is one predicate over the table's columns, run inside a subquery; ";" is refused, so it cannot chain statements.

--to postgres writes tables for BI tools (Metabase, Superset, Power BI) into a PostgreSQL schema (--schema, default ${DEFAULT_PG_SCHEMA}): every shop view and saved analysis result, or those --tables names. Each table is replaced whole in one transaction: readers see the old rows or the new ones, never half. The connection comes from libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE) or a postgres:// URL in ${DEFAULT_URL_ENV} or the variable --url-env names; a password is never a flag. An unreachable server or a refused login exits 4. See docs/postgres.md.`

  static override examples = [
    {description: 'Orders as Parquet', command: '<%= config.bin %> <%= command.id %> orders -o orders.parquet'},
    {
      description: 'Large orders of January as CSV, three columns',
      command: `<%= config.bin %> <%= command.id %> orders --format csv -o big.csv --where "net_total > 200 AND order_date < DATE '2026-02-01'" --columns order_id,customer_id,net_total`,
    },
    {
      description: 'Purchases as NDJSON into another tool',
      command: `<%= config.bin %> <%= command.id %> events --format ndjson -o - --where "event_type = 'purchase'" | jq .total`,
    },
    {
      description: 'An analysis result as an Arrow IPC stream',
      command: '<%= config.bin %> <%= command.id %> rfm --format arrow -o rfm.arrow',
    },
    {
      description: 'Orders, customers and RFM segments to PostgreSQL for a BI tool (connection from PG* variables)',
      command: '<%= config.bin %> <%= command.id %> --to postgres --tables orders,customers,rfm',
    },
  ]

  static override args = {
    table: Args.string({description: 'Table, view or analysis result to export (with --to postgres: like --tables).'}),
  }

  static override flags = {
    format: Flags.option({
      char: 'f',
      options: DATA_FORMATS,
      description: 'Output format [default: from the -o file extension, else csv].',
    })(),
    to: Flags.option({
      options: ['file', 'postgres'] as const,
      default: 'file' as const,
      description: 'Where the data goes: a file (-o) or PostgreSQL tables.',
    })(),
    output: Flags.string({char: 'o', description: 'File to write, or - for stdout.'}),
    where: Flags.string({
      char: 'w',
      description: 'SQL predicate that keeps rows, e.g. "total > 100 AND payment_method = \'card\'" (no ";").',
    }),
    columns: Flags.string({char: 'c', description: 'Comma-separated columns to keep, in this order.'}),
    tables: Flags.string({
      description: '--to postgres: comma-separated tables to export [default: every shop view and analysis result].',
    }),
    schema: Flags.string({description: `--to postgres: the schema the tables go to [default: ${DEFAULT_PG_SCHEMA}].`}),
    'url-env': Flags.string({
      description: `--to postgres: the environment variable holding a postgres:// URL [default: ${DEFAULT_URL_ENV} if set, else PG* variables].`,
    }),
    'memory-limit': Flags.string({description: 'DuckDB memory limit; larger work spills to disk.', default: '1GB'}),
    lake: lakeFlag,
  }

  public async run(): Promise<ExportResult | PostgresExportResult> {
    const {args, flags} = await this.parse(ExportCommand)
    const misplaced = (flags.to === 'postgres' ? FILE_FLAGS : POSTGRES_FLAGS).filter((f) => flags[f] !== undefined)
    if (misplaced.length > 0) {
      throw new UsageError(
        'FLAG_NOT_FOR_DESTINATION',
        `--${misplaced.join(', --')} ${misplaced.length === 1 ? 'does' : 'do'} not apply to --to ${flags.to}.`,
        {
          hints:
            flags.to === 'postgres'
              ? ['ecap export --to postgres --tables orders,rfm', 'ecap export orders -o orders.parquet']
              : ['ecap export --to postgres --tables orders,rfm --schema ecap'],
        },
      )
    }
    if (flags.to === 'postgres') return this.toPostgres(args.table, flags)
    if (args.table === undefined) {
      throw new UsageError('TABLE_MISSING', 'Name the table to export.', {
        hints: ['ecap export orders -o orders.parquet', 'ecap export --to postgres (every table, to PostgreSQL)'],
      })
    }
    if (flags.output === undefined) {
      throw new UsageError('OUTPUT_MISSING', `-o is missing: say where ${args.table} goes.`, {
        hints: [`-o ${args.table}.parquet`, '-o - (stdout)', '--to postgres'],
      })
    }
    const table = args.table
    const output = flags.output
    const toStdout = output === '-'
    const format = flags.format ?? (toStdout ? undefined : formatOfPath(output)) ?? 'csv'
    if (toStdout && this.jsonEnabled()) {
      throw new UsageError('STDOUT_TAKEN', '--json prints the summary on stdout, so the data cannot go there too.', {
        hints: [`-o ${table}.${format === 'arrow' ? 'arrow' : format} --json`, '-o - (without --json)'],
      })
    }
    if (toStdout && process.stdout.isTTY && BINARY_FORMATS.includes(format)) {
      throw new UsageError('BINARY_TO_TERMINAL', `${format} is binary; it would garble the terminal.`, {
        hints: [`-o ${table}.${format}`, `-o - | duckdb -c "..."`, '--format csv -o -'],
      })
    }
    const columns = flags.columns
      ?.split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '')
    const progress = this.progress()
    if (!toStdout) progress.start(`Exporting ${table}`)
    try {
      const lake = this.resolveConfig({lake: flags.lake}).lake.value
      const result = await this.withEngine(
        (engine) =>
          exportTable(engine, {
            lake,
            table,
            format,
            output,
            stdout: process.stdout,
            where: flags.where,
            columns,
            signal: this.signal,
          }),
        {memoryLimit: flags['memory-limit']},
      )
      const duplicates = duplicatesWarning(result.duplicateEvents)
      if (duplicates) this.warn(duplicates)
      if (!toStdout) {
        progress.succeed(
          `Exported ${result.rows.toLocaleString('en-US')} rows of ${result.table} to ${result.output} (${format}, ${(result.bytes / 2 ** 20).toFixed(1)} MiB) in ${(result.elapsedMs / 1000).toFixed(1)} s`,
        )
      }
      return result
    } catch (error) {
      if (!toStdout) progress.fail('Export failed; no file was written.')
      throw error
    }
  }

  private async toPostgres(
    table: string | undefined,
    flags: {tables?: string; schema?: string; 'url-env'?: string; lake?: string; 'memory-limit': string},
  ): Promise<PostgresExportResult> {
    if (table !== undefined && flags.tables !== undefined) {
      throw new UsageError('TABLES_TWICE', 'Name the tables either as the argument or with --tables, not both.', {
        hints: [`--tables ${[table, ...flags.tables.split(',')].join(',')}`],
      })
    }
    const listed = flags.tables
      ?.split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '')
    if (listed !== undefined && listed.length === 0) {
      throw new UsageError('TABLES_EMPTY', '--tables names no table.', {hints: ['--tables orders,customers,rfm']})
    }
    const progress = this.progress()
    try {
      const lake = this.resolveConfig({lake: flags.lake}).lake.value
      // pg is loaded only by the exports that use it, as the S3 SDK is only by S3 lakes.
      const {exportToPostgres} = await import('../lib/export/to-postgres.js')
      const result = await this.withEngine(
        (engine) =>
          exportToPostgres(engine, {
            lake,
            tables: table === undefined ? listed : [table],
            schema: flags.schema ?? DEFAULT_PG_SCHEMA,
            urlEnv: flags['url-env'],
            signal: this.signal,
            onTable: ({table: name, done}) => {
              if (done) progress.succeed(`${done.pgTable}: ${done.rows.toLocaleString('en-US')} rows`)
              else progress.start(`Exporting ${name} to PostgreSQL`)
            },
          }),
        {memoryLimit: flags['memory-limit']},
      )
      for (const skipped of result.skipped) this.warn(`${skipped.name} was left out: ${skipped.reason}`)
      const duplicates = duplicatesWarning(result.duplicateEvents)
      if (duplicates) this.warn(duplicates)
      const rows = result.tables.reduce((sum, t) => sum + t.rows, 0)
      progress.succeed(
        `Exported ${result.tables.length} tables (${rows.toLocaleString('en-US')} rows) to schema ${result.schema} of ${result.server} in ${(result.elapsedMs / 1000).toFixed(1)} s`,
      )
      return result
    } catch (error) {
      progress.fail('Export to PostgreSQL failed.')
      throw error
    }
  }
}
