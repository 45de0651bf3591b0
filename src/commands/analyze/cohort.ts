import {Flags} from '@oclif/core'
import Table from 'cli-table3'
import {EcapCommand} from '../../ecap-command.js'
import {type CohortResult, runCohorts} from '../../lib/analytics/cohort.js'
import {withEngine} from '../../lib/engine/engine.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeCohortCommand extends EcapCommand<CohortResult> {
  static override summary = 'Monthly acquisition cohorts: retention and revenue by months since the first purchase.'

  static override description =
    `Groups signed-in customers by the month of their first purchase and follows each cohort month by month up to the month of --as-of: customers who ordered (retention = their share of the cohort), orders, net revenue and cumulative net revenue per cohort customer. Month 0 is the month of the first purchase, so its retention is 100%. The month of --as-of is marked incomplete while it is not over.

Saves every (cohort, month) row as <lake>/analytics/cohort.

Exit codes: 0 ok, 2 bad flag, 3 empty or missing lake.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --metric revenue --as-of 2026-06-30',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  static override flags = {
    lake: lakeFlag,
    'as-of': asOfFlag,
    metric: Flags.option({
      options: ['retention', 'revenue'] as const,
      default: 'retention' as const,
      description: 'What the table shows: retention, or cumulative net revenue per cohort customer.',
    })(),
    months: Flags.integer({min: 1, default: 12, description: 'Months since the first purchase shown as columns.'}),
  }

  public async run(): Promise<CohortResult> {
    const {flags} = await this.parse(AnalyzeCohortCommand)
    const lake = this.resolveConfig({lake: flags.lake}).lake.value
    const result = await withEngine((engine) => runCohorts(engine, {lake, asOf: flags['as-of']}), {
      signal: this.signal,
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (!this.jsonEnabled()) this.render(result, flags.metric, flags.months)
    return result
  }

  private render(r: CohortResult, metric: 'retention' | 'revenue', months: number): void {
    // compact: no rule between rows, so a table fits a terminal.
    const style = this.colorEnabled() ? {compact: true} : {head: [], border: [], compact: true}
    const shown = Math.min(months, Math.max(0, ...r.cohorts.map((c) => c.periods.length)))
    const what = metric === 'retention' ? 'share of the cohort ordering' : 'cumulative net revenue per customer'
    this.out(
      `${r.cohorts.length} monthly cohorts, ${r.customers.toLocaleString('en-US')} customers, as of ${r.asOf} (${what}; * month not over)`,
    )
    const table = new Table({head: ['cohort', 'customers', ...Array.from({length: shown}, (_, i) => `M${i}`)], style})
    for (const c of r.cohorts) {
      const cells = Array.from({length: shown}, (_, i) => {
        const p = c.periods[i]
        if (!p) return ''
        const value =
          metric === 'retention' ? `${(100 * p.retention).toFixed(1)}%` : p.cumulativeRevenuePerCustomer.toFixed(2)
        return p.complete ? value : `${value}*`
      })
      table.push([c.cohortMonth.slice(0, 7), c.size.toLocaleString('en-US'), ...cells])
    }
    this.out(table.toString())
    this.out(`Saved ${r.saved}`)
  }
}
