import {Flags} from '@oclif/core'
import Table from 'cli-table3'
import {EcapCommand} from '../../ecap-command.js'
import {KPI_DEFAULTS, type KpiPeriod, type KpiResult, runKpis} from '../../lib/analytics/kpi.js'
import {withEngine} from '../../lib/engine/engine.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeKpiCommand extends EcapCommand<KpiResult> {
  static override summary =
    'KPIs per day and week: revenue, orders, units, AOV, sessions, conversion, refunds, customers.'

  static override description =
    `Computes, for every day and every week (Monday to Sunday) from the first event to the end of --as-of: net revenue (order totals minus their refunds up to --as-of, counted on the day of the order), orders, units, average order value, sessions, conversion rate (sessions with a purchase / sessions), refund rate (orders refunded / orders), and new versus returning customers (first order ever in the period, or earlier). Also the top --top products and categories by net revenue; a product's category is the one its product views showed last.

Saves <lake>/analytics/kpi_daily, kpi_weekly, kpi_top_products and kpi_top_categories.

Exit codes: 0 ok, 2 bad flag, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake ./ecap-lake --as-of 2026-06-30 --top 20',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static override flags = {
    lake: lakeFlag,
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
    const lake = this.resolveConfig({lake: flags.lake}).lake.value
    const result = await withEngine((engine) => runKpis(engine, {lake, asOf: flags['as-of'], top: flags.top}), {
      signal: this.signal,
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (!this.jsonEnabled()) this.render(result, flags.days, flags.weeks)
    return result
  }

  private render(r: KpiResult, days: number, weeks: number): void {
    // compact: no rule between rows, so a table fits a terminal.
    const style = this.colorEnabled() ? {compact: true} : {head: [], border: [], compact: true}
    const n = (x: number) => x.toLocaleString('en-US')
    const money = (x: number | null) =>
      x === null ? '-' : x.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2})
    const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`)
    const periods = (title: string, rows: KpiPeriod[], label: (p: KpiPeriod) => string) => {
      const table = new Table({
        head: [title, 'revenue', 'orders', 'units', 'AOV', 'sessions', 'conv.', 'refunds', 'new', 'returning'],
        style,
      })
      for (const p of rows) {
        table.push([
          label(p),
          money(p.revenue),
          n(p.orders),
          n(p.units),
          money(p.aov),
          n(p.sessions),
          pct(p.conversionRate),
          pct(p.refundRate),
          n(p.newCustomers),
          n(p.returningCustomers),
        ])
      }
      return table.toString()
    }
    this.out(`KPIs from ${r.from} to ${r.asOf}`)
    this.out(periods('period', [r.totals], () => `${r.from} to ${r.asOf}`))
    // A week cut by the start of the data or the as-of day says how many of its days it holds.
    const weekLabel = (p: KpiPeriod) => (p.days < 7 ? `${p.period} (${p.days}d)` : p.period)
    if (weeks > 0) this.out(periods('week of', r.weekly.slice(-weeks), weekLabel))
    if (days > 0) this.out(periods('day', r.daily.slice(-days), (p) => p.period))
    const products = new Table({head: ['#', 'product', 'category', 'orders', 'units', 'revenue'], style})
    for (const p of r.topProducts) {
      products.push([p.rank, p.productId, p.category, n(p.orders), n(p.units), money(p.revenue)])
    }
    const categories = new Table({head: ['#', 'category', 'products', 'orders', 'units', 'revenue'], style})
    for (const c of r.topCategories) {
      categories.push([c.rank, c.category, n(c.products), n(c.orders), n(c.units), money(c.revenue)])
    }
    this.out(products.toString())
    this.out(categories.toString())
    this.out(`Saved ${Object.values(r.saved).join(', ')}`)
  }
}
