import type {Engine} from '../engine/engine.js'
import {type ReportFormat, renderReport, writeReportFile} from '../report/render.js'
import {buildReport, type ReportData, type ReportName, type ReportOptions} from './report-data.js'
import {reportDocument} from './report-documents.js'

export interface RunReportOptions extends ReportOptions {
  report: ReportName
  format: ReportFormat
  /** A file to write (atomically: complete or not at all); undefined or `-` returns the text for stdout. */
  output?: string
  /** ANSI colour in the table format; the caller decides (TTY, NO_COLOR, --color). */
  color: boolean
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
  const text = renderReport({data, document: reportDocument(data)}, options.format, {color: options.color})
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
