import type {
  BarsBlock,
  FunnelBlock,
  HeatmapBlock,
  MetricsBlock,
  ReportBlock,
  ReportDocument,
  SparklineBlock,
  TableBlock,
} from './document.js'
import {columnAlign, formatValue} from './format.js'

const SERIES_COLORS = ['#2f7ed8', '#c2489a', '#e8a33d']
const WIDTH = 720

/**
 * A report as one self-contained HTML page: inline CSS and inline SVG charts, no script, no font or image to fetch,
 * so it opens anywhere, offline, and can be mailed as it is.
 */
export function renderHtml(doc: ReportDocument, options: {generatedAt?: string} = {}): string {
  const body: string[] = [`<header><h1>${esc(doc.title)}</h1>`]
  for (const line of doc.subtitle) body.push(`<p class="sub">${esc(line)}</p>`)
  body.push('</header>')
  for (const section of doc.sections) {
    body.push(`<section><h2>${esc(section.title)}</h2>`)
    for (const block of section.blocks) {
      if (block.kind === 'table' && block.dataOnly) continue
      body.push(renderBlock(block))
    }
    body.push('</section>')
  }
  if (options.generatedAt) body.push(`<footer>Made by ecap on ${esc(options.generatedAt)}</footer>`)
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.title)}</title>
<style>${CSS}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`
}

const CSS = `
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6575; --rule: #d9dee6; --band: #f4f6f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; color: var(--ink);
  max-width: 1040px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .75rem; border-bottom: 1px solid var(--rule); padding-bottom: .25rem; }
h3 { font-size: .95rem; margin: 1.25rem 0 .5rem; color: var(--muted); font-weight: 600; }
.sub { color: var(--muted); margin: 0; }
.metrics { display: flex; flex-wrap: wrap; gap: .75rem; margin: .5rem 0 1rem; }
.metric { background: var(--band); border-radius: 6px; padding: .5rem .8rem; min-width: 8.5rem; }
.metric .label { color: var(--muted); font-size: .8rem; }
.metric .value { font-size: 1.2rem; font-weight: 600; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid var(--rule); }
th { text-align: left; font-weight: 600; background: var(--band); }
td.num, th.num { text-align: right; }
.table-wrap { overflow-x: auto; }
svg.chart { display: block; margin: .25rem 0 1rem; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; fill: var(--ink); }
.note { color: var(--muted); }
svg .point:hover circle:last-child { r: 4.5; }
.warning { background: #fff4e0; border-left: 4px solid #e8a33d; padding: .4rem .7rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
`

function renderBlock(block: ReportBlock): string {
  switch (block.kind) {
    case 'text':
      return `<p class="${block.tone ?? 'text'}">${esc(block.text)}</p>`
    case 'metrics':
      return renderMetrics(block)
    case 'table':
      return `${block.title ? `<h3>${esc(block.title)}</h3>\n` : ''}${renderTable(block)}`
    case 'bars':
      return `<h3>${esc(block.title)}</h3>\n${barsSvg(block)}`
    case 'sparkline':
      return `<h3>${esc(block.title)}</h3>\n${lineSvg(block)}`
    case 'funnel':
      return `<h3>${esc(block.title)}</h3>\n${funnelSvg(block)}`
    case 'heatmap':
      return `<h3>${esc(block.title)}</h3>\n${heatmapSvg(block)}${block.legend ? `<p class="note">${esc(block.legend)}</p>` : ''}`
  }
}

function renderMetrics(block: MetricsBlock): string {
  const items = block.items.map(
    (m) =>
      `<div class="metric"><div class="label">${esc(m.label)}</div><div class="value">${esc(formatValue(m.value, m.format))}</div></div>`,
  )
  return `<div class="metrics">${items.join('')}</div>`
}

function renderTable(block: TableBlock): string {
  if (block.rows.length === 0) return '<p class="note">(none)</p>'
  const cls = (i: number) => (columnAlign(block.columns[i]) === 'right' ? ' class="num"' : '')
  const head = block.columns.map((c, i) => `<th${cls(i)}>${esc(c.title)}</th>`).join('')
  const rows = block.rows
    .map(
      (row) =>
        `<tr>${row.map((v, i) => `<td${cls(i)}>${esc(formatValue(v, block.columns[i]?.format ?? 'text'))}</td>`).join('')}</tr>`,
    )
    .join('\n')
  return `<div class="table-wrap"><table data-name="${esc(block.name)}"><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table></div>`
}

function svg(width: number, height: number, label: string, content: string[]): string {
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}">\n<title>${esc(label)}</title>\n${content.join('\n')}\n</svg>`
}

function barsSvg(block: BarsBlock): string {
  const barHeight = 14
  const gap = 8
  const labelWidth = 170
  const valueWidth = 90
  const legendHeight = block.series.length > 1 ? 22 : 0
  const plot = WIDTH - labelWidth - valueWidth
  const max = Math.max(0, ...block.groups.flatMap((g) => g.values))
  const groupHeight = block.series.length * barHeight + gap
  const height = legendHeight + block.groups.length * groupHeight + 4
  const parts: string[] = []
  if (legendHeight > 0) {
    block.series.forEach((name, i) => {
      const x = labelWidth + i * 120
      parts.push(
        `<rect x="${x}" y="4" width="12" height="12" fill="${color(i)}"/><text x="${x + 17}" y="14">${esc(name)}</text>`,
      )
    })
  }
  block.groups.forEach((group, g) => {
    const top = legendHeight + g * groupHeight
    parts.push(
      `<text x="${labelWidth - 8}" y="${top + (block.series.length * barHeight) / 2 + 4}" text-anchor="end">${esc(group.label)}</text>`,
    )
    group.values.forEach((value, i) => {
      const y = top + i * barHeight
      const w = max > 0 ? Math.max(value > 0 ? 1 : 0, (value / max) * plot) : 0
      const text = formatValue(value, block.format)
      parts.push(
        `<rect class="bar" x="${labelWidth}" y="${y + 1}" width="${w.toFixed(1)}" height="${barHeight - 2}" fill="${color(i)}"><title>${esc(`${group.label}, ${block.series[i] ?? ''}: ${text}`)}</title></rect>`,
        `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight - 3}">${esc(text)}</text>`,
      )
    })
  })
  return svg(WIDTH, height, block.title, parts)
}

function lineSvg(block: SparklineBlock): string {
  const height = 160
  const left = 80
  const right = 16
  const top = 12
  const bottom = 28
  const values = block.points.map((p) => p.value)
  if (values.length === 0) return '<p class="note">No data.</p>'
  const lo = Math.min(0, ...values)
  const hi = Math.max(...values, lo + 1)
  const x = (i: number) => left + (values.length === 1 ? 0 : (i / (values.length - 1)) * (WIDTH - left - right))
  const y = (v: number) => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom)
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`)
  const base = y(lo).toFixed(1)
  const first = block.points[0]?.label ?? ''
  const last = block.points.at(-1)?.label ?? ''
  const parts = [
    `<line x1="${left}" y1="${base}" x2="${WIDTH - right}" y2="${base}" stroke="#d9dee6"/>`,
    `<line x1="${left}" y1="${y(hi).toFixed(1)}" x2="${WIDTH - right}" y2="${y(hi).toFixed(1)}" stroke="#eef1f5"/>`,
    `<text x="${left - 6}" y="${(y(hi) + 4).toFixed(1)}" text-anchor="end">${esc(formatValue(hi, block.format))}</text>`,
    `<text x="${left - 6}" y="${(Number(base) + 4).toFixed(1)}" text-anchor="end">${esc(formatValue(lo, block.format))}</text>`,
    `<polygon points="${x(0).toFixed(1)},${base} ${points.join(' ')} ${x(values.length - 1).toFixed(1)},${base}" fill="${color(0)}" fill-opacity="0.15"/>`,
    `<polyline class="line" points="${points.join(' ')}" fill="none" stroke="${color(0)}" stroke-width="2"/>`,
    // Each point names its day and value on hover (an SVG title: no script, and read out by screen readers); the
    // transparent disc around the dot is what the pointer finds, since a 2px dot is hard to hit.
    ...block.points.map(
      (p, i) =>
        `<g class="point"><title>${esc(`${p.label}: ${formatValue(p.value, block.format)}`)}</title><circle cx="${x(i).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="${hitRadius(values.length)}" fill="transparent"/><circle cx="${x(i).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="2.5" fill="${color(0)}"/></g>`,
    ),
    `<text x="${left}" y="${height - 8}">${esc(first)}</text>`,
    `<text x="${WIDTH - right}" y="${height - 8}" text-anchor="end">${esc(last)}</text>`,
  ]
  return svg(WIDTH, height, block.title, parts)
}

/** Half the gap between neighbouring points, 3 to 8 pixels: the discs of two days never overlap. */
function hitRadius(points: number): number {
  const gap = points > 1 ? (WIDTH - 96) / (points - 1) : 16
  return Math.max(3, Math.min(8, Math.floor(gap / 2)))
}

function funnelSvg(block: FunnelBlock): string {
  const rowHeight = 30
  const labelWidth = 130
  const valueWidth = 150
  const plot = WIDTH - labelWidth - valueWidth
  const first = block.steps[0]?.value ?? 0
  const height = block.steps.length * rowHeight + 4
  const parts: string[] = []
  block.steps.forEach((step, i) => {
    const w = first > 0 ? Math.max(step.value > 0 ? 2 : 0, (step.value / first) * plot) : 0
    const x = labelWidth + (plot - w) / 2
    const y = i * rowHeight + 2
    const text = `${formatValue(step.value, 'int')} (${formatValue(step.share, 'pct')})`
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + rowHeight / 2 + 3}" text-anchor="end">${esc(step.label)}</text>`,
      `<rect class="bar" x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowHeight - 6}" rx="3" fill="${color(0)}" fill-opacity="${(1 - i * 0.12).toFixed(2)}"><title>${esc(`${step.label}: ${text}`)}</title></rect>`,
      `<text x="${labelWidth + plot + 8}" y="${y + rowHeight / 2 + 3}">${esc(text)}</text>`,
    )
  })
  return svg(WIDTH, height, block.title, parts)
}

/** White for 0 to deep green for 1, so darker means more customers kept. */
function heatFill(value: number): string {
  const t = Math.max(0, Math.min(1, value)) ** 0.6
  const mix = (a: number, b: number) => Math.round(a + (b - a) * t)
  return `rgb(${mix(247, 16)}, ${mix(250, 110)}, ${mix(247, 60)})`
}

function heatmapSvg(block: HeatmapBlock): string {
  const cellWidth = 56
  const cellHeight = 26
  const labelWidth = 150
  const headHeight = 22
  const width = labelWidth + block.columns.length * cellWidth + 4
  const height = headHeight + block.rows.length * cellHeight + 4
  const parts: string[] = [`<text x="0" y="15" font-weight="600">${esc(block.rowTitle)}</text>`]
  block.columns.forEach((c, j) => {
    parts.push(
      `<text x="${labelWidth + j * cellWidth + cellWidth / 2}" y="15" text-anchor="middle" font-weight="600">${esc(c)}</text>`,
    )
  })
  block.rows.forEach((label, i) => {
    const y = headHeight + i * cellHeight
    parts.push(`<text x="0" y="${y + cellHeight / 2 + 4}">${esc(label)}</text>`)
    ;(block.cells[i] ?? []).forEach((cell, j) => {
      if (cell === null) return
      const x = labelWidth + j * cellWidth
      const text = `${Math.round(100 * cell.value)}%${cell.partial ? '*' : ''}`
      parts.push(
        `<rect class="cell" x="${x + 1}" y="${y + 1}" width="${cellWidth - 2}" height="${cellHeight - 2}" fill="${heatFill(cell.value)}"><title>${esc(`${label}, ${block.columns[j] ?? ''}: ${formatValue(cell.value, 'pct')}${cell.partial ? ' (month not over)' : ''}`)}</title></rect>`,
        `<text x="${x + cellWidth / 2}" y="${y + cellHeight / 2 + 4}" text-anchor="middle" style="fill:${cell.value >= 0.45 ? '#ffffff' : '#1d2430'}">${esc(text)}</text>`,
      )
    })
  })
  return svg(width, height, block.title, parts)
}

function color(series: number): string {
  return SERIES_COLORS[series % SERIES_COLORS.length] ?? '#2f7ed8'
}

function esc(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}
