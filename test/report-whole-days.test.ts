// The whole-day rule of the reports at its edges: --as-of past the data, an event at midnight, --since past the run.
import {afterAll, describe, expect, it} from 'vitest'
import {runKpis} from '../src/lib/analytics/kpi/kpi.js'
import {buildKpiReport, type KpiReportData, kpiDocument} from '../src/lib/analytics/kpi/report.js'
import {incompleteDayOf} from '../src/lib/analytics/report-common.js'
import {withEngine} from '../src/lib/engine/engine.js'
import type {SparklineBlock} from '../src/lib/report/document.js'
import {renderTerminal} from '../src/lib/report/terminal.js'
import {at, lakeOf, removeTempDirs, ShopBuilder} from './helpers/analytics-shop.js'

afterAll(removeTempDirs)

/** Orders on 03-07 and 03-08; the data ends at 03-09 10:00 (a page view), so 03-08 is the latest whole day. */
function shop(): ShopBuilder {
  const b = new ShopBuilder()
  const line = (price: number) => [{product_id: 'pA', quantity: 1, unit_price: price}]
  b.purchase({customer: 'c1', session: 'S1'}, at('2026-03-07', '09:00'), 'o1', line(20))
  b.purchase({customer: 'c2', session: 'S2'}, at('2026-03-08', '09:00'), 'o2', line(60))
  b.add('page_view', {customer: null, session: 'S3'}, at('2026-03-09', '10:00'))
  return b
}

async function kpiReport(lake: string, asOf?: string): Promise<KpiReportData> {
  await withEngine((engine) => runKpis(engine, {lake, asOf}))
  return withEngine((engine) => buildKpiReport(engine, {lake, top: 10, since: null}))
}

describe('--as-of after the data ends (a cron passing yesterday while ingest lags)', () => {
  it('compares the latest whole day, not a day after the data, and draws no day the data ends in or before', async () => {
    const lake = await lakeOf(shop().events)
    const d = await kpiReport(lake, '2026-03-11')
    expect(d.run.asOf).toBe('2026-03-11')
    // 03-09 holds part of a day; 03-10 and 03-11 hold nothing because the data stops, not because the shop did.
    expect(d.changes?.day).toBe('2026-03-08')
    const revenue = d.changes?.kpis.find((k) => k.kpi === 'revenue')
    expect([revenue?.value, revenue?.previousDay]).toEqual([60, 20])
    const doc = kpiDocument(d)
    const chart = doc.sections.flatMap((s) => s.blocks).find((b): b is SparklineBlock => b.kind === 'sparkline')
    expect(chart?.points.map((p) => p.label)).toEqual(['2026-03-07', '2026-03-08'])
    expect(renderTerminal(doc, {color: false})).not.toContain('Every day shown is whole')
  })
})

describe('incompleteDayOf at its edges', () => {
  it('is the day the data ends inside, up to the as-of day; a day ending exactly at the latest event is whole', () => {
    // --as-of two days past the data: the first day that is not whole is the latest event's.
    expect(incompleteDayOf('2026-03-11', '2026-03-09T10:00:00.000Z')).toBe('2026-03-09')
    // The latest event exactly at midnight: the day before is whole, the day it opens is not.
    expect(incompleteDayOf('2026-03-10', '2026-03-10T00:00:00.000Z')).toBe('2026-03-10')
    expect(incompleteDayOf('2026-03-09', '2026-03-10T00:00:00.000Z')).toBeNull()
    // An offset other than Z is read as the instant it names.
    expect(incompleteDayOf('2026-03-09', '2026-03-09T23:30:00-01:00')).toBeNull()
    // A recorded time that does not read as one cannot tell (it used to read as a whole day).
    expect(incompleteDayOf('2026-03-09', 'not a time')).toBeUndefined()
  })
})

describe('--since after the last day of the kpi run', () => {
  it("is refused (exit 2) rather than titled with the data's range over zero totals", async () => {
    const lake = await lakeOf(shop().events)
    await withEngine((engine) => runKpis(engine, {lake}))
    const report = (since: string) => withEngine((engine) => buildKpiReport(engine, {lake, top: 10, since}))
    await expect(report('2026-04-01')).rejects.toMatchObject({code: 'SINCE_AFTER_AS_OF', exitCode: 2})
    // The as-of day itself is still a range of one day.
    const d = await report('2026-03-09')
    expect([d.from, d.to, d.totals.orders]).toEqual(['2026-03-09', '2026-03-09', 0])
  })
})
