import {Flags} from '@oclif/core'
import Table from 'cli-table3'
import {EcapCommand} from '../../ecap-command.js'
import {type RfmResult, runRfm} from '../../lib/analytics/rfm.js'
import {withEngine} from '../../lib/engine/engine.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeRfmCommand extends EcapCommand<RfmResult> {
  static override summary = 'RFM: recency, frequency and monetary scores 1-5 (5 best) and named segments per customer.'

  static override description =
    `Scores every signed-in customer with an order up to the end of --as-of (anonymous orders are left out): recency is the days from the last order to --as-of, frequency the number of orders, monetary the net revenue (refunds up to --as-of subtracted). Each measure is scored 1-5 by quintile of the customers' ranks, 5 always best (most recent, most orders, highest spend); ties are shared out so quintiles stay within one customer of each other. The R and F scores pick a segment from the 10-segment R x F map (docs/rfm.md) or from --segments FILE.

Saves one row per customer as <lake>/analytics/rfm and the segment summary as <lake>/analytics/rfm_segments.

Exit codes: 0 ok, 2 bad flag or segment map, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake ./ecap-lake --as-of 2026-06-30',
    '<%= config.bin %> <%= command.id %> --segments my-segments.json --json',
  ]

  static override flags = {
    lake: lakeFlag,
    'as-of': asOfFlag,
    segments: Flags.file({
      exists: true,
      description: 'JSON file of a custom R x F segment map covering all 25 cells once (format in docs/rfm.md).',
    }),
  }

  public async run(): Promise<RfmResult> {
    const {flags} = await this.parse(AnalyzeRfmCommand)
    const lake = this.resolveConfig({lake: flags.lake}).lake.value
    const result = await withEngine(
      (engine) => runRfm(engine, {lake, asOf: flags['as-of'], segmentsFile: flags.segments}),
      {signal: this.signal},
    )
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (!this.jsonEnabled()) this.render(result)
    return result
  }

  private render(r: RfmResult): void {
    // compact: no rule between rows, so a table fits a terminal.
    const style = this.colorEnabled() ? {compact: true} : {head: [], border: [], compact: true}
    const n = (x: number) => x.toLocaleString('en-US')
    const money = (x: number) => x.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2})
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`
    const fixed = (x: number | null, digits = 1) => (x === null ? '-' : x.toFixed(digits))
    this.out(
      `RFM of ${n(r.customers)} customers as of ${r.asOf} (net revenue ${money(r.revenue)}; segment map ${r.segmentMap})`,
    )
    const table = new Table({
      head: ['segment', 'customers', 'share', 'revenue', 'rev. share', 'mean R', 'mean F', 'mean M', 'days', 'orders'],
      style,
    })
    for (const s of r.segments) {
      table.push([
        s.segment,
        n(s.customers),
        pct(s.customerShare),
        money(s.revenue),
        pct(s.revenueShare),
        fixed(s.meanR),
        fixed(s.meanF),
        fixed(s.meanM),
        fixed(s.meanRecencyDays, 0),
        fixed(s.meanFrequency),
      ])
    }
    this.out(table.toString())
    this.out(`Saved ${r.saved.customers} and ${r.saved.segments}`)
  }
}
