import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {CLV_CUSTOMERS_TABLE, type PurchaseModelName} from '../../lib/analytics/clv/clv.js'
import type {TimeUnit} from '../../lib/analytics/clv/lifetime-value.js'
import {buildClvReport, clvDocument} from '../../lib/analytics/clv/report.js'
import {clvRunInfo, type RunClvResult, runClv} from '../../lib/analytics/clv/run.js'
import {CLV_RESULT} from '../../lib/analytics/clv/save.js'
import type {ClvSource} from '../../lib/analytics/clv/transactions.js'
import {UsageError} from '../../lib/errors.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, engineFlag, lakeFlag, number} from '../../shared-flags.js'

export type ClvCommandResult = RunClvResult

export default class AnalyzeClvCommand extends EcapCommand<ClvCommandResult> {
  static override summary =
    'Customer lifetime value: BG/NBD or Pareto/NBD purchases, Gamma-Gamma spend, fitted by maximum likelihood.'

  static override description =
    `Summarises each customer's purchases in the lifetimes convention (frequency = repeat purchase days, recency and T in --time-unit, monetary = mean value of the repeat purchases, net of refunds and never below zero), fits the purchase model and the Gamma-Gamma spend model by maximum likelihood (parameters with standard errors from the Hessian, and the log-likelihood), and values every customer: P(alive), expected purchases over --horizon months, expected order value, and CLV discounted monthly at --discount-rate. A month is 30 days or 4.345 weeks, as in lifetimes.

From the lake, orders of signed-in customers up to the end of --as-of are used, and the per-customer values are saved as <lake>/analytics/${CLV_RESULT}. With --transactions the fit reads a CSV or Parquet file instead (one row per transaction; rows with a negative amount are returns that lower their day's value) and writes no lake unless --lake is given too.

--holdout DAYS keeps the last DAYS days before --as-of out of the fit and compares the repeat purchases the model predicts for them with those that happened.

A fit whose parameters the data do not pin down (a standard error missing or larger than its estimate: a short history lies on a ridge of the likelihood where very different CLVs fit equally well) is reported as a warning naming them.

Prints the clv report of the run just saved, the same document ecap report clv shows later (--json: the result object instead).

Exit codes: 0 ok, 2 bad flag or missing column, 3 no usable data or a fit that did not converge, 130 interrupted (SIGINT/SIGTERM; nothing is saved).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --lake ./ecap-lake',
    '<%= config.bin %> <%= command.id %> --holdout 90 --model pareto-nbd --json',
    '<%= config.bin %> <%= command.id %> --transactions cdnow.csv --customer-column id --date-column date --date-format %Y%m%d --amount-column dollars --as-of 1997-09-30 --time-unit week',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'as-of': asOfFlag,
    transactions: Flags.file({
      exists: true,
      description:
        'Fit on this CSV or Parquet file of transactions instead of the lake (writes no lake without --lake).',
    }),
    'customer-column': Flags.string({description: 'Customer column of --transactions.', default: 'customer_id'}),
    'date-column': Flags.string({description: 'Date or timestamp column of --transactions.', default: 'date'}),
    'amount-column': Flags.string({description: 'Transaction value column of --transactions.', default: 'amount'}),
    'date-format': Flags.string({
      description: 'strptime format of --date-column when it is not read as a date, e.g. %Y%m%d.',
    }),
    'time-unit': Flags.option({
      options: ['day', 'week'] as const,
      default: 'day' as const,
      description: 'Unit of recency, T and the fitted rate parameters (alpha, beta).',
    })(),
    horizon: Flags.integer({min: 1, max: 600, default: 12, description: 'Months of expected purchases and CLV.'}),
    'discount-rate': number({default: 0.01, description: 'Discount rate per month for CLV.'}),
    holdout: Flags.integer({min: 1, description: 'Keep the last DAYS days out of the fit and compare predictions.'}),
    model: Flags.option({
      options: ['bgnbd', 'pareto-nbd'] as const,
      default: 'bgnbd' as const,
      description: 'Purchase model.',
    })(),
    top: Flags.integer({min: 0, default: 10, description: 'Customers listed, highest CLV first (0: all).'}),
  }

  public async run(): Promise<ClvCommandResult> {
    const {flags} = await this.parse(AnalyzeClvCommand)
    if (!(flags['discount-rate'] >= 0 && flags['discount-rate'] < 1)) {
      throw new UsageError('INVALID_DISCOUNT_RATE', '--discount-rate must be at least 0 and below 1 (per month).', {
        hints: ['--discount-rate 0.01'],
      })
    }
    const writesLake = flags.transactions === undefined || flags.lake !== undefined
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine})
    const lake = writesLake ? config.lake.value : null
    const source: ClvSource = flags.transactions
      ? {
          kind: 'file',
          path: flags.transactions,
          customerColumn: flags['customer-column'],
          dateColumn: flags['date-column'],
          amountColumn: flags['amount-column'],
          dateFormat: flags['date-format'],
        }
      : {kind: 'lake', lake: lake as string}
    const parameters = {
      asOf: flags['as-of'] ?? null,
      transactions: flags.transactions ?? null,
      timeUnit: flags['time-unit'],
      horizonMonths: flags.horizon,
      discountRate: flags['discount-rate'],
      holdoutDays: flags.holdout ?? null,
      model: flags.model,
    }
    const progress = this.progress()
    const {result, report} = await this.withAnalysisEngine(config, async (engine) => {
      try {
        const result = await runClv(engine, {
          source,
          asOf: flags['as-of'],
          timeUnit: flags['time-unit'] as TimeUnit,
          horizonMonths: flags.horizon,
          discountRate: flags['discount-rate'],
          holdoutDays: flags.holdout,
          model: flags.model as PurchaseModelName,
          top: flags.top,
          saveTo: lake,
          parameters,
          signal: this.signal,
          onProgress: (stage) => progress.start(stage),
        })
        if (this.jsonEnabled()) return {result, report: null}
        // The report of the run just saved, read back as `ecap report clv` reads it; a fit that wrote no lake is
        // read from the engine's table of the same rows.
        const top = flags.top === 0 ? Math.max(1, result.customers.total) : flags.top
        const unsaved = result.saved ? undefined : {table: CLV_CUSTOMERS_TABLE, run: clvRunInfo(result, parameters)}
        return {result, report: await buildClvReport(engine, {lake: lake ?? '', top, unsaved})}
      } finally {
        progress.stop()
      }
    })
    const duplicates = result.source.kind === 'lake' ? duplicatesWarning(result.source.duplicateEvents) : undefined
    if (duplicates) this.warn(duplicates)
    for (const warning of result.warnings) this.warn(warning)
    if (report) this.printDocument(clvDocument(report))
    if (result.saved) this.note(`Saved ${result.saved}`)
    return this.withExtract(result)
  }
}
