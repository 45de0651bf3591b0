import {afterAll, describe, expect, it} from 'vitest'
import {changeOf} from '../src/lib/analytics/kpi/changes.js'
import {runKpis} from '../src/lib/analytics/kpi/kpi.js'
import {buildKpiReport, type KpiReportData, kpiDocument} from '../src/lib/analytics/kpi/report.js'
import {incompleteDayOf} from '../src/lib/analytics/report-common.js'
import {withEngine} from '../src/lib/engine/engine.js'
import type {SparklineBlock} from '../src/lib/report/document.js'
import {formatChange} from '../src/lib/report/format.js'
import {renderTerminal} from '../src/lib/report/terminal.js'
import {at, lakeOf, removeTempDirs, ShopBuilder} from './helpers/analytics-shop.js'

afterAll(removeTempDirs)

describe('incompleteDayOf', () => {
  it('is the as-of day while the data ends before its midnight, and null from midnight on', () => {
    expect(incompleteDayOf('2026-03-09', '2026-03-09T10:00:00.000Z')).toBe('2026-03-09')
    expect(incompleteDayOf('2026-03-09', '2026-03-09T23:59:59.999Z')).toBe('2026-03-09')
    expect(incompleteDayOf('2026-03-09', '2026-03-10T00:00:00.000Z')).toBeNull()
    // A run cut by --as-of before the latest event.
    expect(incompleteDayOf('2026-03-09', '2026-04-01T08:00:00.000Z')).toBeNull()
  })

  it('cannot tell for a run that did not record its latest event', () => {
    expect(incompleteDayOf('2026-03-09', null)).toBeUndefined()
    expect(incompleteDayOf('2026-03-09', undefined)).toBeUndefined()
  })
})

describe('changeOf and formatChange', () => {
  it('changes counts relatively and shares in points; nothing to compare is null, never a division by zero', () => {
    expect(changeOf(60, 50, 'relative')).toBeCloseTo(0.2, 12)
    expect(changeOf(0, 2, 'relative')).toBe(-1)
    expect(changeOf(5, 0, 'relative')).toBeNull()
    expect(changeOf(null, 3, 'relative')).toBeNull()
    expect(changeOf(3, null, 'relative')).toBeNull()
    expect(changeOf(0.5, 0.75, 'points')).toBeCloseTo(-0.25, 12)
    expect(changeOf(0.5, 0, 'points')).toBe(0.5)
  })

  it('writes a sign, a percentage or points, and - when there is no change to show', () => {
    expect(formatChange(0.2, 'relative')).toBe('+20.0%')
    expect(formatChange(-1, 'relative')).toBe('-100.0%')
    expect(formatChange(-0.25, 'points')).toBe('-25.0 pt')
    expect(formatChange(0.00001, 'points')).toBe('±0.0 pt')
    expect(formatChange(null, 'relative')).toBe('-')
    expect(formatChange(Number.NaN, 'relative')).toBe('-')
  })
})

/**
 * Ten days of a tiny shop, each figure worked out by hand. D = 03-08 is the latest whole day; 03-09 holds one page view
 * at 10:00, so the data ends before that day does.
 * - 03-01 (a week before D): c1 orders o1 = 40.00 in session S1 (1 session, converted; c1 new)
 * - 03-07 (the day before D): c2 orders o2 = 20.00 (S2), c3 orders o3 = 30.00 (S3), anonymous S4 views a page
 *   (3 sessions, 2 converted; c2 and c3 new)
 * - 03-08 (D): c1 orders o4 = 60.00 (S5, returning), anonymous S6 views a page (2 sessions, 1 converted; none new)
 * - 03-09: anonymous S7 views a page at 10:00
 */
function shop(): ShopBuilder {
  const b = new ShopBuilder()
  const line = (price: number) => [{product_id: 'pA', quantity: 1, unit_price: price}]
  b.purchase({customer: 'c1', session: 'S1'}, at('2026-03-01', '09:00'), 'o1', line(40))
  b.purchase({customer: 'c2', session: 'S2'}, at('2026-03-07', '09:00'), 'o2', line(20))
  b.purchase({customer: 'c3', session: 'S3'}, at('2026-03-07', '11:00'), 'o3', line(30))
  b.add('page_view', {customer: null, session: 'S4'}, at('2026-03-07', '12:00'))
  b.purchase({customer: 'c1', session: 'S5'}, at('2026-03-08', '09:00'), 'o4', line(60))
  b.add('page_view', {customer: null, session: 'S6'}, at('2026-03-08', '12:00'))
  b.add('page_view', {customer: null, session: 'S7'}, at('2026-03-09', '10:00'))
  return b
}

/** The changes of D against 03-07 and 03-01, by hand from the comment above. */
const BY_HAND = {
  revenue: {value: 60, previousDay: 50, dayOverDay: 0.2, weekAgo: 40, weekOverWeek: 0.5},
  orders: {value: 1, previousDay: 2, dayOverDay: -0.5, weekAgo: 1, weekOverWeek: 0},
  aov: {value: 60, previousDay: 25, dayOverDay: 1.4, weekAgo: 40, weekOverWeek: 0.5},
  conversionRate: {value: 0.5, previousDay: 2 / 3, dayOverDay: 0.5 - 2 / 3, weekAgo: 1, weekOverWeek: -0.5},
  sessions: {value: 2, previousDay: 3, dayOverDay: -1 / 3, weekAgo: 1, weekOverWeek: 1},
  refundRate: {value: 0, previousDay: 0, dayOverDay: 0, weekAgo: 0, weekOverWeek: 0},
  newCustomers: {value: 0, previousDay: 2, dayOverDay: -1, weekAgo: 1, weekOverWeek: -1},
} as const

function expectByHand(d: KpiReportData): void {
  expect(d.changes?.day).toBe('2026-03-08')
  expect(d.changes?.previousDay).toBe('2026-03-07')
  expect(d.changes?.weekAgoDay).toBe('2026-03-01')
  expect(d.changes?.kpis.map((k) => k.kpi)).toEqual(Object.keys(BY_HAND))
  for (const k of d.changes?.kpis ?? []) {
    const want = BY_HAND[k.kpi]
    for (const field of ['value', 'previousDay', 'dayOverDay', 'weekAgo', 'weekOverWeek'] as const) {
      expect(k[field], `${k.kpi} ${field}`).toBeCloseTo(want[field], 9)
    }
  }
}

async function kpiReport(lake: string, asOf?: string): Promise<KpiReportData> {
  await withEngine((engine) => runKpis(engine, {lake, asOf}))
  return withEngine((engine) => buildKpiReport(engine, {lake, top: 10, since: null}))
}

describe('kpi report: the latest whole day against the day before and a week before', () => {
  it('leaves the incomplete as-of day out of the chart and the changes, and says why', async () => {
    const lake = await lakeOf(shop().events)
    const d = await kpiReport(lake)
    expect(d.run.asOf).toBe('2026-03-09')
    expect(d.latestEventTime).toBe('2026-03-09T10:00:00.000Z')
    expect(d.incompleteDay).toBe('2026-03-09')
    // The data keeps the day (its row is partial); the chart does not draw it.
    expect(d.daily.map((p) => p.period).at(-1)).toBe('2026-03-09')
    expectByHand(d)
    const doc = kpiDocument(d)
    const chart = doc.sections.flatMap((s) => s.blocks).find((b): b is SparklineBlock => b.kind === 'sparkline')
    expect(chart?.points.map((p) => p.label)).toEqual(d.daily.map((p) => p.period).filter((p) => p !== '2026-03-09'))
    const text = renderTerminal(doc, {color: false})
    expect(text).toContain('2026-03-09 is not: the latest event is at 2026-03-09 10:00 UTC')
    expect(text).toMatch(/│ revenue\s+│\s+60\.00 │\s+50\.00 │\s+\+20\.0% │\s+40\.00 │\s+\+50\.0% │/)
    expect(text).toMatch(/│ conversion\s+│\s+50\.0% │\s+66\.7% │\s+-16\.7 pt │\s+100\.0% │\s+-50\.0 pt │/)
    expect(text).toMatch(/│ new customers\s+│\s+0 │\s+2 │\s+-100\.0% │\s+1 │\s+-100\.0% │/)
  })

  it('treats a day cut by --as-of as whole: the data runs past it', async () => {
    const lake = await lakeOf(shop().events)
    const d = await kpiReport(lake, '2026-03-08')
    expect(d.run.asOf).toBe('2026-03-08')
    expect(d.incompleteDay).toBeNull()
    expectByHand(d)
    const doc = kpiDocument(d)
    const chart = doc.sections.flatMap((s) => s.blocks).find((b): b is SparklineBlock => b.kind === 'sparkline')
    expect(chart?.points.at(-1)).toEqual({label: '2026-03-08', value: 60})
    expect(renderTerminal(doc, {color: false})).toContain('Every day shown is whole')
  })

  it('has no week-ago figure before the data began, and no change from it', async () => {
    // Without o1's day the data starts on 03-07: a week before D is outside it, missing rather than zero.
    const lake = await lakeOf(shop().events.filter((e) => e.event_time.slice(0, 10) !== '2026-03-01'))
    const d = await kpiReport(lake)
    expect(d.changes?.day).toBe('2026-03-08')
    for (const k of d.changes?.kpis ?? []) {
      expect([k.weekAgo, k.weekOverWeek], k.kpi).toEqual([null, null])
      expect(k.previousDay, k.kpi).not.toBeNull()
    }
  })
})
