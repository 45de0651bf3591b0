import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {COHORT_RESULT, type CohortResult, computeCohorts, runCohorts} from '../src/lib/analytics/cohort/cohort.js'
import {
  computeFunnel,
  FUNNEL_RESULT,
  type FunnelGroup,
  type FunnelResult,
  runFunnel,
} from '../src/lib/analytics/funnel/funnel.js'
import {computeKpis, KPI_RESULTS, type KpiPeriod, type KpiResult, runKpis} from '../src/lib/analytics/kpi/kpi.js'
import {type RfmResult, runRfm} from '../src/lib/analytics/rfm/rfm.js'
import {buildSessions, SESSIONS_TABLE, sessionsSql} from '../src/lib/analytics/sessions.js'
import {loadResult} from '../src/lib/analytics/store.js'
import {type Engine, withEngine} from '../src/lib/engine/engine.js'
import {appendEvents} from '../src/lib/lake/lake.js'
import {registerShopViews} from '../src/lib/shop/views.js'
import {at, lakeOf, removeTempDirs, ShopBuilder, tempDir} from './helpers/analytics-shop.js'
import {ecap} from './helpers/cli.js'
import {shopNdjson} from './helpers/lake.js'
import {seededRandom} from './helpers/random.js'

afterAll(removeTempDirs)

/** Spawned CLIs share the machine with other test runs: allow them time rather than fail on a busy box. */
const SLOW = {timeoutMs: 180_000}

const cents = (x: number) => Math.round(x * 100)

/**
 * A week and two days of a tiny shop, every figure worked out by hand in the comments:
 * - S1 c1 desktop DE, Mon 03-02: view, product A (garden), cart, checkout, order o1 = 2 x A @ 10 = 20.00
 * - S2 anonymous mobile US, 03-02: page view, product B (kitchen); leaves
 * - S3 c2 mobile US, 03-03: product B, cart; leaves
 * - S4 c2 mobile US, 03-04: the whole funnel, o2 = B @ 30 + A @ 10 = 40.00, refunded 15.00 on 03-05 (own session)
 * - S5 c1 desktop DE, Mon 03-09: product A, cart, checkout, o3 = 3 x A @ 10 = 30.00
 * - S6 anonymous tablet FR, 03-09: page view only
 * - S7 c3 mobile DE, 03-10: view, product C (garden), cart, o4 = C @ 50 WITHOUT a checkout before it
 * - S9 anonymous desktop DE, 03-10: cart first, product view after (out of funnel order)
 * After the as-of day 03-10: o1 refunded 5.00 on 03-12, and c4 orders 100.00 on 03-11; neither is seen.
 */
function handMadeShop(): ShopBuilder {
  const shop = new ShopBuilder()
  const A = {product_id: 'pA', category: 'garden', unit_price: 10}
  const B = {product_id: 'pB', category: 'kitchen', unit_price: 30}
  const C = {product_id: 'pC', category: 'garden', unit_price: 50}
  const cart = (p: {product_id: string; unit_price: number}, quantity = 1) => ({
    product_id: p.product_id,
    unit_price: p.unit_price,
    quantity,
  })
  const s1 = {customer: 'c1', session: 'S1', device: 'desktop', country: 'DE'} as const
  shop
    .add('page_view', s1, at('2026-03-02', '10:00'))
    .add('product_view', s1, at('2026-03-02', '10:01'), A)
    .add('add_to_cart', s1, at('2026-03-02', '10:02'), cart(A, 2))
    .add('checkout_started', s1, at('2026-03-02', '10:03'), {item_count: 2, total: 20})
    .purchase(s1, at('2026-03-02', '10:04'), 'o1', [{product_id: 'pA', quantity: 2, unit_price: 10}])
  const s2 = {customer: null, session: 'S2', device: 'mobile', country: 'US'} as const
  shop.add('page_view', s2, at('2026-03-02', '11:00')).add('product_view', s2, at('2026-03-02', '11:01'), B)
  const s3 = {customer: 'c2', session: 'S3', device: 'mobile', country: 'US'} as const
  shop.add('product_view', s3, at('2026-03-03', '09:00'), B).add('add_to_cart', s3, at('2026-03-03', '09:01'), cart(B))
  const s4 = {customer: 'c2', session: 'S4', device: 'mobile', country: 'US'} as const
  shop
    .add('page_view', s4, at('2026-03-04', '09:00'))
    .add('product_view', s4, at('2026-03-04', '09:01'), B)
    .add('add_to_cart', s4, at('2026-03-04', '09:02'), cart(B))
    .add('checkout_started', s4, at('2026-03-04', '09:03'), {item_count: 2, total: 40})
    .purchase(s4, at('2026-03-04', '09:04'), 'o2', [
      {product_id: 'pB', quantity: 1, unit_price: 30},
      {product_id: 'pA', quantity: 1, unit_price: 10},
    ])
    .refund('c2', at('2026-03-05', '10:00'), 'o2', 15)
  const s5 = {customer: 'c1', session: 'S5', device: 'desktop', country: 'DE'} as const
  shop
    .add('product_view', s5, at('2026-03-09', '08:00'), A)
    .add('add_to_cart', s5, at('2026-03-09', '08:01'), cart(A, 3))
    .add('checkout_started', s5, at('2026-03-09', '08:02'), {item_count: 3, total: 30})
    .purchase(s5, at('2026-03-09', '08:03'), 'o3', [{product_id: 'pA', quantity: 3, unit_price: 10}])
  shop.add('page_view', {customer: null, session: 'S6', device: 'tablet', country: 'FR'}, at('2026-03-09', '20:00'))
  const s7 = {customer: 'c3', session: 'S7', device: 'mobile', country: 'DE'} as const
  shop
    .add('page_view', s7, at('2026-03-10', '10:00'))
    .add('product_view', s7, at('2026-03-10', '10:01'), C)
    .add('add_to_cart', s7, at('2026-03-10', '10:02'), cart(C))
    .purchase(s7, at('2026-03-10', '10:03'), 'o4', [{product_id: 'pC', quantity: 1, unit_price: 50}])
  const s9 = {customer: null, session: 'S9', device: 'desktop', country: 'DE'} as const
  shop.add('add_to_cart', s9, at('2026-03-10', '15:00'), cart(A)).add('product_view', s9, at('2026-03-10', '15:01'), A)
  // After the as-of day.
  shop.refund('c1', at('2026-03-12', '10:00'), 'o1', 5)
  shop.purchase({customer: 'c4', session: 'S8'}, at('2026-03-11', '10:00'), 'o5', [
    {product_id: 'pA', quantity: 10, unit_price: 10},
  ])
  return shop
}

const AS_OF = '2026-03-10'

function period(overrides: Partial<KpiPeriod> & {period: string}): KpiPeriod {
  return {
    days: 1,
    revenue: 0,
    grossRevenue: 0,
    refunded: 0,
    orders: 0,
    units: 0,
    aov: null,
    sessions: 0,
    convertedSessions: 0,
    conversionRate: null,
    refundRate: null,
    refundedOrders: 0,
    newCustomers: 0,
    returningCustomers: 0,
    ...overrides,
  }
}

describe('KPIs, funnel and cohorts of a hand-made shop', () => {
  let lake: string

  beforeAll(async () => {
    lake = await lakeOf(handMadeShop().events)
  })

  async function withViews<T>(work: (engine: Engine) => Promise<T>, asOf = AS_OF): Promise<T> {
    return withEngine(async (engine) => {
      await registerShopViews(engine, lake, {asOf})
      return work(engine)
    })
  }

  it('gives the hand-computed KPIs per day', async () => {
    const kpis = await withViews((engine) => computeKpis(engine, AS_OF, {top: 2}))
    expect(kpis.from).toBe('2026-03-02')
    const quiet = (day: string) => period({period: day})
    expect(kpis.daily).toEqual([
      period({
        period: '2026-03-02',
        revenue: 20,
        grossRevenue: 20,
        orders: 1,
        units: 2,
        aov: 20,
        sessions: 2,
        convertedSessions: 1,
        conversionRate: 0.5,
        refundRate: 0,
        newCustomers: 1,
      }),
      period({period: '2026-03-03', sessions: 1, conversionRate: 0}),
      period({
        period: '2026-03-04',
        revenue: 25,
        grossRevenue: 40,
        refunded: 15,
        orders: 1,
        units: 2,
        aov: 25,
        sessions: 1,
        convertedSessions: 1,
        conversionRate: 1,
        refundRate: 1,
        refundedOrders: 1,
        newCustomers: 1,
      }),
      // The refund session of 03-05 is the back office, not a visit.
      quiet('2026-03-05'),
      quiet('2026-03-06'),
      quiet('2026-03-07'),
      quiet('2026-03-08'),
      period({
        period: '2026-03-09',
        revenue: 30,
        grossRevenue: 30,
        orders: 1,
        units: 3,
        aov: 30,
        sessions: 2,
        convertedSessions: 1,
        conversionRate: 0.5,
        refundRate: 0,
        returningCustomers: 1,
      }),
      period({
        period: '2026-03-10',
        revenue: 50,
        grossRevenue: 50,
        orders: 1,
        units: 1,
        aov: 50,
        sessions: 2,
        convertedSessions: 1,
        conversionRate: 0.5,
        refundRate: 0,
        newCustomers: 1,
      }),
    ])
  })

  it('gives the hand-computed KPIs per week (Monday first) and in total', async () => {
    const kpis = await withViews((engine) => computeKpis(engine, AS_OF, {top: 2}))
    expect(kpis.weekly).toEqual([
      period({
        period: '2026-03-02',
        days: 7,
        revenue: 45,
        grossRevenue: 60,
        refunded: 15,
        orders: 2,
        units: 4,
        aov: 22.5,
        sessions: 4,
        convertedSessions: 2,
        conversionRate: 0.5,
        refundRate: 0.5,
        refundedOrders: 1,
        newCustomers: 2,
      }),
      period({
        period: '2026-03-09',
        days: 2,
        revenue: 80,
        grossRevenue: 80,
        orders: 2,
        units: 4,
        aov: 40,
        sessions: 4,
        convertedSessions: 2,
        conversionRate: 0.5,
        refundRate: 0,
        newCustomers: 1,
        returningCustomers: 1,
      }),
    ])
    expect(kpis.totals).toEqual(
      period({
        period: '2026-03-02',
        days: 9,
        revenue: 125,
        grossRevenue: 140,
        refunded: 15,
        orders: 4,
        units: 8,
        aov: 31.25,
        sessions: 8,
        convertedSessions: 4,
        conversionRate: 0.5,
        refundRate: 0.25,
        refundedOrders: 1,
        newCustomers: 3,
      }),
    )
  })

  it('ranks products and categories by net revenue, refunds shared over an order’s lines', async () => {
    const kpis = await withViews((engine) => computeKpis(engine, AS_OF, {top: 2}))
    // o2 kept 25 of 40: its lines keep 62.5% each, so A gets 20 + 6.25 + 30 and B 18.75.
    expect(kpis.topProducts).toEqual([
      {rank: 1, productId: 'pA', category: 'garden', orders: 3, units: 6, grossRevenue: 60, revenue: 56.25},
      {rank: 2, productId: 'pC', category: 'garden', orders: 1, units: 1, grossRevenue: 50, revenue: 50},
    ])
    expect(kpis.topCategories).toEqual([
      {rank: 1, category: 'garden', products: 2, orders: 4, units: 7, grossRevenue: 110, revenue: 106.25},
      {rank: 2, category: 'kitchen', products: 1, orders: 1, units: 1, grossRevenue: 30, revenue: 18.75},
    ])
  })

  it('sees a later refund once the as-of day reaches it', async () => {
    const kpis = await withViews((engine) => computeKpis(engine, '2026-03-12'), '2026-03-12')
    expect(kpis.daily.find((d) => d.period === '2026-03-02')).toMatchObject({revenue: 15, refunded: 5, refundRate: 1})
    expect(kpis.totals).toMatchObject({revenue: 220, orders: 5, newCustomers: 4})
  })

  it('counts the ordered session funnel overall, by device and by country', async () => {
    const funnel = await withViews((engine) => computeFunnel(engine, AS_OF))
    const counts = (g: FunnelGroup) => g.steps.map((s) => s.sessions)
    // S7 bought without a checkout, S9 carted before viewing: neither walked the funnel in order past its break.
    expect(counts(funnel.overall)).toEqual([8, 7, 5, 3, 3])
    expect(funnel.overall.steps.map((s) => s.step)).toEqual([
      'visit',
      'product_view',
      'add_to_cart',
      'checkout_started',
      'purchase',
    ])
    expect(funnel.overall.steps.map((s) => s.dropOff)).toEqual([0, 1, 2, 2, 0])
    expect(funnel.overall.steps.map((s) => s.stepConversion)).toEqual([1, 7 / 8, 5 / 7, 3 / 5, 1])
    expect(funnel.overall.steps.at(-1)?.overallConversion).toBe(3 / 8)
    expect(funnel.overall.steps[2]?.dropOffRate).toBe(2 / 7)
    expect(funnel.byDevice.map((g) => [g.value, counts(g)])).toEqual([
      ['mobile', [4, 4, 3, 1, 1]],
      ['desktop', [3, 3, 2, 2, 2]],
      ['tablet', [1, 0, 0, 0, 0]],
    ])
    expect(funnel.byCountry.map((g) => [g.value, counts(g)])).toEqual([
      ['DE', [4, 4, 3, 2, 2]],
      ['US', [3, 3, 2, 1, 1]],
      ['FR', [1, 0, 0, 0, 0]],
    ])
    const tablet = funnel.byDevice[2]?.steps
    expect(tablet?.[2]).toMatchObject({sessions: 0, stepConversion: null, dropOff: 0})
  })

  it('reuses views a caller registered (one snapshot for several analyses) instead of registering again', async () => {
    await withEngine(async (engine) => {
      const views = await registerShopViews(engine, lake, {asOf: '2026-03-04'})
      const funnel = await runFunnel(engine, {lake, views})
      expect(funnel.asOf).toBe('2026-03-04')
      expect(funnel.overall.steps.map((s) => s.sessions)).toEqual([4, 4, 3, 2, 2])
      const kpis = await runKpis(engine, {lake, views})
      // o2's refund comes on 03-05: not seen yet.
      expect(kpis.totals).toMatchObject({orders: 2, revenue: 60, refunded: 0})
    })
  })

  it('puts all three customers in the March cohort, its month not over', async () => {
    const cohorts = await withViews((engine) => computeCohorts(engine, AS_OF))
    expect(cohorts).toEqual({
      asOf: AS_OF,
      customers: 3,
      cohorts: [
        {
          cohortMonth: '2026-03-01',
          size: 3,
          periods: [
            {
              monthsSinceFirst: 0,
              customers: 3,
              retention: 1,
              orders: 4,
              revenue: 125,
              cumulativeRevenuePerCustomer: 125 / 3,
              complete: false,
            },
          ],
        },
      ],
    })
  })
})

describe('monthly cohorts over three months', () => {
  it('follow each cohort month by month, zero-filled, with net revenue', async () => {
    const shop = new ShopBuilder()
    const buy = (customer: string, day: string, order: string, price: number) =>
      shop.purchase({customer, session: `s-${order}`}, at(day), order, [
        {product_id: 'p1', quantity: 1, unit_price: price},
      ])
    buy('c1', '2026-01-10', 'a1', 10)
    buy('c1', '2026-02-05', 'a2', 20)
    buy('c1', '2026-02-20', 'a3', 5)
    buy('c2', '2026-01-20', 'b1', 40)
    buy('c2', '2026-03-03', 'b2', 10)
    shop.refund('c2', at('2026-03-04'), 'b2', 10)
    buy('c3', '2026-02-14', 'c1', 25)
    buy('c4', '2026-03-30', 'd1', 99)
    const lake = await lakeOf(shop.events)
    const result = await withEngine((engine) => runCohorts(engine, {lake, asOf: '2026-03-15'}))
    const p = (
      m: number,
      customers: number,
      retention: number,
      orders: number,
      revenue: number,
      cum: number,
      complete = true,
    ) => ({
      monthsSinceFirst: m,
      customers,
      retention,
      orders,
      revenue,
      cumulativeRevenuePerCustomer: cum,
      complete,
    })
    expect(result.customers).toBe(3)
    expect(result.cohorts).toEqual([
      {
        cohortMonth: '2026-01-01',
        size: 2,
        periods: [p(0, 2, 1, 2, 50, 25), p(1, 1, 0.5, 2, 25, 37.5), p(2, 1, 0.5, 1, 0, 37.5, false)],
      },
      {cohortMonth: '2026-02-01', size: 1, periods: [p(0, 1, 1, 1, 25, 25), p(1, 0, 0, 0, 0, 25, false)]},
    ])
    const march = await withEngine((engine) => runCohorts(engine, {lake, asOf: '2026-03-31'}))
    expect(march.cohorts.at(-1)).toMatchObject({cohortMonth: '2026-03-01', size: 1})
    expect(march.cohorts[0]?.periods.at(-1)?.complete).toBe(true)
  })
})

describe('the funnel step of a session', () => {
  it('walks the events when the first and last time of each step cannot tell how far it went', async () => {
    const rows = await withEngine(async (engine) => {
      // s1 carts, views, carts again and checks out: its first cart precedes the view, its last follows it, so only
      // the walk tells that it reached the checkout. s2 checks out before anything else: the times tell (step 3).
      await engine.run(`CREATE TEMP VIEW events AS SELECT session_id, 'c1' AS customer_id, 'mobile' AS device,
          'DE' AS ip_country, TIMESTAMPTZ '2026-03-01 10:00:00+00' + to_minutes(minute) AS event_time, event_type
        FROM (VALUES ('s1', 0, 'add_to_cart'), ('s1', 1, 'product_view'), ('s1', 2, 'add_to_cart'),
                     ('s1', 3, 'checkout_started'), ('s2', 0, 'checkout_started'), ('s2', 1, 'product_view'),
                     ('s2', 2, 'add_to_cart')) t(session_id, minute, event_type)`)
      await buildSessions(engine)
      return engine.rows(`SELECT session_id, funnel_step FROM ${SESSIONS_TABLE} ORDER BY session_id`)
    })
    expect(rows).toEqual([
      {session_id: 's1', funnel_step: 4},
      {session_id: 's2', funnel_step: 3},
    ])
  })
})

describe('sessions of one part each', () => {
  /**
   * Random events of `sessions` sessions; with `mixed`, a session may change customer (a sign-in), device or IP
   * country midway, or hold only a refund, and some events have no session: several parts per session.
   */
  function randomEvents(seed: number, sessions: number, mixed: boolean): string {
    const random = seededRandom(seed)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
    const types = ['page_view', 'product_view', 'add_to_cart', 'checkout_started', 'purchase', 'refund'] as const
    const quote = (x: string | null) => (x === null ? 'NULL' : `'${x}'`)
    const rows: string[] = []
    for (let s = 0; s < sessions; s++) {
      let customer = random() < 0.3 ? null : `c${Math.floor(random() * 20)}`
      let device = pick(['mobile', 'desktop', 'tablet'])
      let country = pick(['DE', 'US', 'FR'])
      const session = mixed && random() < 0.1 ? null : `s${s}`
      const events = 1 + Math.floor(random() * 6)
      for (let e = 0; e < events; e++) {
        if (mixed && random() < 0.2) {
          customer = random() < 0.5 ? null : `c${Math.floor(random() * 20)}`
          device = pick(['mobile', 'desktop'])
          country = pick(['DE', 'US'])
        }
        // Minutes on a coarse grid, so steps and parts often share a time.
        const type = mixed ? pick(types) : pick(types.slice(0, 5))
        rows.push(
          `(${quote(session)}, ${quote(customer)}, ${quote(device)}, ${quote(country)}, ${Math.floor(random() * 8)}, '${type}')`,
        )
      }
    }
    return `CREATE OR REPLACE TEMP VIEW events AS SELECT session_id, customer_id, device, ip_country,
        TIMESTAMPTZ '2026-03-01 10:00:00+00' + to_minutes(minute) AS event_time, event_type
      FROM (VALUES ${rows.join(', ')}) t(session_id, customer_id, device, ip_country, minute, event_type)`
  }

  /** The sessions buildSessions makes, beside those of rolling up every session's parts, both in one order. */
  async function sessionsAndRollUp(eventsSql: string) {
    return withEngine(async (engine) => {
      await engine.run(eventsSql)
      await buildSessions(engine)
      const order = 'ORDER BY session_id NULLS FIRST'
      const built = await engine.rows(`SELECT * FROM ${SESSIONS_TABLE} ${order}`)
      // The walk of undecided funnels runs on both alike: compare what the roll-up itself gives.
      await engine.run(`CREATE TEMP TABLE rolled_up AS ${sessionsSql(false)}`)
      await engine.run(`UPDATE rolled_up r SET funnel_step = s.funnel_step FROM ${SESSIONS_TABLE} s
                        WHERE r.funnel_step IS NULL AND r.session_id IS NOT DISTINCT FROM s.session_id`)
      const reference = await engine.rows(`SELECT * FROM rolled_up ${order}`)
      const [parts] = await engine.rows(
        `SELECT count(*)::INTEGER AS parts, count(DISTINCT coalesce(session_id, '(none)'))::INTEGER AS sessions
         FROM analytics_session_parts WHERE visit_start IS NOT NULL`,
      )
      return {built, reference, parts}
    })
  }

  it('takes each part as its session when no session has two, and rolls them up when one has', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const single = await sessionsAndRollUp(randomEvents(seed, 60, false))
      expect(single.parts?.parts).toBe(single.parts?.sessions)
      expect(single.built).toEqual(single.reference)
      const mixed = await sessionsAndRollUp(randomEvents(seed, 60, true))
      // Without the check, a session of two parts would come out as two sessions.
      expect(mixed.parts?.parts).toBeGreaterThan(Number(mixed.parts?.sessions))
      expect(mixed.built).toEqual(mixed.reference)
    }
  })

  it('counts the events without a session as one session, however many parts they make', async () => {
    const {built, parts} = await sessionsAndRollUp(`CREATE OR REPLACE TEMP VIEW events AS
      SELECT NULL::VARCHAR AS session_id, customer_id, 'mobile' AS device, 'DE' AS ip_country,
             TIMESTAMPTZ '2026-03-01 10:00:00+00' + to_minutes(minute) AS event_time, 'page_view' AS event_type
      FROM (VALUES ('c1', 0), ('c2', 1)) t(customer_id, minute)`)
    expect(parts).toEqual({parts: 2, sessions: 1})
    expect(built).toHaveLength(1)
    expect(built[0]).toMatchObject({session_id: null, device: 'mobile', funnel_step: 1})
  })
})

// Spawned CLIs on a busy machine may take a while; a slow box is not a failure.
describe('on a generated shop', {timeout: 600_000}, () => {
  let lake: string
  let kpi: KpiResult
  let funnel: FunnelResult
  let cohort: CohortResult
  let rfm: RfmResult
  let orders: {orders: number; net: number; customerNet: number; customers: number}

  beforeAll(async () => {
    const dir = await tempDir()
    const shop = await shopNdjson(dir, 'shop.ndjson', {seed: 11, customers: 400, days: 75})
    lake = join(dir, 'lake')
    await withEngine(async (engine) => {
      await appendEvents(engine, lake, shop.path)
      kpi = await runKpis(engine, {lake, top: 5})
      funnel = await runFunnel(engine, {lake})
      cohort = await runCohorts(engine, {lake})
      rfm = await runRfm(engine, {lake})
      const [row] = await engine.rows(
        `SELECT CAST(count(*) AS INTEGER) AS orders, CAST(sum(net_total) AS DOUBLE) AS net,
                CAST(sum(net_total) FILTER (WHERE customer_id IS NOT NULL) AS DOUBLE) AS customer_net,
                CAST(count(DISTINCT customer_id) AS INTEGER) AS customers
         FROM orders`,
      )
      orders = {
        orders: Number(row?.orders),
        net: Number(row?.net),
        customerNet: Number(row?.customer_net),
        customers: Number(row?.customers),
      }
    })
  })

  it('adds daily and weekly revenue, orders and sessions up to the totals and to the orders', () => {
    expect(orders.orders).toBeGreaterThan(100)
    const sum = (rows: KpiPeriod[], key: 'revenue' | 'orders' | 'sessions' | 'units' | 'refunded') =>
      rows.reduce((s, r) => s + cents(r[key]), 0)
    for (const rows of [kpi.daily, kpi.weekly]) {
      expect(sum(rows, 'revenue')).toBe(cents(orders.net))
      expect(sum(rows, 'orders')).toBe(cents(orders.orders))
      expect(sum(rows, 'sessions')).toBe(cents(kpi.totals.sessions))
      expect(sum(rows, 'units')).toBe(cents(kpi.totals.units))
      expect(sum(rows, 'refunded')).toBe(cents(kpi.totals.refunded))
    }
    expect(cents(kpi.totals.revenue)).toBe(cents(orders.net))
    expect(kpi.daily.reduce((s, d) => s + d.newCustomers, 0)).toBe(orders.customers)
    expect(kpi.weekly.reduce((s, d) => s + d.newCustomers, 0)).toBe(orders.customers)
    expect(kpi.daily.reduce((s, d) => s + d.days, 0)).toBe(kpi.totals.days)
    expect(kpi.topProducts).toHaveLength(5)
    expect(kpi.topCategories.map((c) => c.revenue)).toEqual(
      [...kpi.topCategories.map((c) => c.revenue)].sort((a, b) => b - a),
    )
  })

  it('has funnel counts that never grow from step to step, and groups that add up', () => {
    for (const group of [funnel.overall, ...funnel.byDevice, ...funnel.byCountry]) {
      const counts = group.steps.map((s) => s.sessions)
      for (let i = 1; i < counts.length; i++)
        expect(counts[i], `${group.value} step ${i}`).toBeLessThanOrEqual(counts[i - 1] as number)
    }
    expect(funnel.overall.steps[0]?.sessions).toBe(kpi.totals.sessions)
    for (let i = 0; i < funnel.overall.steps.length; i++) {
      const overall = funnel.overall.steps[i]?.sessions
      expect(funnel.byDevice.reduce((s, g) => s + (g.steps[i]?.sessions ?? 0), 0)).toBe(overall)
      expect(funnel.byCountry.reduce((s, g) => s + (g.steps[i]?.sessions ?? 0), 0)).toBe(overall)
    }
    // An ordered purchase is a converted session; not every converted session walked the funnel in order.
    expect(funnel.overall.steps.at(-1)?.sessions).toBeLessThanOrEqual(kpi.totals.convertedSessions)
    expect(funnel.overall.steps.at(-1)?.sessions).toBeGreaterThan(0)
  })

  it('has cohorts that hold every customer once and every net euro of theirs', () => {
    expect(cohort.customers).toBe(orders.customers)
    expect(cohort.cohorts.every((c) => c.periods[0]?.retention === 1)).toBe(true)
    const revenue = cohort.cohorts.reduce((s, c) => s + c.periods.reduce((t, p) => t + cents(p.revenue), 0), 0)
    expect(revenue).toBe(cents(orders.customerNet))
    expect(rfm.customers).toBe(orders.customers)
    expect(cents(rfm.revenue)).toBe(cents(orders.customerNet))
  })

  it('saves every result with its run, and a rerun gives the same rows', async () => {
    const tables: [string, string][] = [
      [KPI_RESULTS.daily, 'kpi'],
      [KPI_RESULTS.weekly, 'kpi'],
      [KPI_RESULTS.topProducts, 'kpi'],
      [KPI_RESULTS.topCategories, 'kpi'],
      [FUNNEL_RESULT, 'funnel'],
      [COHORT_RESULT, 'cohort'],
    ]
    const snapshot = () =>
      withEngine(async (engine) => {
        const out: Record<string, unknown[]> = {}
        for (const [name, analysis] of tables) {
          const run = await loadResult(engine, lake, name, analysis)
          expect(run).toMatchObject({analysis, asOf: kpi.asOf, eventsVersion: 0})
          out[name] = await engine.rows(`SELECT * FROM ${name} ORDER BY ALL`)
        }
        return out
      })
    const first = await snapshot()
    expect(first[KPI_RESULTS.daily]).toHaveLength(kpi.daily.length)
    expect(first[FUNNEL_RESULT]).toHaveLength(5 * (1 + funnel.byDevice.length + funnel.byCountry.length))
    await withEngine(async (engine) => {
      await runKpis(engine, {lake, top: 5})
      await runFunnel(engine, {lake})
      await runCohorts(engine, {lake})
    })
    expect(await snapshot()).toEqual(first)
  })

  it('runs through the CLI: tables for people, the typed result under --json', () => {
    const human = ecap(['analyze', 'kpi', '--lake', lake, '--top', '3'], SLOW)
    expect(human.status, human.stderr).toBe(0)
    expect(human.stdout).toContain('Key performance indicators')
    expect(human.stdout).toContain(`Totals, ${kpi.from} to ${kpi.asOf}`)
    const funnelJson = ecap(['analyze', 'funnel', '--lake', lake, '--json'], SLOW)
    expect(funnelJson.status, funnelJson.stderr).toBe(0)
    const envelope = JSON.parse(funnelJson.stdout)
    expect(envelope).toMatchObject({status: 0, result: {analysis: 'funnel', asOf: kpi.asOf}})
    expect(envelope.result.overall.steps.map((s: {sessions: number}) => s.sessions)).toEqual(
      funnel.overall.steps.map((s) => s.sessions),
    )
    const cohortJson = ecap(['analyze', 'cohort', '--lake', lake, '--as-of', kpi.asOf, '--json'], SLOW)
    expect(cohortJson.status, cohortJson.stderr).toBe(0)
    expect(JSON.parse(cohortJson.stdout).result.customers).toBe(cohort.customers)
    // --metric is deprecated: only a run that gives it hears so.
    expect(JSON.parse(cohortJson.stdout).warnings).toEqual([])
    const metric = ecap(['analyze', 'cohort', '--lake', lake, '--as-of', kpi.asOf, '--metric', 'revenue'], SLOW)
    expect(metric.status, metric.stderr).toBe(0)
    expect(metric.stderr).toContain('--metric does nothing')
    expect(metric.stdout).toContain('Acquisition cohorts')
    const bad = ecap(['analyze', 'kpi', '--lake', lake, '--top', '0'], SLOW)
    expect(bad.status).toBe(2)
  })
})
