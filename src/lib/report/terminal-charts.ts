import type {BarsBlock, FunnelBlock, HeatmapBlock, SparklineBlock} from './document.js'
import {formatValue} from './format.js'

/** Whether to use ANSI colours; without them charts use shading characters only, so they survive a pipe or a file. */
export interface ChartOptions {
  color: boolean
  /** Columns the longest bar takes. */
  width?: number
  /** Columns a line may take (the terminal's width): a longer series is resampled to fit instead of wrapping. */
  columns?: number
}

/** Where no terminal says otherwise: a pipe, a file, a Markdown code block. */
export const DEFAULT_COLUMNS = 80

const SPARK = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█']
/** Eighths of a character cell, for bars finer than one column. */
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉']
const SHADES = [' ', '░', '▒', '▓', '█']
/** 256-colour backgrounds from no retention (dark grey) to high (bright green). */
const HEAT_RAMP = [236, 22, 28, 34, 40, 46]

export const ansi = {
  bold: (text: string) => `\u001b[1m${text}\u001b[22m`,
  dim: (text: string) => `\u001b[2m${text}\u001b[22m`,
  fg: (code: number, text: string) => `\u001b[38;5;${code}m${text}\u001b[39m`,
  bg: (code: number, fgCode: number, text: string) =>
    `\u001b[48;5;${code}m\u001b[38;5;${fgCode}m${text}\u001b[39m\u001b[49m`,
}

/** Series colours (256-colour foreground) and, without colour, the character that tells series apart. */
const SERIES_COLORS = [39, 170, 214]
const SERIES_CHARS = ['█', '▒', '░']

/** A bar of `fraction` (0-1) of `width` columns, in eighths of a column when `fine`. */
export function bar(fraction: number, width: number, char = '█', fine = true): string {
  const cells = Math.max(0, Math.min(1, fraction)) * width
  const whole = Math.floor(cells)
  const rest = fine && char === '█' ? (EIGHTHS[Math.round((cells - whole) * 8)] ?? '') : ''
  return char.repeat(whole) + rest
}

/** Grouped horizontal bars: one line per series, the label on the group's first line, the value after the bar. */
export function renderBars(block: BarsBlock, options: ChartOptions): string {
  const width = options.width ?? 32
  const max = Math.max(0, ...block.groups.flatMap((g) => g.values))
  const labelWidth = Math.max(...block.groups.map((g) => g.label.length), 0)
  const lines: string[] = []
  if (block.series.length > 1) {
    const legend = block.series.map((name, i) => `${paint(SERIES_CHARS[i] ?? '█', i, options)} ${name}`).join('   ')
    lines.push(`${' '.repeat(labelWidth)}  ${legend}`)
  }
  for (const group of block.groups) {
    group.values.forEach((value, i) => {
      const label = i === 0 ? group.label.padEnd(labelWidth) : ' '.repeat(labelWidth)
      const char = options.color ? '█' : (SERIES_CHARS[i] ?? '█')
      const drawn = bar(max > 0 ? value / max : 0, width, char)
      lines.push(
        `${label} │${paint(drawn, i, options)}${' '.repeat(width + 1 - drawn.length)}${formatValue(value, block.format)}`,
      )
    })
  }
  return lines.join('\n')
}

function paint(text: string, series: number, options: ChartOptions): string {
  if (!options.color) return text
  return ansi.fg(SERIES_COLORS[series % SERIES_COLORS.length] ?? 39, text)
}

/** One character per point, ▁ (the lowest value) to █ (the highest). */
export function sparkline(values: readonly number[]): string {
  if (values.length === 0) return ''
  const min = Math.min(...values)
  const max = Math.max(...values)
  return values
    .map((v) => (max === min ? SPARK[3] : SPARK[Math.round(((v - min) / (max - min)) * (SPARK.length - 1))]))
    .join('')
}

/**
 * At most `width` values: consecutive runs of points averaged into one each (a year of days in 80 columns is about
 * 4.6 days a mark), so the line keeps its shape instead of wrapping. Every point falls in exactly one run, and runs
 * differ in length by at most one.
 */
export function resample(values: readonly number[], width: number): number[] {
  const slots = Math.max(1, Math.floor(width))
  if (values.length <= slots) return [...values]
  const out: number[] = []
  for (let slot = 0; slot < slots; slot++) {
    const start = Math.floor((slot * values.length) / slots)
    const end = Math.floor(((slot + 1) * values.length) / slots)
    let sum = 0
    for (let i = start; i < end; i++) sum += values[i] as number
    out.push(sum / (end - start))
  }
  return out
}

/**
 * The sparkline with its first and last labels and the lowest, highest and last values, within `options.columns`:
 * a longer series is resampled (the title says how many points a mark averages), and the figures go on a line of
 * their own when they do not fit beside the line.
 */
export function renderSparkline(block: SparklineBlock, options: ChartOptions): string {
  if (block.points.length === 0) return `${block.title}: no data`
  const columns = options.columns ?? DEFAULT_COLUMNS
  const values = block.points.map((p) => p.value)
  const marks = resample(values, columns)
  const line = sparkline(marks)
  const first = block.points[0]?.label ?? ''
  const last = block.points.at(-1)?.label ?? ''
  const fmt = (x: number) => formatValue(x, block.format)
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  const header = `${block.title} ${first} → ${last}`
  const scale =
    marks.length < values.length
      ? `(${values.length} points, ${(values.length / marks.length).toFixed(1)} per mark)`
      : ''
  const figures = `low ${fmt(lo)} · high ${fmt(hi)} · last ${fmt(values.at(-1) ?? 0)}`
  const drawn = options.color ? ansi.fg(SERIES_COLORS[0] ?? 39, line) : line
  // Each line within the columns where it can be: the scale and the figures move to lines of their own if need be.
  const fits = (a: string, b: string) => `${a}  ${b}`.length <= columns
  const lines = scale === '' ? [header] : fits(header, scale) ? [`${header}  ${scale}`] : [header, scale]
  if (fits(line, figures)) lines.push(`${drawn}  ${figures}`)
  else lines.push(drawn, figures)
  return lines.join('\n')
}

/** Steps as centred bars narrowing down the funnel, with sessions and the share of the first step. */
export function renderFunnel(block: FunnelBlock, options: ChartOptions): string {
  const width = options.width ?? 32
  const first = block.steps[0]?.value ?? 0
  const labelWidth = Math.max(...block.steps.map((s) => s.label.length), 0)
  return block.steps
    .map((step) => {
      const fraction = first > 0 ? step.value / first : 0
      // Whole cells only: a centred bar cannot end in a partial block on both sides.
      const cells = Math.max(step.value > 0 ? 1 : 0, Math.round(fraction * width))
      const left = Math.floor((width - cells) / 2)
      const drawn = '█'.repeat(cells)
      const figures = `${formatValue(step.value, 'int')} (${formatValue(step.share, 'pct')})`
      return `${step.label.padEnd(labelWidth)} ${' '.repeat(left)}${paint(drawn, 0, options)}${' '.repeat(width - cells - left)} ${figures}`
    })
    .join('\n')
}

/** The shade of a share 0-1: blank for none, then ░ ▒ ▓ █. */
export function shadeOf(value: number): string {
  if (value <= 0) return SHADES[0] as string
  if (value < 0.1) return SHADES[1] as string
  if (value < 0.25) return SHADES[2] as string
  if (value < 0.5) return SHADES[3] as string
  return SHADES[4] as string
}

function heatColor(value: number): number {
  if (value <= 0) return HEAT_RAMP[0] as number
  return HEAT_RAMP[Math.min(HEAT_RAMP.length - 1, 1 + Math.floor(value * (HEAT_RAMP.length - 1)))] as number
}

/**
 * A matrix of shares with a shaded cell per value: shading characters and the percentage without colour, the
 * percentage on a 256-colour background with it. A partial cell (a month not over yet) is marked with `*`.
 */
export function renderHeatmap(block: HeatmapBlock, options: ChartOptions): string {
  const cellWidth = 7
  const labelWidth = Math.max(block.rowTitle.length, ...block.rows.map((r) => r.length))
  const header = `${block.rowTitle.padEnd(labelWidth)} ${block.columns.map((c) => c.padStart(cellWidth)).join(' ')}`
  const lines = [options.color ? ansi.bold(header) : header]
  block.rows.forEach((label, r) => {
    const cells = (block.cells[r] ?? []).map((cell) => {
      if (cell === null) return ' '.repeat(cellWidth)
      const pct = `${Math.round(100 * cell.value)}%${cell.partial ? '*' : ' '}`
      if (options.color) {
        const background = heatColor(cell.value)
        const text = cell.value >= 0.4 ? 16 : 255
        return ansi.bg(background, text, pct.padStart(cellWidth))
      }
      return `${shadeOf(cell.value).repeat(2)}${pct.padStart(cellWidth - 2)}`
    })
    lines.push(`${label.padEnd(labelWidth)} ${cells.join(' ')}`)
  })
  if (!options.color) lines.push(`${' '.repeat(labelWidth)} ░ <10%  ▒ <25%  ▓ <50%  █ 50%+`)
  if (block.legend) lines.push(block.legend)
  return lines.join('\n')
}
