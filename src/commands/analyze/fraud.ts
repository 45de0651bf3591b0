import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {analyzeFraud, FRAUD_DEFAULTS, type FraudResult} from '../../lib/analytics/fraud/analyze.js'
import {buildFraudReport, fraudDocument} from '../../lib/analytics/fraud/report.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeFraud extends EcapCommand<FraudResult> {
  static override summary = 'Score every order for fraud (0-100) with the reasons behind each score.'

  static override description =
    `Features come from events before each order only (velocity per customer, card and IP country; amount against the customer's own history and the shop; first order and account age; country mismatches; cards per customer; new device or country), and a points table turns them into a score (docs/fraud.md). Orders at or above --threshold are flagged with their top reasons. The scores of every order are saved as <lake>/analytics/fraud.

With --labels (ground truth, such as \`ecap generate --labels\` writes) it also reports precision, recall and F1 at the threshold, PR-AUC, ROC-AUC and the precision of the top --top-k-per-day alerts of each day. Labels are read after scoring and never change a score.

Prints the fraud report of the run just saved, the same document ecap report fraud shows later (--json: the result object instead).

Exit codes: 0 ok, 2 bad flag, 3 empty lake or unreadable labels.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --lake ./lake',
    '<%= config.bin %> <%= command.id %> --lake ./lake --labels fraud-labels.ndjson --top-k-per-day 20',
    '<%= config.bin %> <%= command.id %> --lake ./lake --as-of 2026-06-30 --threshold 70 --json',
  ]

  static override flags = {
    lake: lakeFlag,
    'as-of': asOfFlag,
    threshold: Flags.integer({
      min: 0,
      max: 100,
      default: FRAUD_DEFAULTS.threshold,
      description: 'Flag orders whose risk score (0-100) is at least this.',
    }),
    labels: Flags.file({
      exists: true,
      description: 'Ground-truth fraud labels (NDJSON with order_id per line) to measure the scores against.',
    }),
    'top-k-per-day': Flags.integer({
      min: 1,
      default: FRAUD_DEFAULTS.topKPerDay,
      description: 'Alerts an investigation team checks per day, for the top-k precision (with --labels).',
    }),
    limit: Flags.integer({
      min: 0,
      default: FRAUD_DEFAULTS.limit,
      description: 'Flagged orders to list (highest scores first); the saved table holds all.',
    }),
  }

  public async run(): Promise<FraudResult> {
    const {flags} = await this.parse(AnalyzeFraud)
    const lake = this.resolveConfig({lake: flags.lake}).lake.value
    const progress = this.progress()
    progress.start('Scoring orders for fraud')
    const {result, report} = await this.withEngine(async (engine) => {
      try {
        const result = await analyzeFraud(engine, {
          lake,
          asOf: flags['as-of'],
          threshold: flags.threshold,
          labels: flags.labels,
          topKPerDay: flags['top-k-per-day'],
          limit: flags.limit,
          onProgress: (message) => progress.update(message),
        })
        // The report of the run just saved, read back as `ecap report fraud` reads it.
        const report = this.jsonEnabled() ? null : await buildFraudReport(engine, {lake, top: flags.limit, since: null})
        return {result, report}
      } finally {
        progress.stop()
      }
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (report) {
      this.printDocument(fraudDocument(report))
      const notScored = result.metrics?.labelsNotScored ?? 0
      if (notScored > 0) {
        this.warn(`${notScored} labelled orders are not among the scored orders (after --as-of or not in the lake).`)
      }
    }
    this.note(`Saved ${result.saved.table}`)
    return result
  }
}
