import {AtomicFile} from '../atomic-file.js'
import {withEngine} from '../engine/engine.js'
import {renderCsv} from '../report/csv.js'
import {renderHtml} from '../report/html.js'
import {renderJson} from '../report/json.js'
import {renderMarkdown} from '../report/markdown.js'
import {renderTerminal} from '../report/terminal.js'
import {buildReport, type ReportData, type ReportName, type ReportOptions} from './report-data.js'
import {reportDocument} from './report-documents.js'

export const REPORT_FORMATS = ['table', 'json', 'csv', 'md', 'html'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]

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
export async function runReport(options: RunReportOptions): Promise<{result: ReportResult; text: string}> {
  const data = await withEngine((engine) => buildReport(engine, options.report, options))
  const text = render(data, options.format, options.color)
  const toFile = options.output !== undefined && options.output !== '-'
  if (toFile) {
    const file = new AtomicFile(options.output as string, '-o')
    try {
      file.write(text)
      file.commit()
    } finally {
      file.abort()
    }
  }
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

function render(data: ReportData, format: ReportFormat, color: boolean): string {
  switch (format) {
    case 'json':
      return renderJson(data)
    case 'csv':
      return renderCsv(reportDocument(data))
    case 'md':
      return renderMarkdown(reportDocument(data))
    case 'html':
      return renderHtml(reportDocument(data), {generatedAt: new Date().toISOString().slice(0, 16).replace('T', ' ')})
    case 'table':
      return renderTerminal(reportDocument(data), {color})
  }
}
