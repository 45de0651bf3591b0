import type {ReportDocument, ReportSection} from '../../report/document.js'
import {col, table} from '../report-common.js'
import type {FraudLearnResult} from './learn.js'
import type {FraudMetrics} from './metrics.js'

/** What --learn did, for people: the windows, the validation metrics beside the rules', and the fitted points. */
export function learnDocument(d: FraudLearnResult): ReportDocument {
  const windows = table(
    'windows',
    [
      col('window', 'window'),
      col('from', 'from'),
      col('to', 'to'),
      col('orders', 'orders', 'int'),
      col('chargebacks', 'chargebacks', 'int'),
    ],
    [
      ['fit', d.fit.from, d.fit.to, d.fit.orders, d.fit.chargebacks],
      ['validation', d.validation.from, d.validation.to, d.validation.orders, d.validation.chargebacks],
    ],
  )
  const sections: ReportSection[] = [{title: 'Windows', blocks: [windows]}]
  if (!d.learned) {
    sections.push({title: 'No model', blocks: [{kind: 'text', tone: 'warning', text: d.skipped ?? 'No model saved.'}]})
  } else {
    const measured: [string, FraudMetrics | null][] = [
      ['learned vs chargebacks', d.validationMetrics],
      ['rules vs chargebacks', d.rulesValidationMetrics],
      ['learned vs labels', d.validationMetricsLabels],
    ]
    const shown = measured.filter((m): m is [string, FraudMetrics] => m[1] !== null)
    sections.push({
      title: 'Validation window',
      blocks: [
        table(
          'validation',
          [
            col('scorer', 'scorer'),
            col('threshold', 'threshold', 'fixed1'),
            col('precision', 'precision', 'fixed3'),
            col('recall', 'recall', 'fixed3'),
            col('pr_auc', 'PR-AUC', 'fixed3'),
            col('roc_auc', 'ROC-AUC', 'fixed3'),
          ],
          shown.map(([name, m]) => [name, m.threshold, m.precision, m.recall, m.prAuc, m.rocAuc]),
          true,
        ),
      ],
    })
    sections.push({
      title: 'Learned points',
      blocks: [
        table(
          'points',
          [col('rule', 'rule'), col('step', 'step', 'int'), col('at', 'at'), col('points', 'points', 'fixed3')],
          [['(base)', null, null, d.baseLogOdds], ...d.points.map((p) => [p.rule, p.step, String(p.at), p.points])],
        ),
      ],
    })
  }
  return {
    title: 'Fraud model',
    subtitle: [
      d.learned && d.model
        ? `Saved ${d.model.table} version ${d.model.version}; threshold ${d.threshold} (best F1 on the fit window)`
        : 'No model saved: the hand-set rules stay in use',
      `Orders before ${d.matureBefore} (label delay ${d.labelDelayDays} days)`,
    ],
    sections,
  }
}
