import type {Engine} from '../../engine/engine.js'
import {UsageError} from '../../errors.js'
import type {ReportBlock, ReportDocument, ReportSection, TableBlock} from '../../report/document.js'
import {col, meta, num, numOrNull, type RunMeta, runLine, table} from '../report-common.js'
import {loadResult} from '../store.js'
import {segmentAction} from './actions.js'
import {RFM_RESULT, RFM_SEGMENTS_RESULT, type RfmSegmentSummary} from './rfm.js'

/** A segment as the report shows it: the analysis's summary without the score means and the country count. */
export type RfmSegmentRow = Omit<RfmSegmentSummary, 'meanR' | 'meanF' | 'meanM' | 'countries'> & {
  /** What to do for the segment's customers (segments of the default map only; null for a custom map's). */
  action: string | null
}

export interface RfmCustomerRow {
  customerId: string
  segment: string
  rfmCell: string
  recencyDays: number
  frequency: number
  monetary: number
  lastOrderDate: string
}

export interface RfmReportData {
  report: 'rfm'
  run: RunMeta
  customers: number
  revenue: number
  segments: RfmSegmentRow[]
  /** With --segment: that segment's customers, highest monetary first (at most --top). */
  selected: {segment: string; customers: number; top: RfmCustomerRow[]} | null
}

export /** The saved segment whose name matches `wanted`, ignoring case and `-`/`_` for spaces; exit 2 naming them all. */
async function resolveSegment(engine: Engine, wanted: string): Promise<string> {
  const names = (await engine.rows(`SELECT segment FROM ${RFM_SEGMENTS_RESULT} ORDER BY segment_order`)).map((r) =>
    String(r.segment),
  )
  const key = (s: string) =>
    s
      .toLowerCase()
      .replace(/[-_\s]+/g, ' ')
      .trim()
  const found = names.find((n) => key(n) === key(wanted))
  if (found === undefined) {
    throw new UsageError('SEGMENT_UNKNOWN', `No RFM segment "${wanted}"; the segments are: ${names.join(', ')}.`, {
      hints: names.slice(0, 3).map((n) => `--segment "${n}"`),
    })
  }
  return found
}

export interface RfmReportOptions {
  lake: string
  /** Customers of `segment` listed, highest monetary first. */
  top: number
  segment?: string
}

/** The rfm report from the saved segment summary (and with `segment`, that segment's customers). */
export async function buildRfmReport(engine: Engine, {lake, top, segment}: RfmReportOptions): Promise<RfmReportData> {
  const run = await loadResult(engine, lake, RFM_SEGMENTS_RESULT, 'rfm')
  const segments = (
    await engine.rows(`SELECT segment, description, customers, customer_share, CAST(revenue AS DOUBLE) AS revenue, revenue_share,
              mean_recency_days, mean_frequency, mean_monetary
       FROM ${RFM_SEGMENTS_RESULT} ORDER BY segment_order`)
  ).map(
    (r): RfmSegmentRow => ({
      segment: String(r.segment),
      description: String(r.description),
      customers: num(r.customers),
      customerShare: num(r.customer_share),
      revenue: num(r.revenue),
      revenueShare: num(r.revenue_share),
      meanRecencyDays: numOrNull(r.mean_recency_days),
      meanFrequency: numOrNull(r.mean_frequency),
      meanMonetary: numOrNull(r.mean_monetary),
      action: segmentAction(run.parameters.segments, String(r.segment)),
    }),
  )
  let selected: RfmReportData['selected'] = null
  if (segment !== undefined) {
    const name = await resolveSegment(engine, segment)
    await loadResult(engine, lake, RFM_RESULT, 'rfm')
    const customers = await engine.rows(
      `SELECT customer_id, segment, rfm_cell, recency_days, frequency, CAST(monetary AS DOUBLE) AS monetary,
              CAST(last_order_date AS VARCHAR) AS last_order_date
       FROM ${RFM_RESULT} WHERE segment = $1 ORDER BY monetary DESC, customer_id LIMIT $2`,
      [name, top],
    )
    selected = {
      segment: name,
      customers: segments.find((s) => s.segment === name)?.customers ?? 0,
      top: customers.map((r) => ({
        customerId: String(r.customer_id),
        segment: String(r.segment),
        rfmCell: String(r.rfm_cell),
        recencyDays: num(r.recency_days),
        frequency: num(r.frequency),
        monetary: num(r.monetary),
        lastOrderDate: String(r.last_order_date),
      })),
    }
  }
  return {
    report: 'rfm',
    run: meta(run),
    customers: segments.reduce((n, s) => n + s.customers, 0),
    revenue: segments.reduce((n, s) => n + s.revenue, 0),
    segments,
    selected,
  }
}

export function segmentBars(segments: RfmReportData['segments']): ReportBlock {
  return {
    kind: 'bars',
    title: 'Segments by share of customers and of revenue',
    series: ['customers', 'revenue'],
    format: 'pct',
    groups: segments.map((s) => ({label: s.segment, values: [s.customerShare, s.revenueShare]})),
  }
}

/** Each segment's size and revenue share beside what to do for it: the table a reader acts on. */
export function actionsTable(segments: RfmReportData['segments']): TableBlock {
  return table(
    'actions',
    [
      col('segment', 'segment'),
      col('customers', 'customers', 'int'),
      col('customer_share', 'share', 'pct'),
      col('revenue_share', 'rev. share', 'pct'),
      col('action', 'suggested action'),
    ],
    segments.map((s) => [
      s.segment,
      s.customers,
      s.customerShare,
      s.revenueShare,
      s.action ?? 'no suggestion (custom map)',
    ]),
  )
}

export function rfmDocument(d: RfmReportData): ReportDocument {
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
    {title: 'What to do', blocks: [actionsTable(d.segments)]},
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
