import type {CellValue, ReportDocument, TableBlock} from './document.js'

/**
 * The report's primary table as RFC 4180 CSV with raw values (shares 0-1, amounts unrounded), for a spreadsheet
 * or another tool. A report without a primary table writes its first table.
 */
export function renderCsv(doc: ReportDocument): string {
  const tables = doc.sections.flatMap((s) => s.blocks).filter((b): b is TableBlock => b.kind === 'table')
  const table = tables.find((t) => t.primary) ?? tables[0]
  if (!table) return ''
  const lines = [table.columns.map((c) => csvField(c.key)), ...table.rows.map((row) => row.map(csvField))]
  return `${lines.map((fields) => fields.join(',')).join('\r\n')}\r\n`
}

export function csvField(value: CellValue): string {
  if (value === null) return ''
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}
