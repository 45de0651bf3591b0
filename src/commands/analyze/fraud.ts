import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {
  analyzeFraud,
  FRAUD_DEFAULTS,
  type FraudResult,
  learnAndAnalyzeFraud,
} from '../../lib/analytics/fraud/analyze.js'
import {type FraudLearnResult, LEARN_DEFAULTS} from '../../lib/analytics/fraud/learn.js'
import {learnDocument} from '../../lib/analytics/fraud/learn-report.js'
import {FRAUD_MODEL_CHOICES} from '../../lib/analytics/fraud/model.js'
import {buildFraudReport, fraudDocument} from '../../lib/analytics/fraud/report.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, engineFlag, lakeFlag} from '../../shared-flags.js'

/** With --learn, the result carries what learning did (`learn`); the scores then come from the model it saved. */
export type AnalyzeFraudResult = FraudResult & {learn?: FraudLearnResult}

export default class AnalyzeFraud extends EcapCommand<AnalyzeFraudResult> {
  static override summary = 'Score every order for fraud (0-100) with the reasons behind each score.'

  static override description =
    `Features come from events before each order only (velocity per customer, card and IP country; amount against the customer's own history and the shop; first order and account age; country mismatches; cards per customer; new device or country), and a points table turns them into a score (docs/fraud.md). Orders at or above --threshold are flagged with their top reasons. The scores of every order are saved as <lake>/analytics/fraud.

--learn first fits the points to the shop's own chargebacks (an L2 logistic regression of one indicator per rule step), on mature orders (older than --label-delay days before the end of history), validates on the later part of them (the last 30 % by time, or from --split-date), and saves the model as a new version of <lake>/models/fraud with a threshold chosen on the fit window. With fewer than --min-chargebacks chargebacks in the fit window nothing is saved and the hand-set rules stay in use (a warning, exit 0). Scoring uses the latest saved model unless --model rules.

With --labels (ground truth, such as \`ecap generate --labels\` writes) it also reports precision, recall and F1 at the threshold, PR-AUC, ROC-AUC and the precision of the top --top-k-per-day alerts of each day. Labels are read after scoring and never change a score.

Prints the fraud report of the run just saved, the same document ecap report fraud shows later (--json: the result object instead).

Exit codes: 0 ok, 2 bad flag, 3 empty lake or unreadable labels.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --lake ./lake',
    '<%= config.bin %> <%= command.id %> --lake ./lake --labels fraud-labels.ndjson --top-k-per-day 20',
    '<%= config.bin %> <%= command.id %> --lake ./lake --learn --label-delay 60',
    '<%= config.bin %> <%= command.id %> --lake ./lake --as-of 2026-06-30 --threshold 70 --json',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'as-of': asOfFlag,
    threshold: Flags.integer({
      min: 0,
      max: 100,
      description: `Flag orders whose risk score (0-100) is at least this. [default: the learned model's threshold, else ${FRAUD_DEFAULTS.threshold}]`,
    }),
    model: Flags.option({
      options: FRAUD_MODEL_CHOICES,
      default: FRAUD_DEFAULTS.model,
      description:
        'What scores: the latest learned model when there is one (auto), the hand-set rules, or the learned model (exit 3 if none).',
    })(),
    learn: Flags.boolean({
      description:
        "Fit the points to the shop's chargebacks, validate on a later window and save the model before scoring.",
      helpGroup: 'LEARN',
    }),
    'label-delay': Flags.integer({
      min: 0,
      // No oclif default: a defaulted flag counts as given, and dependsOn would then demand --learn.
      description: `Days a chargeback may take to arrive: younger orders (before the end of history) are not learned from. [default: ${LEARN_DEFAULTS.labelDelayDays}]`,
      dependsOn: ['learn'],
      helpGroup: 'LEARN',
    }),
    'split-date': Flags.string({
      description: 'First day of the validation window (YYYY-MM-DD). [default: the last 30% of mature orders]',
      dependsOn: ['learn'],
      helpGroup: 'LEARN',
    }),
    'min-chargebacks': Flags.integer({
      min: 1,
      description: `Chargebacks the fit window needs; with fewer, no model is saved and the rules stay in use. [default: ${LEARN_DEFAULTS.minChargebacks}]`,
      dependsOn: ['learn'],
      helpGroup: 'LEARN',
    }),
    'link-days': Flags.integer({
      min: 0,
      description: `Orders on the account or card of a charged-back order within this many days of it are learned as fraud too (0: charged-back orders only). [default: ${LEARN_DEFAULTS.linkDays}]`,
      dependsOn: ['learn'],
      helpGroup: 'LEARN',
    }),
    prior: Flags.string({
      options: ['rules', 'none'],
      description: `Where the fit pulls each point without evidence: the hand-set rules' points, or zero. [default: ${LEARN_DEFAULTS.prior}]`,
      dependsOn: ['learn'],
      helpGroup: 'LEARN',
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

  public async run(): Promise<AnalyzeFraudResult> {
    const {flags} = await this.parse(AnalyzeFraud)
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine})
    const lake = config.lake.value
    const progress = this.progress()
    progress.start('Scoring orders for fraud')
    const {result, report, learned} = await this.withAnalysisEngine(config, async (engine) => {
      try {
        const fraudOptions = {
          lake,
          asOf: flags['as-of'],
          threshold: flags.threshold,
          model: flags.model,
          labels: flags.labels,
          topKPerDay: flags['top-k-per-day'],
          limit: flags.limit,
          onProgress: (message: string) => progress.update(message),
        }
        const {fraud: result, learn: learned} = flags.learn
          ? await learnAndAnalyzeFraud(
              engine,
              {
                lake,
                labelDelayDays: flags['label-delay'],
                splitDate: flags['split-date'],
                minChargebacks: flags['min-chargebacks'],
                linkDays: flags['link-days'],
                prior: flags.prior as 'rules' | 'none' | undefined,
                labels: flags.labels,
                topKPerDay: flags['top-k-per-day'],
                onProgress: fraudOptions.onProgress,
              },
              fraudOptions,
            )
          : {fraud: await analyzeFraud(engine, fraudOptions), learn: undefined}
        // The report of the run just saved, read back as `ecap report fraud` reads it.
        const report = this.jsonEnabled() ? null : await buildFraudReport(engine, {lake, top: flags.limit, since: null})
        return {result, report, learned}
      } finally {
        progress.stop()
      }
    })
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (learned?.skipped) this.warn(learned.skipped)
    if (result.model.missingRules.length > 0) {
      this.warn(
        `The learned model predates the rules ${result.model.missingRules.join(', ')}: they give no points until you run ecap analyze fraud --learn again.`,
      )
    }
    if (report) {
      if (learned) this.printDocument(learnDocument(learned))
      this.printDocument(fraudDocument(report))
      const notScored = result.metrics?.labelsNotScored ?? 0
      if (notScored > 0) {
        this.warn(`${notScored} labelled orders are not among the scored orders (after --as-of or not in the lake).`)
      }
    }
    this.note(`Saved ${result.saved.table}`)
    return this.withExtract(learned ? {...result, learn: learned} : result)
  }
}
