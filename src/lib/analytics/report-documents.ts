import type {
  HeatmapBlock,
  MetricsBlock,
  ReportBlock,
  ReportDocument,
  ReportSection,
  TableBlock,
  TableColumn,
  ValueFormat,
} from '../report/document.js'
import type {
  ClvReportData,
  CohortReportData,
  FraudReportData,
  FunnelReportData,
  FunnelStepRow,
  KpiReportData,
  ReportData,
  RfmReportData,
  RunMeta,
  SummaryReportData,
} from './report-data.js'

/** The report as sections of tables and charts, for every format but JSON (which writes the data itself). */
export function reportDocument(data: ReportData): ReportDocument {
  switch (data.report) {
    case 'rfm':
      return rfmDocument(data)
    case 'clv':
      return clvDocument(data)
    case 'fraud':
      return fraudDocument(data)
    case 'kpi':
      return kpiDocument(data)
    case 'funnel':
      return funnelDocument(data)
    case 'cohort':
      return cohortDocument(data)
    case 'summary':
      return summaryDocument(data)
  }
}

const col = (key: string, title: string, format: ValueFormat = 'text'): TableColumn => ({key, title, format})

function table(name: string, columns: TableColumn[], rows: TableBlock['rows'], primary = false): TableBlock {
  return {kind: 'table', name, columns, rows, primary}
}

function runLine(run: RunMeta, what: string): string {
  // A reader of the report should know that some events reached the lake twice, even though each counted once.
  const duplicates =
    run.duplicateEvents > 0 ? `; ${run.duplicateEvents.toLocaleString('en-US')} duplicate events set aside` : ''
  return `${what} as of ${run.asOf} (events version ${run.eventsVersion}${duplicates}), analysed ${run.ranAt.slice(0, 16).replace('T', ' ')} UTC`
}

function segmentBars(segments: RfmReportData['segments']): ReportBlock {
  return {
    kind: 'bars',
    title: 'Segments by share of customers and of revenue',
    series: ['customers', 'revenue'],
    format: 'pct',
    groups: segments.map((s) => ({label: s.segment, values: [s.customerShare, s.revenueShare]})),
  }
}

function rfmDocument(d: RfmReportData): ReportDocument {
  const sections: ReportSection[] = [
    {
      title: 'Segments',
      blocks: [
        segmentBars(d.segments),
        table(
          'segments',
          [
            col('segment', 'segment'),
            col('customers', 'customers', 'int'),
            col('customer_share', 'share', 'pct'),
            col('revenue', 'revenue', 'money'),
            col('revenue_share', 'rev. share', 'pct'),
            col('mean_recency_days', 'days since', 'fixed1'),
            col('mean_frequency', 'orders', 'fixed1'),
            col('mean_monetary', 'mean value', 'money'),
            col('description', 'who they are'),
          ],
          d.segments.map((s) => [
            s.segment,
            s.customers,
            s.customerShare,
            s.revenue,
            s.revenueShare,
            s.meanRecencyDays,
            s.meanFrequency,
            s.meanMonetary,
            s.description,
          ]),
          d.selected === null,
        ),
      ],
    },
  ]
  if (d.selected) {
    sections.push({
      title: `Customers in ${d.selected.segment} (top ${d.selected.top.length} of ${d.selected.customers} by revenue)`,
      blocks: [
        table(
          'customers',
          [
            col('customer_id', 'customer'),
            col('rfm_cell', 'RFM'),
            col('recency_days', 'days since', 'int'),
            col('frequency', 'orders', 'int'),
            col('monetary', 'revenue', 'money'),
            col('last_order_date', 'last order'),
          ],
          d.selected.top.map((c) => [c.customerId, c.rfmCell, c.recencyDays, c.frequency, c.monetary, c.lastOrderDate]),
          true,
        ),
      ],
    })
  }
  return {
    title: 'RFM segments',
    subtitle: [
      runLine(d.run, `${d.customers.toLocaleString('en-US')} customers`),
      `Net revenue ${d.revenue.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2})}`,
    ],
    sections,
  }
}

function fitTable(models: (ClvReportData['purchaseModel'] | null)[]): TableBlock {
  const rows: TableBlock['rows'] = []
  for (const fit of models) {
    if (!fit) continue
    for (const [name, value] of Object.entries(fit.parameters)) {
      rows.push([fit.model, name, value, fit.standardErrors[name] ?? null])
    }
    rows.push([fit.model, 'log-likelihood', fit.logLikelihood, null])
  }
  return table(
    'fit',
    [
      col('model', 'model'),
      col('parameter', 'parameter'),
      col('estimate', 'estimate', 'fixed4'),
      col('std_error', 'std. error', 'fixed4'),
    ],
    rows,
  )
}

function clvDocument(d: ClvReportData): ReportDocument {
  const t = d.totals
  const metrics: MetricsBlock = {
    kind: 'metrics',
    items: [
      {label: 'customers', value: t.customers, format: 'int'},
      {label: 'bought again', value: t.withRepeatPurchases, format: 'int'},
      {label: `total CLV (${d.horizonMonths ?? '?'} months)`, value: t.totalClv, format: 'money'},
      {label: 'mean CLV', value: t.meanClv, format: 'money'},
      {label: 'expected purchases', value: t.expectedPurchases, format: 'fixed1'},
      {label: 'mean P(alive)', value: t.meanProbabilityAlive, format: 'pct'},
    ],
  }
  const fitBlocks: ReportBlock[] = [fitTable([d.purchaseModel, d.spendModel])]
  if (d.holdout) {
    fitBlocks.push({
      kind: 'text',
      text: `Holdout of ${d.holdout.days} days: ${d.holdout.actualRepeatPurchases} repeat purchases, ${d.holdout.predictedRepeatPurchases.toFixed(1)} predicted.`,
    })
  }
  return {
    title: d.segment ? `Customer lifetime value: ${d.segment}` : 'Customer lifetime value',
    subtitle: [
      runLine(d.run, `${t.customers.toLocaleString('en-US')} customers`),
      `Calibration to ${d.calibrationEnd ?? '?'}, time unit ${d.timeUnit ?? '?'}, horizon ${d.horizonMonths ?? '?'} months, discount ${d.discountRate ?? '?'} per month`,
    ],
    sections: [
      {
        title: 'Totals',
        blocks: [
          metrics,
          {
            kind: 'bars',
            title: 'Share of total CLV by customer decile (highest value first)',
            series: ['share of CLV'],
            format: 'pct',
            groups: d.deciles.map((x) => ({label: `decile ${x.decile}`, values: [x.share]})),
          },
        ],
      },
      {title: 'Model fit', blocks: fitBlocks},
      {
        title: `Top ${d.topCustomers.length} customers by CLV`,
        blocks: [
          table(
            'customers',
            [
              col('customer_id', 'customer'),
              col('frequency', 'repeats', 'int'),
              col('recency', 'recency', 'fixed1'),
              col('t', 'T', 'fixed1'),
              col('monetary', 'mean spend', 'money'),
              col('probability_alive', 'P(alive)', 'fixed3'),
              col('expected_purchases', 'exp. purchases', 'fixed2'),
              col('expected_order_value', 'exp. value', 'money'),
              col('clv', 'CLV', 'money'),
            ],
            d.topCustomers.map((c) => [
              c.customerId,
              c.frequency,
              c.recency,
              c.T,
              c.monetary,
              c.probabilityAlive,
              c.expectedPurchases,
              c.expectedOrderValue,
              c.clv,
            ]),
            true,
          ),
        ],
      },
    ],
  }
}

function metricsTable(m: NonNullable<FraudReportData['metrics']>): TableBlock {
  return table(
    'metrics',
    [col('metric', 'metric'), col('value', 'value', 'fixed3')],
    [
      ['fraud orders (labels)', m.fraudOrders],
      [`precision at ${m.threshold}`, m.precision],
      [`recall at ${m.threshold}`, m.recall],
      [`F1 at ${m.threshold}`, m.f1],
      ['PR-AUC', m.prAuc],
      ['ROC-AUC', m.rocAuc],
      [`precision of top ${m.topKPerDay.k} per day`, m.topKPerDay.precision],
    ],
  )
}

function fraudDocument(d: FraudReportData): ReportDocument {
  const sections: ReportSection[] = [
    {
      title: 'Flagged orders',
      blocks: [
        {
          kind: 'metrics',
          items: [
            {label: 'orders', value: d.orders, format: 'int'},
            {label: 'flagged', value: d.flagged, format: 'int'},
            {label: 'flagged share', value: d.flaggedShare, format: 'pct'},
            {label: 'flagged amount', value: d.flaggedAmount, format: 'money'},
            {label: 'threshold', value: d.threshold, format: 'fixed1'},
          ],
        },
        {
          kind: 'sparkline',
          title: 'Flagged orders per day',
          format: 'int',
          points: d.daily.map((x) => ({label: x.day, value: x.flagged})),
        },
        {
          kind: 'bars',
          title: 'Orders by risk score',
          series: ['orders'],
          format: 'int',
          groups: d.scoreBands.map((b) => ({label: b.band, values: [b.orders]})),
        },
        table(
          'flagged',
          [
            col('order_id', 'order'),
            col('customer_id', 'customer'),
            col('order_time', 'time'),
            col('total', 'total', 'money'),
            col('risk_score', 'score', 'fixed1'),
            col('reasons', 'top reasons'),
          ],
          d.flaggedOrders.map((o) => [o.orderId, o.customerId, o.orderTime, o.total, o.score, o.reasons.join(' ')]),
          true,
        ),
      ],
    },
  ]
  if (d.reasons.length > 0) {
    sections.push({
      title: 'Reasons among flagged orders',
      blocks: [
        table(
          'reasons',
          [col('reason', 'reason'), col('orders', 'flagged orders', 'int')],
          d.reasons.map((r) => [r.reason, r.orders]),
        ),
      ],
    })
  }
  sections.push({
    title: 'Against labels',
    blocks: d.metrics
      ? [
          metricsTable(d.metrics),
          ...(d.since
            ? [{kind: 'text', tone: 'note', text: 'Metrics cover the whole run, not only --since.'} as const]
            : []),
        ]
      : [{kind: 'text', tone: 'note', text: 'No labels: run ecap analyze fraud --labels FILE to measure the scores.'}],
  })
  return {
    title: 'Fraud scores',
    subtitle: [
      runLine(d.run, `${d.orders.toLocaleString('en-US')} orders`),
      ...(d.since ? [`Orders from ${d.since}`] : []),
    ],
    sections,
  }
}

const PERIOD_COLUMNS = [
  col('revenue', 'revenue', 'money'),
  col('orders', 'orders', 'int'),
  col('units', 'units', 'int'),
  col('aov', 'AOV', 'money'),
  col('sessions', 'sessions', 'int'),
  col('conversion_rate', 'conv.', 'pct'),
  col('refund_rate', 'refunds', 'pct'),
  col('new_customers', 'new', 'int'),
  col('returning_customers', 'returning', 'int'),
]

function periodRow(p: KpiReportData['totals']): TableBlock['rows'][number] {
  return [
    p.revenue,
    p.orders,
    p.units,
    p.aov,
    p.sessions,
    p.conversionRate,
    p.refundRate,
    p.newCustomers,
    p.returningCustomers,
  ]
}

function kpiMetrics(t: KpiReportData['totals']): MetricsBlock {
  return {
    kind: 'metrics',
    items: [
      {label: 'revenue', value: t.revenue, format: 'money'},
      {label: 'orders', value: t.orders, format: 'int'},
      {label: 'AOV', value: t.aov, format: 'money'},
      {label: 'conversion', value: t.conversionRate, format: 'pct'},
      {label: 'sessions', value: t.sessions, format: 'int'},
      {label: 'refund rate', value: t.refundRate, format: 'pct'},
      {label: 'new customers', value: t.newCustomers, format: 'int'},
    ],
  }
}

function kpiDocument(d: KpiReportData): ReportDocument {
  return {
    title: 'Key performance indicators',
    subtitle: [runLine(d.run, `${d.from} to ${d.to}`)],
    sections: [
      {
        title: `Totals, ${d.from} to ${d.to}`,
        blocks: [
          kpiMetrics(d.totals),
          {
            kind: 'sparkline',
            title: 'Daily revenue',
            format: 'money',
            points: d.daily.map((p) => ({label: p.period, value: p.revenue})),
          },
        ],
      },
      {
        title: 'Weeks',
        blocks: [
          table(
            'weekly',
            [col('period', 'week of'), col('days', 'days', 'int'), ...PERIOD_COLUMNS],
            d.weekly.map((p) => [p.period, p.days, ...periodRow(p)]),
          ),
        ],
      },
      {
        title: 'Days',
        blocks: [
          table(
            'daily',
            [col('period', 'day'), ...PERIOD_COLUMNS],
            d.daily.map((p) => [p.period, ...periodRow(p)]),
            true,
          ),
        ],
      },
      {
        title: `Top ${d.topProducts.length} products and categories`,
        blocks: [
          table(
            'products',
            [
              col('rank', '#', 'int'),
              col('product_id', 'product'),
              col('category', 'category'),
              col('orders', 'orders', 'int'),
              col('units', 'units', 'int'),
              col('revenue', 'revenue', 'money'),
            ],
            d.topProducts.map((p) => [p.rank, p.productId, p.category, p.orders, p.units, p.revenue]),
          ),
          {
            kind: 'bars',
            title: 'Revenue by category',
            series: ['revenue'],
            format: 'money',
            groups: d.topCategories.map((c) => ({label: c.category, values: [c.revenue]})),
          },
          table(
            'categories',
            [
              col('rank', '#', 'int'),
              col('category', 'category'),
              col('products', 'products', 'int'),
              col('orders', 'orders', 'int'),
              col('units', 'units', 'int'),
              col('revenue', 'revenue', 'money'),
            ],
            d.topCategories.map((c) => [c.rank, c.category, c.products, c.orders, c.units, c.revenue]),
          ),
        ],
      },
    ],
  }
}

function funnelBlock(title: string, steps: FunnelStepRow[]): ReportBlock {
  return {
    kind: 'funnel',
    title,
    steps: steps.map((s) => ({label: s.step, value: s.sessions, share: s.overallConversion})),
  }
}

function funnelDocument(d: FunnelReportData): ReportDocument {
  const groupRows = (dimension: string, groups: FunnelReportData['byDevice']) =>
    groups.flatMap((g) =>
      g.steps.map((s) => [dimension, g.value, s.step, s.sessions, s.stepConversion, s.overallConversion, s.dropOff]),
    )
  const columns = [
    col('dimension', 'by'),
    col('value', 'value'),
    col('step', 'step'),
    col('sessions', 'sessions', 'int'),
    col('step_conversion', 'from step before', 'pct'),
    col('overall_conversion', 'from first step', 'pct'),
    col('drop_off', 'lost', 'int'),
  ]
  const rows = [
    ...groupRows('all', [{value: 'all', steps: d.overall}]),
    ...groupRows('device', d.byDevice),
    ...groupRows('country', d.byCountry),
  ]
  const purchase = (g: {steps: FunnelStepRow[]}) => g.steps.at(-1)?.overallConversion ?? 0
  return {
    title: 'Session funnel',
    subtitle: [runLine(d.run, `${(d.overall[0]?.sessions ?? 0).toLocaleString('en-US')} sessions`)],
    sections: [
      {title: 'All sessions', blocks: [funnelBlock('Sessions reaching each step', d.overall)]},
      {
        title: 'By device and country',
        blocks: [
          {
            kind: 'bars',
            title: 'Conversion to purchase by device',
            series: ['conversion'],
            format: 'pct',
            groups: d.byDevice.map((g) => ({label: g.value, values: [purchase(g)]})),
          },
          {
            kind: 'bars',
            title: `Conversion to purchase, top ${d.byCountry.length} of ${d.countries} countries by sessions`,
            series: ['conversion'],
            format: 'pct',
            groups: d.byCountry.map((g) => ({label: g.value, values: [purchase(g)]})),
          },
          table('funnel', columns, rows, true),
        ],
      },
    ],
  }
}

function retentionHeatmap(cohorts: CohortReportData['cohorts'], maxMonths?: number): HeatmapBlock {
  const months = Math.min(maxMonths ?? Number.POSITIVE_INFINITY, Math.max(0, ...cohorts.map((c) => c.periods.length)))
  const columns = Array.from({length: months}, (_, i) => `M${i}`)
  return {
    kind: 'heatmap',
    title: 'Retention: share of each cohort ordering n months after its first purchase',
    rowTitle: 'cohort',
    rows: cohorts.map((c) => `${c.cohortMonth.slice(0, 7)} (${c.size})`),
    columns,
    cells: cohorts.map((c) =>
      columns.map((_, m) => {
        const p = c.periods[m]
        return p ? {value: p.retention, partial: !p.complete} : null
      }),
    ),
    legend: '* month not over yet: its figure will still grow.',
  }
}

function cohortDocument(d: CohortReportData): ReportDocument {
  return {
    title: 'Acquisition cohorts',
    subtitle: [
      runLine(d.run, `${d.customers.toLocaleString('en-US')} customers in ${d.cohorts.length} monthly cohorts`),
      ...(d.since ? [`Cohorts from ${d.since.slice(0, 7)}`] : []),
    ],
    sections: [
      {
        title: 'Retention',
        blocks: [
          retentionHeatmap(d.cohorts),
          table(
            'cohort',
            [
              col('cohort_month', 'cohort'),
              col('cohort_size', 'size', 'int'),
              col('months_since_first', 'month', 'int'),
              col('customers', 'customers', 'int'),
              col('retention', 'retention', 'pct'),
              col('orders', 'orders', 'int'),
              col('revenue', 'revenue', 'money'),
              col('cumulative_revenue_per_customer', 'cum. rev./customer', 'money'),
              col('complete', 'complete'),
            ],
            d.cohorts.flatMap((c) =>
              c.periods.map((p) => [
                c.cohortMonth,
                c.size,
                p.monthsSinceFirst,
                p.customers,
                p.retention,
                p.orders,
                p.revenue,
                p.cumulativeRevenuePerCustomer,
                p.complete,
              ]),
            ),
            true,
          ),
        ],
      },
    ],
  }
}

function summaryDocument(d: SummaryReportData): ReportDocument {
  const sections: ReportSection[] = []
  const headline: TableBlock['rows'] = []
  if (d.kpi) {
    const t = d.kpi.totals
    headline.push(['revenue', t.revenue], ['orders', t.orders], ['AOV', t.aov], ['conversion', t.conversionRate])
    sections.push({
      title: `Shop, ${d.kpi.from} to ${d.kpi.to}`,
      blocks: [
        kpiMetrics(t),
        {
          kind: 'sparkline',
          title: 'Daily revenue',
          format: 'money',
          points: d.kpi.daily.map((p) => ({label: p.day, value: p.revenue})),
        },
      ],
    })
  }
  if (d.rfm) {
    headline.push(['customers (RFM)', d.rfm.customers])
    sections.push({
      title: `Customers: ${d.rfm.customers.toLocaleString('en-US')} in RFM segments`,
      // One bar per segment keeps the overview on one screen; ecap report rfm has revenue beside it.
      blocks: [
        {
          kind: 'bars',
          title: 'Share of customers by segment',
          series: ['customers'],
          format: 'pct',
          groups: d.rfm.segments
            .filter((s) => s.customers > 0)
            .map((s) => ({label: s.segment, values: [s.customerShare]})),
        },
      ],
    })
  }
  if (d.clv) {
    const c = d.clv
    headline.push(['total CLV', c.totals.totalClv])
    const fit = c.purchaseModel
    const params = fit
      ? `${fit.model} ${Object.entries(fit.parameters)
          .map(([k, v]) => `${k}=${v.toPrecision(3)}`)
          .join(' ')}, log-likelihood ${fit.logLikelihood?.toFixed(1) ?? '-'}`
      : 'no fit recorded'
    sections.push({
      title: 'Customer lifetime value',
      blocks: [
        {
          kind: 'metrics',
          items: [
            {label: `total CLV (${c.horizonMonths ?? '?'} months)`, value: c.totals.totalClv, format: 'money'},
            {label: 'mean', value: c.totals.meanClv, format: 'money'},
            {label: 'customers', value: c.totals.customers, format: 'int'},
            {label: 'mean P(alive)', value: c.totals.meanProbabilityAlive, format: 'pct'},
          ],
        },
        {
          kind: 'text',
          text: `Fit: ${params}${c.holdout ? `; holdout ${c.holdout.actualRepeatPurchases} repeat purchases, ${c.holdout.predictedRepeatPurchases.toFixed(1)} predicted` : ''}`,
        },
      ],
    })
  }
  if (d.fraud) {
    const f = d.fraud
    headline.push(['flagged orders', f.flagged])
    const m = f.metrics
    const items: MetricsBlock['items'] = [
      {label: 'orders scored', value: f.orders, format: 'int'},
      {label: `flagged (score ≥ ${f.threshold})`, value: f.flagged, format: 'int'},
      {label: 'share', value: f.flaggedShare, format: 'pct'},
    ]
    if (m) {
      items.push(
        {label: 'precision', value: m.precision, format: 'fixed3'},
        {label: 'recall', value: m.recall, format: 'fixed3'},
        {label: 'PR-AUC', value: m.prAuc, format: 'fixed3'},
      )
    }
    sections.push({title: 'Fraud', blocks: [{kind: 'metrics', items}]})
  }
  if (d.funnel) sections.push({title: 'Funnel', blocks: [funnelBlock('Sessions reaching each step', d.funnel.overall)]})
  if (d.cohort) {
    sections.push({title: 'Cohorts', blocks: [retentionHeatmap(d.cohort.cohorts, 6)]})
  }
  if (d.missing.length > 0) {
    sections.push({
      title: 'Not analysed yet',
      blocks: d.missing.map((m) => ({
        kind: 'text',
        tone: 'warning',
        text: `No ${m.analysis} result: run ${m.command}`,
      })),
    })
  }
  // The page's headline figures in one table, for --format csv; the page shows them already.
  const figures = table('summary', [col('metric', 'metric'), col('value', 'value', 'fixed2')], headline, true)
  sections[0]?.blocks.push({...figures, dataOnly: true})
  const asOf = d.kpi?.run.asOf ?? d.rfm?.run.asOf ?? d.clv?.run.asOf ?? d.fraud?.run.asOf ?? d.funnel?.run.asOf
  return {
    title: 'Shop summary',
    subtitle: [`Lake ${d.lake}${asOf ? `, as of ${asOf}` : ''}`],
    sections,
  }
}
