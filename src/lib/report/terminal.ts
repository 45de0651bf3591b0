import Table from 'cli-table3'
import type {MetricsBlock, ReportBlock, ReportDocument, TableBlock} from './document.js'
import {columnAlign, formatValue} from './format.js'
import {ansi, DEFAULT_COLUMNS, renderBars, renderFunnel, renderHeatmap, renderSparkline} from './terminal-charts.js'

export interface TerminalOptions {
  /** ANSI colour (bold headings, coloured bars, a 256-colour heat map); the caller decides (TTY, NO_COLOR, flags). */
  color: boolean
  /** The terminal's width in columns; charts fit inside it. */
  columns?: number
}

/** A report for a terminal: cli-table3 tables and unicode charts, coloured only when asked. */
export function renderTerminal(doc: ReportDocument, options: TerminalOptions): string {
  const heading = (text: string) => (options.color ? ansi.bold(text) : text)
  const parts: string[] = [heading(doc.title)]
  for (const line of doc.subtitle) parts.push(options.color ? ansi.dim(line) : line)
  for (const section of doc.sections) {
    parts.push('', heading(section.title))
    for (const block of section.blocks.filter((b) => !(b.kind === 'table' && b.dataOnly)))
      parts.push(renderBlock(block, options))
  }
  return `${parts.join('\n')}\n`
}

function renderBlock(block: ReportBlock, options: TerminalOptions): string {
  const chart = {color: options.color, columns: options.columns}
  switch (block.kind) {
    case 'text':
      // Notes wrap at the width; warnings stay on one line, as they often end in a command to copy.
      return block.tone === 'warning' ? `! ${block.text}` : wrap(block.text, options.columns ?? DEFAULT_COLUMNS)
    case 'metrics':
      return renderMetrics(block)
    case 'table':
      return block.title ? `${block.title}\n${renderTable(block, options)}` : renderTable(block, options)
    case 'bars':
      return `${block.title}\n${renderBars(block, chart)}`
    case 'sparkline':
      return renderSparkline(block, chart)
    case 'funnel':
      return `${block.title}\n${renderFunnel(block, chart)}`
    case 'heatmap':
      return `${block.title}\n${renderHeatmap(block, chart)}`
  }
}

/** Key figures on as few lines as fit 100 columns: `label value · label value`. */
function renderMetrics(block: MetricsBlock): string {
  const items = block.items.map((m) => `${m.label} ${formatValue(m.value, m.format)}`)
  const lines: string[] = []
  let line = ''
  for (const item of items) {
    if (line !== '' && line.length + item.length + 3 > 100) {
      lines.push(line)
      line = ''
    }
    line = line === '' ? item : `${line} · ${item}`
  }
  if (line !== '') lines.push(line)
  return lines.join('\n')
}

/** The widest a column of text gets before its cells wrap. */
const TEXT_COLUMN_WIDTH = 48

function renderTable(block: TableBlock, options: TerminalOptions): string {
  if (block.rows.length === 0) return '(none)'
  const cells = block.rows.map((row) => row.map((value, i) => formatValue(value, block.columns[i]?.format ?? 'text')))
  const table = new Table({
    head: block.columns.map((c) => (options.color ? ansi.bold(c.title) : c.title)),
    colAligns: block.columns.map((c) => columnAlign(c)),
    // Sentences (a segment's suggested action) wrap instead of pushing the table past a terminal's width.
    colWidths: block.columns.map((c, i) =>
      c.format === 'text' && cells.some((row) => (row[i]?.length ?? 0) > TEXT_COLUMN_WIDTH)
        ? TEXT_COLUMN_WIDTH + 2
        : null,
    ),
    wordWrap: true,
    // cli-table3 would colour headings red by its own TTY test; colour is decided here, once.
    style: {head: [], border: [], compact: true},
  })
  for (const row of cells) table.push(row)
  return table.toString()
}

/** A paragraph broken at spaces into lines of at most `columns` (a word longer than that keeps its own line). */
export function wrap(text: string, columns: number): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > columns) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  lines.push(line)
  return lines.join('\n')
}
