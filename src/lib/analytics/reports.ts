import type {Engine} from '../engine/engine.js'
import {UsageError} from '../errors.js'
import type {ReportDocument} from '../report/document.js'
import {type ReportFormat, renderReport, writeReportFile} from '../report/render.js'
import {buildClvReport, type ClvReportData, clvDocument} from './clv/report.js'
import {buildCohortReport, type CohortReportData, cohortDocument} from './cohort/report.js'
import {buildFraudReport, type FraudReportData, fraudDocument} from './fraud/report.js'
import {buildFunnelReport, type FunnelReportData, funnelDocument} from './funnel/report.js'
import {buildKpiReport, type KpiReportData, kpiDocument} from './kpi/report.js'
import {buildRfmReport, type RfmReportData, rfmDocument} from './rfm/report.js'
import {buildSummaryReport, type SummaryReportData, summaryDocument} from './summary/report.js'

export type {RunMeta} from './report-common.js'
export type {
  ClvReportData,
  CohortReportData,
  FraudReportData,
  FunnelReportData,
  KpiReportData,
  RfmReportData,
  SummaryReportData,
}

export const REPORTS = ['rfm', 'clv', 'fraud', 'kpi', 'funnel', 'cohort', 'summary'] as const

export type ReportName = (typeof REPORTS)[number]

/** Which of --top, --segment and --since each report takes; the others are refused, not silently ignored. */
export const REPORT_FLAGS: Record<ReportName, {top: number | null; segment: boolean; since: boolean}> = {
  rfm: {top: 20, segment: true, since: false},
  clv: {top: 10, segment: true, since: false},
  fraud: {top: 20, segment: false, since: true},
  kpi: {top: 10, segment: false, since: true},
  funnel: {top: 10, segment: false, since: false},
  cohort: {top: 12, segment: false, since: true},
  summary: {top: null, segment: false, since: true},
}

export interface ReportOptions {
  lake: string
  /** Rows listed: customers, flagged orders, products, countries or cohorts, per report (REPORT_FLAGS). */
  top?: number
  /** An RFM segment name (case and `-`/`_` for spaces do not matter). */
  segment?: string
  /** First day shown (YYYY-MM-DD). */
  since?: string
}

export type ReportData =
  | RfmReportData
  | ClvReportData
  | FraudReportData
  | KpiReportData
  | FunnelReportData
  | CohortReportData
  | SummaryReportData

/**
 * Builds the data of one report from the saved results of `ecap analyze` (registered with loadResult and read with
 * SQL; nothing is recomputed). A result never saved is a DataError (exit 3) naming the analysis to run; a flag the
 * report does not take, a bad date or an unknown segment is a UsageError (exit 2).
 */
export async function buildReport(engine: Engine, name: ReportName, options: ReportOptions): Promise<ReportData> {
  checkFlags(name, options)
  const since = options.since === undefined ? null : parseDay(options.since)
  const top = options.top ?? REPORT_FLAGS[name].top ?? 10
  switch (name) {
    case 'rfm':
      return buildRfmReport(engine, {lake: options.lake, top, segment: options.segment})
    case 'clv':
      return buildClvReport(engine, {lake: options.lake, top, segment: options.segment})
    case 'fraud':
      return buildFraudReport(engine, {lake: options.lake, top, since})
    case 'kpi':
      return buildKpiReport(engine, {lake: options.lake, top, since})
    case 'funnel':
      return buildFunnelReport(engine, {lake: options.lake, top})
    case 'cohort':
      return buildCohortReport(engine, {lake: options.lake, top, since})
    case 'summary':
      return buildSummaryReport(engine, {lake: options.lake, since})
  }
}

function checkFlags(name: ReportName, options: ReportOptions): void {
  const takes = REPORT_FLAGS[name]
  const takers = (flag: 'segment' | 'since' | 'top') =>
    REPORTS.filter((r) => (flag === 'top' ? REPORT_FLAGS[r].top !== null : REPORT_FLAGS[r][flag])).join(', ')
  const refuse = (flag: 'segment' | 'since' | 'top') => {
    throw new UsageError('REPORT_FLAG_UNSUPPORTED', `ecap report ${name} does not take --${flag}.`, {
      hints: [`--${flag} works with: ${takers(flag)}`],
    })
  }
  if (options.segment !== undefined && !takes.segment) refuse('segment')
  if (options.since !== undefined && !takes.since) refuse('since')
  if (options.top !== undefined && takes.top === null) refuse('top')
  if (options.top !== undefined && !(Number.isInteger(options.top) && options.top >= 1)) {
    throw new UsageError('TOP_INVALID', `--top must be a whole number of at least 1, not ${options.top}.`, {
      hints: ['--top 10'],
    })
  }
}

function parseDay(text: string): string {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text) ? new Date(`${text}T00:00:00Z`) : null
  if (!day || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== text) {
    throw new UsageError('SINCE_INVALID', `--since must be a day as YYYY-MM-DD, not "${text}".`, {
      hints: ['--since 2026-01-01'],
    })
  }
  return text
}

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

export interface RunReportOptions extends ReportOptions {
  report: ReportName
  format: ReportFormat
  /** A file to write (atomically: complete or not at all); undefined or `-` returns the text for stdout. */
  output?: string
  /** ANSI colour in the table format; the caller decides (TTY, NO_COLOR, --color). */
  color: boolean
  /** The terminal's width in columns, for the table format's charts. */
  columns?: number
}

export interface ReportResult {
  report: ReportName
  format: ReportFormat
  /** The file written, or null when the text went to stdout. */
  output: string | null
  bytes: number
  data: ReportData
}

/** Builds a report from the saved analysis results and renders it; `text` is for stdout when there is no file. */
export async function runReport(
  engine: Engine,
  options: RunReportOptions,
): Promise<{result: ReportResult; text: string}> {
  const data = await buildReport(engine, options.report, options)
  const text = renderReport({data, document: reportDocument(data)}, options.format, {
    color: options.color,
    columns: options.columns,
  })
  const toFile = options.output !== undefined && options.output !== '-'
  if (toFile) writeReportFile(options.output as string, text)
  return {
    result: {
      report: options.report,
      format: options.format,
      output: toFile ? (options.output as string) : null,
      bytes: Buffer.byteLength(text),
      data,
    },
    text,
  }
}
