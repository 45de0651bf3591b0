import {Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {DEMO_DEFAULTS, type DemoResult, runDemo} from '../lib/setup/demo.js'
import {lakeFlag} from '../shared-flags.js'

export default class Demo extends EcapCommand<DemoResult> {
  static override summary = 'Try ecap in one command: a generated shop in a local lake, every analysis, a report.'

  static override description =
    `Generates a seeded shop (${DEMO_DEFAULTS.customers.toLocaleString('en-US')} customers over ${DEMO_DEFAULTS.days} days by default) straight into a local Delta lake, without Kafka; runs every analysis (rfm, clv, fraud, kpi, funnel, cohort) and saves the results; prints the summary report; writes it as a self-contained HTML page; and names the commands to try next.

The lake is ${DEMO_DEFAULTS.lake} unless one is configured (--lake, ECAP_LAKE or ecap.config.json). A lake that holds data already is kept unless --force, which deletes it first, and only if it holds nothing but an ecap lake's folders. The lake may be in S3 (--lake s3://bucket/prefix, with the AWS_* variables): --force then deletes only the lake's tables under the prefix, never anything else in the bucket.

Exit codes: 0 ok, 2 bad flag, a lake that is not empty, a missing bucket or refused S3 credentials, 3 an analysis could not use the data, 4 the S3 store is unreachable, 130 interrupted.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --customers 10000 --days 365 --seed 7',
    '<%= config.bin %> <%= command.id %> --force --json',
  ]

  static override flags = {
    customers: Flags.integer({min: 1, default: DEMO_DEFAULTS.customers, description: 'Customers of the shop.'}),
    days: Flags.integer({min: 1, default: DEMO_DEFAULTS.days, description: 'Days of shop history.'}),
    seed: Flags.integer({min: 0, max: 4_294_967_295, default: DEMO_DEFAULTS.seed, description: 'Random seed.'}),
    lake: lakeFlag,
    report: Flags.string({default: DEMO_DEFAULTS.report, description: 'HTML report to write.'}),
    force: Flags.boolean({char: 'f', description: 'Replace a lake that holds data already.'}),
  }

  public async run(): Promise<DemoResult> {
    const {flags} = await this.parse(Demo)
    const configured = this.resolveConfig({lake: flags.lake}).lake
    // The built-in default lake is for real data; the demo keeps to its own folder unless told otherwise.
    const lake = configured.source === 'default' ? DEMO_DEFAULTS.lake : configured.value
    const progress = this.progress()
    progress.start('Generating the shop')
    try {
      const {result, summary} = await runDemo((work, options) => this.withEngine(work, options), {
        lake,
        report: flags.report,
        customers: flags.customers,
        days: flags.days,
        seed: flags.seed,
        force: flags.force,
        color: this.colorEnabled(),
        // Suggested commands name the lake unless every command finds it already (env var or config file).
        lakeFlag: configured.source === 'default' || configured.source === 'flag' ? lake : undefined,
        signal: this.signal,
        onProgress: (step, detail) =>
          progress.update(
            step === 'generate'
              ? `Generating the shop: ${detail}`
              : step === 'analyze'
                ? `Analysing: ${detail}`
                : 'Writing the report',
          ),
      })
      progress.succeed(`Demo ready in ${result.seconds.toFixed(1)} s`)
      if (!this.jsonEnabled()) this.out(render(result, summary))
      return result
    } catch (error) {
      progress.fail('The demo stopped.')
      throw error
    }
  }
}

function render(r: DemoResult, summary: string): string {
  const n = (x: number) => x.toLocaleString('en-US')
  const lines = [
    summary.trimEnd(),
    '',
    `Shop: ${n(r.shop.events)} events, ${n(r.shop.customers)} customers, ${n(r.shop.orders)} orders (seed ${r.shop.seed}), analysed as of ${r.asOf}`,
    '',
    `Lake:   ${r.lake}`,
    `Report: ${r.report}   (open it in a browser; it needs no network)`,
    '',
    'Try next:',
    ...r.next.flatMap((step) => [`  # ${step.what}`, `  ecap ${step.argv.map(shellQuote).join(' ')}`]),
  ]
  return lines.join('\n')
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`
}
