/**
 * A report as the renderers see it: titled sections of tables, key figures, text and charts, with raw numbers and the
 * way to show them. Every format (terminal, markdown, csv, html) renders this one shape, so a report is built once.
 */
export interface ReportDocument {
  title: string
  /** Lines under the title: what the data is and when it was analysed. */
  subtitle: string[]
  sections: ReportSection[]
}

export interface ReportSection {
  title: string
  blocks: ReportBlock[]
}

export type ReportBlock =
  | TextBlock
  | MetricsBlock
  | TableBlock
  | BarsBlock
  | SparklineBlock
  | FunnelBlock
  | HeatmapBlock

/** How a number is shown; CSV and JSON keep the raw value. */
export type ValueFormat = 'int' | 'money' | 'pct' | 'fixed1' | 'fixed2' | 'fixed3' | 'fixed4' | 'text'

export type CellValue = string | number | boolean | null

export interface TextBlock {
  kind: 'text'
  text: string
  /** A warning or a gap in the data, shown dimmed or marked. */
  tone?: 'note' | 'warning'
}

/** Key figures, label and value, e.g. revenue, orders, AOV. */
export interface MetricsBlock {
  kind: 'metrics'
  items: {label: string; value: CellValue; format: ValueFormat}[]
}

export interface TableColumn {
  /** Column name in CSV output. */
  key: string
  /** Heading shown to people. */
  title: string
  format: ValueFormat
  /** Overrides the alignment the format implies, e.g. for a column of figures formatted by the report itself. */
  align?: 'left' | 'right'
}

export interface TableBlock {
  kind: 'table'
  /** Names the table in CSV output when a report has several. */
  name: string
  /** A heading over the table, for a table that shares its section with others. */
  title?: string
  columns: TableColumn[]
  rows: CellValue[][]
  /** The table `--format csv` writes: the one a spreadsheet would want. */
  primary?: boolean
  /** Written by CSV only: the figures are on the page in another form. */
  dataOnly?: boolean
}

/** Horizontal bars, one group per label, one bar per series (e.g. share of customers and share of revenue). */
export interface BarsBlock {
  kind: 'bars'
  title: string
  series: string[]
  format: ValueFormat
  groups: {label: string; values: number[]}[]
}

/** A series over time, drawn as a sparkline in a terminal and as a line chart in HTML. */
export interface SparklineBlock {
  kind: 'sparkline'
  title: string
  format: ValueFormat
  points: {label: string; value: number}[]
}

/** Steps of a funnel: bars of decreasing length with the share of the first step. */
export interface FunnelBlock {
  kind: 'funnel'
  title: string
  steps: {label: string; value: number; share: number | null}[]
}

/** A matrix of shares 0-1 (cohort retention), shaded by value; null cells are outside the data. */
export interface HeatmapBlock {
  kind: 'heatmap'
  title: string
  rowTitle: string
  rows: string[]
  columns: string[]
  cells: ({value: number; partial: boolean} | null)[][]
  /** Said under the chart, e.g. what a partial cell means. */
  legend?: string
}
