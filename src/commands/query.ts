import {readFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {UsageError} from '../lib/errors.js'
import {BINARY_FORMATS, formatOfPath, QUERY_FORMATS} from '../lib/export/formats.js'
import {type QueryResult, runQuery} from '../lib/export/query.js'
import {duplicatesWarning} from '../lib/shop/views.js'
import {asOfFlag, lakeFlag} from '../shared-flags.js'

export default class QueryCommand extends EcapCommand<QueryResult> {
  static override summary = 'Run DuckDB SQL over the lake and print or export the result.'

  static override description =
    `The lake is registered as views: events (each event_id once), orders (net of refunds), order_items, customers, duplicate_events (the copies of an event_id that events leaves out; their count is duplicateEvents in the --json result), dead_letters, each analysis result under its name (rfm, clv, fraud, kpi_*, funnel, cohort: whatever ecap analyze has saved) and any other table of the lake. --as-of cuts the shop views at the end of that UTC day. SHOW TABLES lists them; DESCRIBE orders shows columns.

One statement, any DuckDB SQL that returns rows. On a terminal the result is a table of the first --max-rows rows; piped or with -o it is CSV (or --format), streamed in full without holding it in memory. A syntax or binder error prints DuckDB's message and exits 2.`

  static override examples = [
    {
      description: 'Top 10 customers by net revenue',
      command:
        '<%= config.bin %> <%= command.id %> "SELECT customer_id, orders, net_revenue FROM customers ORDER BY net_revenue DESC LIMIT 10"',
    },
    {
      description: 'Refunds by reason',
      command: `<%= config.bin %> <%= command.id %> "SELECT reason, count(*) AS refunds, sum(amount) AS amount FROM events WHERE event_type = 'refund' GROUP BY reason ORDER BY amount DESC"`,
    },
    {
      description: 'A query from a file, as Parquet',
      command: '<%= config.bin %> <%= command.id %> --file monthly.sql -o monthly.parquet',
    },
    {
      description: 'Daily revenue as CSV, as the shop stood at the end of January',
      command:
        '<%= config.bin %> <%= command.id %> "SELECT order_date, sum(net_total) AS revenue FROM orders GROUP BY 1 ORDER BY 1" --as-of 2026-01-31 --format csv',
    },
  ]

  static override args = {
    sql: Args.string({description: 'The SQL query (or use --file).'}),
  }

  static override flags = {
    file: Flags.file({exists: true, description: 'Read the SQL from this file.', exclusive: ['sql']}),
    format: Flags.option({
      char: 'f',
      options: QUERY_FORMATS,
      description: 'Output format [default: table on a terminal, else from the -o extension, else csv].',
    })(),
    output: Flags.string({char: 'o', description: 'File to write, or - for stdout.', default: '-'}),
    'max-rows': Flags.integer({min: 1, default: 100, description: 'Rows shown by --format table.'}),
    'as-of': asOfFlag,
    'memory-limit': Flags.string({description: 'DuckDB memory limit; larger work spills to disk.', default: '1GB'}),
    lake: lakeFlag,
  }

  public async run(): Promise<QueryResult> {
    const {args, flags} = await this.parse(QueryCommand)
    const sql = flags.file === undefined ? args.sql : readFileSync(flags.file, 'utf8')
    if (sql === undefined) {
      throw new UsageError('SQL_MISSING', 'Give the SQL as an argument or with --file.', {
        hints: ['ecap query "SELECT count(*) FROM orders"', 'ecap query --file report.sql'],
      })
    }
    const toStdout = flags.output === '-'
    const format =
      flags.format ??
      (toStdout ? (process.stdout.isTTY && !this.jsonEnabled() ? 'table' : 'csv') : formatOfPath(flags.output)) ??
      'csv'
    if (toStdout && this.jsonEnabled()) {
      throw new UsageError('STDOUT_TAKEN', '--json prints the summary on stdout, so the result cannot go there too.', {
        hints: ['--format json (rows as JSON on stdout)', '-o result.parquet --json'],
      })
    }
    if (toStdout && process.stdout.isTTY && BINARY_FORMATS.includes(format)) {
      throw new UsageError('BINARY_TO_TERMINAL', `${format} is binary; it would garble the terminal.`, {
        hints: [`-o result.${format}`, '--format table'],
      })
    }
    if (format === 'table' && !toStdout) {
      throw new UsageError('TABLE_NOT_A_FILE_FORMAT', '--format table is for the terminal.', {
        hints: [`--format csv -o ${flags.output}`],
      })
    }
    const lake = this.resolveConfig({lake: flags.lake}).lake.value
    const result = await this.withEngine(
      (engine) =>
        runQuery(engine, {
          lake,
          sql,
          format,
          output: flags.output,
          stdout: process.stdout,
          asOf: flags['as-of'],
          maxRows: flags['max-rows'],
          color: this.colorEnabled(),
          signal: this.signal,
        }),
      {memoryLimit: flags['memory-limit']},
    )
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    for (const skipped of result.skipped) this.warn(`Table ${skipped.name} is not queryable: ${skipped.reason}`)
    if (result.truncated) {
      this.note(`First ${result.rows} rows shown; --max-rows N for more, or --format csv -o result.csv for all.`)
    } else if (!toStdout) {
      this.note(
        `Wrote ${result.rows.toLocaleString('en-US')} rows to ${result.output} (${format}) in ${(result.elapsedMs / 1000).toFixed(1)} s`,
      )
    }
    return result
  }
}
