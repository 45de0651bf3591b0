import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {type FunnelResult, runFunnel} from '../../lib/analytics/funnel/funnel.js'
import {buildFunnelReport, funnelDocument} from '../../lib/analytics/funnel/report.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, engineFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeFunnelCommand extends EcapCommand<FunnelResult> {
  static override summary =
    'Session funnel: visit, product view, add to cart, checkout, purchase; by device and country.'

  static override description =
    `Counts the sessions up to the end of --as-of that reach each step in order: a visit (any event), then a product view, an add to cart, a checkout and a purchase, each at or after the step before. Step conversion is the share of the step before, drop-off the sessions lost; the funnel is given for the whole shop, per device and per country (the IP country of the session's first event). Back-office refund sessions are not visits and are left out.

Saves every row as <lake>/analytics/funnel.

Prints the funnel report of the run just saved, the same document ecap report funnel shows later (--json: the result object instead).

Exit codes: 0 ok, 2 bad flag, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake ./ecap-lake --as-of 2026-06-30 --countries 5',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'as-of': asOfFlag,
    countries: Flags.integer({
      min: 0,
      default: 10,
      description: 'Countries shown, most sessions first (the saved table and --json hold them all).',
    }),
  }

  public async run(): Promise<FunnelResult> {
    const {flags} = await this.parse(AnalyzeFunnelCommand)
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine})
    const lake = config.lake.value
    const {result, report} = await this.withAnalysisEngine(config, async (engine) => {
      const result = await runFunnel(engine, {lake, asOf: flags['as-of']})
      // The report of the run just saved, read back as `ecap report funnel` reads it.
      const report = this.jsonEnabled() ? null : await buildFunnelReport(engine, {lake, top: flags.countries})
      return {result, report}
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (report) this.printDocument(funnelDocument(report))
    this.note(`Saved ${result.saved}`)
    return this.withExtract(result)
  }
}
