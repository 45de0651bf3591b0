import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {type AllResult, analyzeAll} from '../../lib/analytics/all.js'
import {buildSummaryReport, summaryDocument} from '../../lib/analytics/summary/report.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, engineFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeAllCommand extends EcapCommand<AllResult> {
  static override summary = 'Run every analysis (rfm, clv, fraud, kpi, funnel, cohort) and save each result: for cron.'

  static override description =
    "All analyses read one snapshot of the lake, cut at the same --as-of day, with their default options, and each saves its result under <lake>/analytics/ for ecap report. An empty or missing lake stops the run with exit 3. When one analysis fails the others still run and are saved, and the command exits with the failure's code (3 for data it cannot use), so cron notices. It prints the summary report of what it saved, the same document ecap report summary shows later (--json: each analysis's result instead)."

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake /data/lake --as-of 2026-06-30 --json',
    '<%= config.bin %> <%= command.id %> --memory-limit 4GB   # DuckDB spills to disk beyond it',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'as-of': asOfFlag,
    'memory-limit': Flags.string({
      default: '1GB',
      description: 'DuckDB memory limit (e.g. 512MB, 4GB); larger work spills to a temp folder on disk.',
    }),
  }

  public async run(): Promise<AllResult> {
    const {flags} = await this.parse(AnalyzeAllCommand)
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine})
    const lake = config.lake.value
    const progress = this.progress()
    progress.start('Analysing')
    try {
      const {result, report} = await this.withAnalysisEngine(
        config,
        async (engine) => {
          const result = await analyzeAll(engine, {
            lake,
            asOf: flags['as-of'],
            onProgress: (analysis) => progress.update(`Analysing: ${analysis}`),
            onWarning: (analysis, message) => this.warn(`${analysis}: ${message}`),
            signal: this.signal,
          })
          // The summary of the results just saved, read back as `ecap report summary` reads it.
          const report = this.jsonEnabled() ? null : await buildSummaryReport(engine, {lake, since: null})
          return {result, report}
        },
        {memoryLimit: flags['memory-limit']},
      )
      progress.succeed(`Ran ${result.runs.length} analyses in ${result.seconds.toFixed(1)} s`)
      const duplicates = duplicatesWarning(result.duplicateEvents)
      if (duplicates) this.warn(duplicates)
      if (report) this.printDocument(summaryDocument(report))
      this.note(`Events version ${result.eventsVersion}; each result in full: ecap report <analysis>`)
      return this.withExtract(result)
    } catch (error) {
      progress.fail('Analysis stopped.')
      throw error
    }
  }
}
