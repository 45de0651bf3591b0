import {AtomicFile} from '../atomic-file.js'
import {renderCsv} from './csv.js'
import type {ReportDocument} from './document.js'
import {renderHtml} from './html.js'
import {renderJson} from './json.js'
import {renderMarkdown} from './markdown.js'
import {renderTerminal} from './terminal.js'

export const REPORT_FORMATS = ['table', 'json', 'csv', 'md', 'html'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]

export interface RenderOptions {
  /** ANSI colour in the table format; the caller decides (TTY, NO_COLOR, --color). */
  color: boolean
  /** The terminal's width in columns for the table format's charts (see terminalColumns). */
  columns?: number
}

/**
 * A report as text in one format. JSON writes the report's typed data (what scripts parse); every other format
 * renders its document, so all of them show the same thing.
 */
export function renderReport(
  report: {data: unknown; document: ReportDocument},
  format: ReportFormat,
  options: RenderOptions,
): string {
  switch (format) {
    case 'json':
      return renderJson(report.data)
    case 'csv':
      return renderCsv(report.document)
    case 'md':
      return renderMarkdown(report.document)
    case 'html':
      return renderHtml(report.document, {generatedAt: new Date().toISOString().slice(0, 16).replace('T', ' ')})
    case 'table':
      return renderTerminal(report.document, {color: options.color, columns: options.columns})
  }
}

/** Writes a rendered report to `path` complete or not at all (a reader never sees half a page). */
export function writeReportFile(path: string, text: string): void {
  const file = new AtomicFile(path, '-o')
  try {
    file.write(text)
    file.commit()
  } finally {
    file.abort()
  }
}
