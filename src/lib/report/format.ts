import type {CellValue, TableColumn, ValueFormat} from './document.js'

/** A value as people read it: thousands separators, two decimals for money, percentages of shares 0-1. */
export function formatValue(value: CellValue, format: ValueFormat): string {
  if (value === null) return '-'
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (typeof value === 'string') return value
  if (!Number.isFinite(value)) return '-'
  switch (format) {
    case 'int':
      return Math.round(value).toLocaleString('en-US')
    case 'money':
      return value.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2})
    case 'pct':
      return `${(100 * value).toFixed(1)}%`
    case 'fixed1':
      return value.toFixed(1)
    case 'fixed2':
      return value.toFixed(2)
    case 'fixed3':
      return value.toFixed(3)
    case 'fixed4':
      return value.toFixed(4)
    case 'text':
      return String(value)
  }
}

/** Text columns read left to right; numbers line up on the right. */
export function alignOf(format: ValueFormat): 'left' | 'right' {
  return format === 'text' ? 'left' : 'right'
}

/** A column's alignment: its own, else the one its format implies. */
export function columnAlign(column: TableColumn | undefined): 'left' | 'right' {
  return column?.align ?? alignOf(column?.format ?? 'text')
}

/**
 * A change with its sign: relative as a percentage (+12.5%), a difference of shares in percentage points (-0.4 pt);
 * '-' when there is nothing to compare.
 */
export function formatChange(value: number | null, kind: 'relative' | 'points'): string {
  if (value === null || !Number.isFinite(value)) return '-'
  const text = (100 * Math.abs(value)).toFixed(1)
  const sign = text === '0.0' ? '±' : value > 0 ? '+' : '-'
  return kind === 'points' ? `${sign}${text} pt` : `${sign}${text}%`
}
