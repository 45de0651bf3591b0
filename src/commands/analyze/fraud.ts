import {Flags} from '@oclif/core'
import Table from 'cli-table3'
import {EcapCommand} from '../../ecap-command.js'
import {analyzeFraud, FRAUD_DEFAULTS, type FraudResult} from '../../lib/analytics/fraud/analyze.js'
import {withEngine} from '../../lib/engine/engine.js'
import {duplicatesWarning} from '../../lib/shop/views.js'
import {asOfFlag, lakeFlag} from '../../shared-flags.js'

export default class AnalyzeFraud extends EcapCommand<FraudResult> {
  static override summary = 'Score every order for fraud (0-100) with the reasons behind each score.'

  static override description =
    `Features come from events before each order only (velocity per customer, card and IP country; amount against the customer's own history and the shop; first order and account age; country mismatches; cards per customer; new device or country), and a points table turns them into a score (docs/fraud.md). Orders at or above --threshold are flagged with their top reasons. The scores of every order are saved as <lake>/analytics/fraud.

With --labels (ground truth, such as \`ecap generate --labels\` writes) it also reports precision, recall and F1 at the threshold, PR-AUC, ROC-AUC and the precision of the top --top-k-per-day alerts of each day. Labels are read after scoring and never change a score.

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
    let result: FraudResult
    try {
      result = await withEngine(
        (engine) =>
          analyzeFraud(engine, {
            lake,
            asOf: flags['as-of'],
            threshold: flags.threshold,
            labels: flags.labels,
            topKPerDay: flags['top-k-per-day'],
            limit: flags.limit,
            onProgress: (message) => progress.update(message),
          }),
        {signal: this.signal},
      )
    } finally {
      progress.stop()
    }
    const duplicates = duplicatesWarning(result.duplicateEvents)
    if (duplicates) this.warn(duplicates)
    if (!this.jsonEnabled()) this.render(result)
    return result
  }

  private render(r: FraudResult): void {
    const style = this.colorEnabled() ? undefined : {head: [], border: []}
    const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`)
    const n = (x: number) => x.toLocaleString('en-US')
    this.out(`Fraud scores as of ${r.asOf} (events version ${r.eventsVersion}), threshold ${r.threshold}`)
    this.out(
      `${n(r.orders)} orders scored, ${n(r.flagged)} flagged (${pct(r.orders > 0 ? r.flagged / r.orders : null)}). Saved to ${r.saved.table}.`,
    )
    this.out(`Score bands: ${r.scoreBands.map((b) => `${b.band}: ${n(b.orders)}`).join(', ')}`)
    if (r.flaggedOrders.length > 0) {
      const table = new Table({head: ['order', 'customer', 'time', 'total', 'score', 'top reasons'], style})
      for (const o of r.flaggedOrders) {
        const reasons = o.reasons
          .slice(0, 3)
          .map((c) => `${c.reason} (${formatValue(c.value)}, +${c.points})`)
          .join(', ')
        table.push([o.orderId, o.customerId ?? '-', o.orderTime.slice(0, 19), o.total.toFixed(2), o.score, reasons])
      }
      this.out(`\nTop ${r.flaggedOrders.length} flagged orders`)
      this.out(table.toString())
    }
    if (r.reasonCounts.length > 0) {
      const table = new Table({head: ['reason', 'flagged orders', 'meaning'], style})
      for (const c of r.reasonCounts) table.push([c.reason, n(c.orders), c.label])
      this.out('\nReasons among flagged orders')
      this.out(table.toString())
    }
    const m = r.metrics
    if (m) {
      const fmt = (x: number | null) => (x === null ? '-' : x.toFixed(3))
      const table = new Table({head: ['metric', 'value'], style})
      table.push(
        ['fraud orders (labels)', `${n(m.fraudOrders)} of ${n(m.orders)} (${pct(m.fraudRate)})`],
        [`precision at ${m.threshold}`, fmt(m.precision)],
        [`recall at ${m.threshold}`, fmt(m.recall)],
        [`F1 at ${m.threshold}`, fmt(m.f1)],
        ['TP / FP / FN', `${n(m.truePositives)} / ${n(m.falsePositives)} / ${n(m.falseNegatives)}`],
        ['PR-AUC (average precision)', fmt(m.prAuc)],
        ['ROC-AUC', fmt(m.rocAuc)],
        [
          `precision of top ${m.topKPerDay.k} per day`,
          `${fmt(m.topKPerDay.precision)} (${n(m.topKPerDay.hits)} of ${n(m.topKPerDay.alerts)} alerts over ${n(m.topKPerDay.days)} days, recall ${fmt(m.topKPerDay.recall)})`,
        ],
        ...m.byPattern.map((p) => [
          `recall at ${m.threshold}: ${p.pattern}`,
          `${fmt(p.recall)} (${n(p.caught)} of ${n(p.orders)})`,
        ]),
      )
      this.out('\nAgainst the labels')
      this.out(table.toString())
      if (m.labelsNotScored > 0) {
        this.warn(
          `${m.labelsNotScored} labelled orders are not among the scored orders (after --as-of or not in the lake).`,
        )
      }
    }
  }
}

function formatValue(value: number | boolean): string {
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 0.1 ? 4 : 1)
}
