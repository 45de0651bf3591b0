import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {buildRfmReport, rfmDocument} from '../../lib/analytics/rfm/report.js'
import {type RfmResult, runRfm} from '../../lib/analytics/rfm/rfm.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, engineFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeRfmCommand extends EcapCommand<RfmResult> {
  static override summary = 'RFM: recency, frequency and monetary scores 1-5 (5 best) and named segments per customer.'

  static override description =
    `Scores every signed-in customer with an order up to the end of --as-of (anonymous orders are left out): recency is the days from the last order to --as-of, frequency the number of orders, monetary the net revenue (refunds up to --as-of subtracted). Each measure is scored 1-5 by quintile of the customers' ranks, 5 always best (most recent, most orders, highest spend); ties are shared out so quintiles stay within one customer of each other. The R and F scores pick a segment from the 10-segment R x F map (docs/rfm.md) or from --segments FILE.

Saves one row per customer as <lake>/analytics/rfm and the segment summary as <lake>/analytics/rfm_segments.

Prints the rfm report of the run just saved, the same document ecap report rfm shows later (--json: the result object instead).

Exit codes: 0 ok, 2 bad flag or segment map, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake ./ecap-lake --as-of 2026-06-30',
    '<%= config.bin %> <%= command.id %> --segments my-segments.json --json',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'as-of': asOfFlag,
    segments: Flags.file({
      exists: true,
      description: 'JSON file of a custom R x F segment map covering all 25 cells once (format in docs/rfm.md).',
    }),
  }

  public async run(): Promise<RfmResult> {
    const {flags} = await this.parse(AnalyzeRfmCommand)
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine})
    const lake = config.lake.value
    const {result, report} = await this.withAnalysisEngine(config, async (engine) => {
      const result = await runRfm(engine, {lake, asOf: flags['as-of'], segmentsFile: flags.segments})
      // The report of the run just saved, read back as `ecap report rfm` reads it.
      const report = this.jsonEnabled() ? null : await buildRfmReport(engine, {lake, top: 1})
      return {result, report}
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (report) this.printDocument(rfmDocument(report))
    this.note(`Saved ${result.saved.customers} and ${result.saved.segments}`)
    return this.withExtract(result)
  }
}
