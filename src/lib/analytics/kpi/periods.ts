// Rows of the saved kpi_daily and kpi_weekly tables as KpiPeriod, for the report and the day-to-day changes.
import type {Json} from '@duckdb/node-api'
import {num, numOrNull} from '../report-common.js'
import type {KpiPeriod} from './kpi.js'

export const PERIOD_SQL_COLUMNS = `CAST(period AS VARCHAR) AS period, days, CAST(revenue AS DOUBLE) AS revenue,
  CAST(gross_revenue AS DOUBLE) AS gross_revenue, CAST(refunded AS DOUBLE) AS refunded, orders, units, aov, sessions,
  converted_sessions, conversion_rate, refund_rate, refunded_orders, new_customers, returning_customers`

export function toPeriod(r: Record<string, Json>): KpiPeriod {
  return {
    period: String(r.period),
    days: num(r.days),
    revenue: num(r.revenue),
    grossRevenue: num(r.gross_revenue),
    refunded: num(r.refunded),
    orders: num(r.orders),
    units: num(r.units),
    aov: numOrNull(r.aov),
    sessions: num(r.sessions),
    convertedSessions: num(r.converted_sessions),
    conversionRate: numOrNull(r.conversion_rate),
    refundRate: numOrNull(r.refund_rate),
    refundedOrders: num(r.refunded_orders),
    newCustomers: num(r.new_customers),
    returningCustomers: num(r.returning_customers),
  }
}
