// What a reader compares a day's KPIs with: the day before and the same weekday a week before, on whole days only.
import type {Engine} from '../../engine/engine.js'
import {PERIOD_SQL_COLUMNS, toPeriod} from './periods.js'

/** A share (conversion, refund rate) changes in percentage points; any other figure by a relative change. */
export type ChangeKind = 'relative' | 'points'

/** One KPI on a day, the day before and the same weekday a week before, and its two changes. */
export interface KpiChange {
  /** The KpiPeriod field, e.g. `revenue`, `conversionRate`. */
  kpi: KpiKey
  label: string
  format: 'money' | 'int' | 'pct'
  change: ChangeKind
  value: number | null
  previousDay: number | null
  /** Relative ((value - previous) / previous) or, for shares, the difference; null when there is nothing to compare. */
  dayOverDay: number | null
  weekAgo: number | null
  weekOverWeek: number | null
}

export interface KpiChanges {
  /** The latest whole day shown (YYYY-MM-DD). */
  day: string
  previousDay: string
  weekAgoDay: string
  kpis: KpiChange[]
}

type KpiKey = 'revenue' | 'orders' | 'aov' | 'conversionRate' | 'sessions' | 'refundRate' | 'newCustomers'

const KPIS: {kpi: KpiKey; label: string; format: KpiChange['format']; change: ChangeKind}[] = [
  {kpi: 'revenue', label: 'revenue', format: 'money', change: 'relative'},
  {kpi: 'orders', label: 'orders', format: 'int', change: 'relative'},
  {kpi: 'aov', label: 'AOV', format: 'money', change: 'relative'},
  {kpi: 'conversionRate', label: 'conversion', format: 'pct', change: 'points'},
  {kpi: 'sessions', label: 'sessions', format: 'int', change: 'relative'},
  {kpi: 'refundRate', label: 'refund rate', format: 'pct', change: 'points'},
  {kpi: 'newCustomers', label: 'new customers', format: 'int', change: 'relative'},
]

/** The change from `before` to `now`: null when either is missing, or when a relative change would divide by zero. */
export function changeOf(now: number | null, before: number | null, kind: ChangeKind): number | null {
  if (now === null || before === null) return null
  if (kind === 'points') return now - before
  return before === 0 ? null : (now - before) / before
}

/**
 * The KPIs of `day` from the saved daily table, beside the day before and the same weekday a week before (read from the
 * table whatever --since shows). The table holds every calendar day of the data, zero-filled, so a day missing from
 * it lies before the data's first day: its figures and the change are null, not zero.
 */
export async function kpiChanges(engine: Engine, dailyTable: string, day: string): Promise<KpiChanges> {
  const rows = (
    await engine.rows(
      `SELECT ${PERIOD_SQL_COLUMNS} FROM ${dailyTable}
       WHERE period IN (CAST($1 AS DATE), CAST($1 AS DATE) - 1, CAST($1 AS DATE) - 7)`,
      [day],
    )
  ).map(toPeriod)
  const at = (offset: number) => {
    const wanted = new Date(Date.parse(`${day}T00:00:00Z`) - offset * 86_400_000).toISOString().slice(0, 10)
    return {day: wanted, row: rows.find((r) => r.period === wanted)}
  }
  const now = at(0).row
  const before = at(1)
  const weekAgo = at(7)
  return {
    day,
    previousDay: before.day,
    weekAgoDay: weekAgo.day,
    kpis: KPIS.map(({kpi, label, format, change}) => {
      const value = now ? now[kpi] : null
      const p = before.row ? before.row[kpi] : null
      const w = weekAgo.row ? weekAgo.row[kpi] : null
      return {
        kpi,
        label,
        format,
        change,
        value,
        previousDay: p,
        dayOverDay: changeOf(value, p, change),
        weekAgo: w,
        weekOverWeek: changeOf(value, w, change),
      }
    }),
  }
}
