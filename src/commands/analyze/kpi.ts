import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {KPI_DEFAULTS, type KpiResult, runKpis} from '../../lib/analytics/kpi/kpi.js'
import {buildKpiReport, kpiDocument} from '../../lib/analytics/kpi/report.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, engineFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeKpiCommand extends EcapCommand<KpiResult> {
  static override summary =
    'KPIs per day and week: revenue, orders, units, AOV, sessions, conversion, refunds, customers.'

  static override description =
    `Computes, for every day and every week (Monday to Sunday) from the first event to the end of --as-of: net revenue (order totals minus their refunds up to --as-of, counted on the day of the order), orders, units, average order value, sessions, conversion rate (sessions with a purchase / sessions), refund rate (orders refunded / orders), and new versus returning customers (first order ever in the period, or earlier). Also the top --top products and categories by net revenue; a product's category is the one its product views showed last.

Saves <lake>/analytics/kpi_daily, kpi_weekly, kpi_top_products and kpi_top_categories.

Prints the kpi report of the run just saved, the same document ecap report kpi shows later (--json: the result object instead).

Exit codes: 0 ok, 2 bad flag, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake ./ecap-lake --as-of 2026-06-30 --top 20',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'as-of': asOfFlag,
    top: Flags.integer({min: 1, default: KPI_DEFAULTS.top, description: 'Products and categories listed.'}),
    days: Flags.integer({
      min: 0,
      default: 7,
      description: 'Last days shown (the saved table and --json hold them all).',
    }),
    weeks: Flags.integer({
      min: 0,
      default: 8,
      description: 'Last weeks shown (the saved table and --json hold them all).',
    }),
  }

  public async run(): Promise<KpiResult> {
    const {flags} = await this.parse(AnalyzeKpiCommand)
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine})
    const lake = config.lake.value
    const {result, report} = await this.withAnalysisEngine(config, async (engine) => {
      const result = await runKpis(engine, {lake, asOf: flags['as-of'], top: flags.top})
      // The report of the run just saved, read back as `ecap report kpi` reads it.
      const report = this.jsonEnabled() ? null : await buildKpiReport(engine, {lake, top: flags.top, since: null})
      return {result, report}
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (report) {
      const document = kpiDocument(report, {days: flags.days, weeks: flags.weeks})
      this.printDocument(document)
    }
    this.note(`Saved ${Object.values(result.saved).join(', ')}`)
    return this.withExtract(result)
  }
}
