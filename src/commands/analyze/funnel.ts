import {Flags} from '@oclif/core'
import Table from 'cli-table3'
import {EcapCommand} from '../../ecap-command.js'
import {type FunnelGroup, type FunnelResult, runFunnel} from '../../lib/analytics/funnel.js'
import {withEngine} from '../../lib/engine/engine.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeFunnelCommand extends EcapCommand<FunnelResult> {
  static override summary =
    'Session funnel: visit, product view, add to cart, checkout, purchase; by device and country.'

  static override description =
    `Counts the sessions up to the end of --as-of that reach each step in order: a visit (any event), then a product view, an add to cart, a checkout and a purchase, each at or after the step before. Step conversion is the share of the step before, drop-off the sessions lost; the funnel is given for the whole shop, per device and per country (the IP country of the session's first event). Back-office refund sessions are not visits and are left out.

Saves every row as <lake>/analytics/funnel.

Exit codes: 0 ok, 2 bad flag, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake ./ecap-lake --as-of 2026-06-30 --countries 5',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static override flags = {
    lake: lakeFlag,
    'as-of': asOfFlag,
    countries: Flags.integer({
      min: 0,
      default: 10,
      description: 'Countries shown, most sessions first (the saved table and --json hold them all).',
    }),
  }

  public async run(): Promise<FunnelResult> {
    const {flags} = await this.parse(AnalyzeFunnelCommand)
    const lake = this.resolveConfig({lake: flags.lake}).lake.value
    const result = await withEngine((engine) => runFunnel(engine, {lake, asOf: flags['as-of']}), {
      signal: this.signal,
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (!this.jsonEnabled()) this.render(result, flags.countries)
    return result
  }

  private render(r: FunnelResult, countries: number): void {
    // compact: no rule between rows, so a table fits a terminal.
    const style = this.colorEnabled() ? {compact: true} : {head: [], border: [], compact: true}
    const n = (x: number) => x.toLocaleString('en-US')
    const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`)
    this.out(`Session funnel as of ${r.asOf}`)
    const steps = new Table({head: ['step', 'sessions', 'step conv.', 'overall', 'drop-off'], style})
    for (const s of r.overall.steps) {
      steps.push([s.step, n(s.sessions), pct(s.stepConversion), pct(s.overallConversion), n(s.dropOff)])
    }
    this.out(steps.toString())
    const byGroup = (title: string, groups: FunnelGroup[]) => {
      if (groups.length === 0) return
      const table = new Table({head: [title, ...r.overall.steps.map((s) => s.step), 'conversion'], style})
      for (const g of groups) {
        table.push([g.value, ...g.steps.map((s) => n(s.sessions)), pct(g.steps.at(-1)?.overallConversion ?? null)])
      }
      this.out(table.toString())
    }
    byGroup('device', r.byDevice)
    byGroup('country', r.byCountry.slice(0, countries))
    if (r.byCountry.length > countries)
      this.out(`${r.byCountry.length - countries} more countries in --json and the saved table.`)
    this.out(`Saved ${r.saved}`)
  }
}
