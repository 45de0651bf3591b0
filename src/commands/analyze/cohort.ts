import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {type CohortResult, runCohorts} from '../../lib/analytics/cohort/cohort.js'
import {buildCohortReport, cohortDocument} from '../../lib/analytics/cohort/report.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, engineFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeCohortCommand extends EcapCommand<CohortResult> {
  static override summary = 'Monthly acquisition cohorts: retention and revenue by months since the first purchase.'

  static override description =
    `Groups signed-in customers by the month of their first purchase and follows each cohort month by month up to the month of --as-of: customers who ordered (retention = their share of the cohort), orders, net revenue and cumulative net revenue per cohort customer. Month 0 is the month of the first purchase, so its retention is 100%. The month of --as-of is marked incomplete while it is not over.

Saves every (cohort, month) row as <lake>/analytics/cohort.

Prints the cohort report of the run just saved, the same document ecap report cohort shows later (--json: the result object instead).

Exit codes: 0 ok, 2 bad flag, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --as-of 2026-06-30 --months 6',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'as-of': asOfFlag,
    metric: Flags.option({
      options: ['retention', 'revenue'] as const,
      // No default: oclif warns of a deprecated flag whenever it has a value, and only a user who gives it should
      // hear that it does nothing. The report shows both now (retention in the heat map, cumulative revenue per customer in the table).
      description: 'Ignored: the report shows retention and cumulative net revenue per cohort customer.',
      deprecated: {message: 'the report shows retention and revenue per customer both; --metric does nothing.'},
    })(),
    months: Flags.integer({
      min: 1,
      default: 12,
      description: 'Months since the first purchase shown in the retention heat map (the table lists all).',
    }),
  }

  public async run(): Promise<CohortResult> {
    const {flags} = await this.parse(AnalyzeCohortCommand)
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine})
    const lake = config.lake.value
    const {result, report} = await this.withAnalysisEngine(config, async (engine) => {
      const result = await runCohorts(engine, {lake, asOf: flags['as-of']})
      // The report of the run just saved (every cohort of it), read back as `ecap report cohort` reads it.
      const top = Math.max(1, result.cohorts.length)
      const report = this.jsonEnabled() ? null : await buildCohortReport(engine, {lake, top, since: null})
      return {result, report}
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (report) this.printDocument(cohortDocument(report, flags.months))
    this.note(`Saved ${result.saved}`)
    return this.withExtract(result)
  }
}
