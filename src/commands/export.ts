import {Args, Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {UsageError} from '../lib/errors.js'
import {type ExportResult, exportTable} from '../lib/export/export.js'
import {BINARY_FORMATS, DATA_FORMATS, formatOfPath} from '../lib/export/formats.js'
import {duplicatesWarning} from '../lib/shop/views.js'
import {lakeFlag} from '../shared-flags.js'

export default class ExportCommand extends EcapCommand<ExportResult> {
  static override summary = 'Export a table of the lake or an analysis result as Parquet, CSV, NDJSON, JSON or Arrow.'

  static override description =
    `<table> is a shop view (events with each event_id once, orders, order_items, customers, duplicate_events: the copies events leaves out, dead_letters), an analysis result (rfm, clv, fraud, kpi_*, funnel, cohort: whatever ecap analyze has saved) or any other table of the lake; an unknown name lists the ones there are.

The result is streamed, never held in memory: CSV, NDJSON, JSON and Arrow go out one DuckDB chunk at a time (Arrow as an IPC stream of record batches), Parquet is written by DuckDB row group by row group. A file appears under its name only when complete; a failed export leaves nothing. With -o - the data goes to stdout for another tool; Parquet, which has its footer at the end, is then written to a temp file first and copied out.

--where is SQL by design, as with duckdb -c: you own the lake. It is one predicate over the table's columns, run inside a subquery; ";" is refused, so it cannot chain statements.`

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
  ]

  static override args = {
    table: Args.string({description: 'Table, view or analysis result to export.', required: true}),
  }

  static override flags = {
    format: Flags.option({
      char: 'f',
      options: DATA_FORMATS,
      description: 'Output format [default: from the -o file extension, else csv].',
    })(),
    output: Flags.string({char: 'o', description: 'File to write, or - for stdout.', required: true}),
    where: Flags.string({
      char: 'w',
      description: 'SQL predicate that keeps rows, e.g. "total > 100 AND payment_method = \'card\'" (no ";").',
    }),
    columns: Flags.string({char: 'c', description: 'Comma-separated columns to keep, in this order.'}),
    'memory-limit': Flags.string({description: 'DuckDB memory limit; larger work spills to disk.', default: '1GB'}),
    lake: lakeFlag,
  }

  public async run(): Promise<ExportResult> {
    const {args, flags} = await this.parse(ExportCommand)
    const toStdout = flags.output === '-'
    const format = flags.format ?? (toStdout ? undefined : formatOfPath(flags.output)) ?? 'csv'
    if (toStdout && this.jsonEnabled()) {
      throw new UsageError('STDOUT_TAKEN', '--json prints the summary on stdout, so the data cannot go there too.', {
        hints: [`-o ${args.table}.${format === 'arrow' ? 'arrow' : format} --json`, '-o - (without --json)'],
      })
    }
    if (toStdout && process.stdout.isTTY && BINARY_FORMATS.includes(format)) {
      throw new UsageError('BINARY_TO_TERMINAL', `${format} is binary; it would garble the terminal.`, {
        hints: [`-o ${args.table}.${format}`, `-o - | duckdb -c "..."`, '--format csv -o -'],
      })
    }
    const columns = flags.columns
      ?.split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '')
    const progress = this.progress()
    if (!toStdout) progress.start(`Exporting ${args.table}`)
    try {
      const lake = this.resolveConfig({lake: flags.lake}).lake.value
      const result = await this.withEngine(
        (engine) =>
          exportTable(engine, {
            lake,
            table: args.table,
            format,
            output: flags.output,
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
}
