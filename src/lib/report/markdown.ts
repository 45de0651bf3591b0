import type {ReportBlock, ReportDocument, TableBlock} from './document.js'
import {columnAlign, formatValue} from './format.js'
import {renderBars, renderFunnel, renderHeatmap, renderSparkline} from './terminal-charts.js'

/** A report as GitHub-flavoured Markdown: tables as pipe tables, charts as the plain unicode charts in code blocks. */
export function renderMarkdown(doc: ReportDocument): string {
  const parts: string[] = [`# ${escapeInline(doc.title)}`, '']
  for (const line of doc.subtitle) parts.push(`${escapeInline(line)}  `)
  for (const section of doc.sections) {
    parts.push('', `## ${escapeInline(section.title)}`)
    for (const block of section.blocks.filter((b) => !(b.kind === 'table' && b.dataOnly)))
      parts.push('', renderBlock(block))
  }
  return `${parts.join('\n')}\n`
}

function renderBlock(block: ReportBlock): string {
  const plain = {color: false}
  switch (block.kind) {
    case 'text':
      return block.tone === 'warning' ? `> **Note:** ${escapeInline(block.text)}` : escapeInline(block.text)
    case 'metrics':
      return renderTable({
        kind: 'table',
        name: 'metrics',
        columns: [
          {key: 'metric', title: 'metric', format: 'text'},
          {key: 'value', title: 'value', format: 'text'},
        ],
        rows: block.items.map((m) => [m.label, formatValue(m.value, m.format)]),
      })
    case 'table':
      return block.title ? `**${escapeInline(block.title)}**\n\n${renderTable(block)}` : renderTable(block)
    case 'bars':
      return `**${escapeInline(block.title)}**\n\n${fence(renderBars(block, plain))}`
    case 'sparkline':
      return fence(renderSparkline(block, plain))
    case 'funnel':
      return `**${escapeInline(block.title)}**\n\n${fence(renderFunnel(block, plain))}`
    case 'heatmap':
      return `**${escapeInline(block.title)}**\n\n${fence(renderHeatmap(block, plain))}`
  }
}

function renderTable(block: TableBlock): string {
  if (block.rows.length === 0) return '_(none)_'
  const head = `| ${block.columns.map((c) => escapeCell(c.title)).join(' | ')} |`
  const rule = `|${block.columns.map((c) => (columnAlign(c) === 'right' ? ' ---: ' : ' --- ')).join('|')}|`
  const rows = block.rows.map(
    (row) => `| ${row.map((v, i) => escapeCell(formatValue(v, block.columns[i]?.format ?? 'text'))).join(' | ')} |`,
  )
  return [head, rule, ...rows].join('\n')
}

function fence(text: string): string {
  return `\`\`\`text\n${text}\n\`\`\``
}

function escapeCell(text: string): string {
  return escapeInline(text).replaceAll('|', '\\|')
}

/** Keeps data (product names, segment names) from being read as Markdown. */
function escapeInline(text: string): string {
  return text.replace(/([\\`*_[\]<>#])/g, '\\$1').replaceAll('\n', ' ')
}
