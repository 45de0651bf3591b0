import {extname} from 'node:path'
import {Args, Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {REPORTS, type ReportResult, runReport} from '../lib/analytics/reports.js'
import {REPORT_FORMATS, type ReportFormat} from '../lib/report/render.js'
import {lakeFlag} from '../shared-flags.js'

const FORMAT_OF_EXTENSION: Record<string, ReportFormat> = {
  '.html': 'html',
  '.htm': 'html',
  '.md': 'md',
  '.csv': 'csv',
  '.json': 'json',
  '.txt': 'table',
}

export default class ReportCommand extends EcapCommand<ReportResult> {
  static override summary =
    'Show the last saved analysis as tables and charts, or write it as JSON, CSV, Markdown or HTML.'

  static override description =
    `Reads what \`ecap analyze\` saved under <lake>/analytics/ (nothing is recomputed) and shows it: tables and unicode charts in the terminal (segment bars, a sparkline of daily revenue, the funnel as bars, the cohort retention heat map), or one file per format. summary is an overview of the shop with whatever analyses exist, naming those still to run, and what to act on: the latest whole day's KPIs against the day before and a week before (the day the data ends inside, and any later one up to the as-of day, is left out and said to be), each RFM segment's size, revenue share and suggested action, the CLV distribution and top customers with P(alive), the top flagged orders with their reasons.

--format html writes one self-contained page with inline SVG charts (no script, nothing fetched), json the report's typed data, csv its main table with raw values, md Markdown. Without --format the -o extension decides, else table. Colour only on a terminal (or with --color), never with NO_COLOR.

--top, --segment and --since apply where they make sense: --top to rfm (customers of --segment), clv (customers), fraud (flagged orders), kpi (products and categories), funnel (countries), cohort (latest cohorts); --segment (an RFM segment) to rfm and clv; --since to kpi, fraud, cohort and summary. Elsewhere they exit 2.

Exit codes: 0 ok, 2 bad flag, 3 the analysis was never run (the error names the ecap analyze command).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> summary',
    '<%= config.bin %> <%= command.id %> summary --format html -o report.html',
    '<%= config.bin %> <%= command.id %> rfm --segment "at risk" --top 50 --format csv -o at-risk.csv',
    '<%= config.bin %> <%= command.id %> kpi --since 2026-06-01 --format md',
  ]

  static override args = {
    report: Args.string({description: 'The report to show.', required: true, options: [...REPORTS]}),
  }

  static override flags = {
    format: Flags.option({
      char: 'f',
      options: REPORT_FORMATS,
      description: 'Output format [default: from the -o extension, else table].',
    })(),
    output: Flags.string({char: 'o', description: 'File to write (complete or not at all), or - for stdout.'}),
    top: Flags.integer({min: 1, description: 'Rows listed (see the description for what each report lists).'}),
    segment: Flags.string({description: 'An RFM segment, e.g. "at risk" (rfm, clv).'}),
    since: Flags.string({description: 'First day shown, YYYY-MM-DD (kpi, fraud, cohort, summary).'}),
    lake: lakeFlag,
  }

  public async run(): Promise<ReportResult> {
    const {args, flags} = await this.parse(ReportCommand)
    const report = args.report as (typeof REPORTS)[number]
    const toFile = flags.output !== undefined && flags.output !== '-'
    const format =
      flags.format ??
      (toFile ? FORMAT_OF_EXTENSION[extname(flags.output as string).toLowerCase()] : undefined) ??
      'table'
    const {result, text} = await this.withEngine((engine) =>
      runReport(engine, {
        report,
        format,
        output: flags.output,
        lake: this.resolveConfig({lake: flags.lake}).lake.value,
        top: flags.top,
        segment: flags.segment,
        since: flags.since,
        color: format === 'table' && !toFile && this.colorEnabled(),
        columns: this.terminalColumns(),
      }),
    )
    if (toFile) {
      this.note(`Wrote the ${report} report to ${result.output} (${format}, ${result.bytes} bytes)`)
    } else if (!this.jsonEnabled()) {
      this.out(text)
    }
    return result
  }
}
