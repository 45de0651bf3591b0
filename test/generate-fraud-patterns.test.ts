import {describe, expect, it} from 'vitest'
import {FRAUD_PATTERNS, type FraudPattern, type FraudVariant} from '../src/lib/generate/index.js'
import {
  DAY_MS,
  HOUR_MS,
  type SimulatedOrder,
  type SimulatedShop,
  shopOptions,
  simulateShop,
} from './helpers/simulated-shop.js'

// Each fraud pattern with its defining shape, on shops with a lot of fraud so every pattern has many incidents.

/** The shop's ordinary countries (the simulator's customer mix). */
const ORDINARY = new Set(['US', 'GB', 'DE', 'FR', 'NL', 'ES', 'IT', 'CA', 'AU', 'SE', 'PL', 'BE', 'AT', 'IE', 'DK'])
/** The shop's mean order value with the default spend model: p·gamma/(q-1) = 6·25/3. */
const MEAN_ORDER = 50

const shops: Record<FraudVariant, SimulatedShop> = {
  tune: simulateShop(shopOptions({seed: 41, customers: 4000, fraudRate: 0.1})),
  holdout: simulateShop(shopOptions({seed: 41, customers: 4000, fraudRate: 0.1, fraudVariant: 'holdout'})),
}

function incidentsOf(shop: SimulatedShop, pattern: FraudPattern): SimulatedOrder[][] {
  return [...shop.incidents.values()].filter((orders) => orders[0]?.fraud?.pattern === pattern)
}

/** Time of each customer's first order (legit or not). */
function firstOrderTimes(shop: SimulatedShop): Map<string, number> {
  const first = new Map<string, number>()
  for (const [customer, orders] of shop.ordersByCustomer) first.set(customer, orders[0]?.time ?? 0)
  return first
}

const span = (orders: SimulatedOrder[]) => (orders.at(-1)?.time ?? 0) - (orders[0]?.time ?? 0)
const accounts = (orders: SimulatedOrder[]) => new Set(orders.map((o) => o.event.customer_id))

describe.each<[FraudVariant, {cardTests: [number, number]; ring: [number, number]; ringDays: number}]>([
  ['tune', {cardTests: [5, 20], ring: [4, 8], ringDays: 7}],
  ['holdout', {cardTests: [3, 25], ring: [3, 10], ringDays: 10}],
])('fraud patterns, %s variant', (variant, ranges) => {
  const shop = shops[variant]
  const first = firstOrderTimes(shop)

  it('label every fraud order with a pattern and an incident, one pattern per incident, all six patterns present', () => {
    expect(new Set(shop.fraud.map((o) => o.fraud?.pattern))).toEqual(new Set(FRAUD_PATTERNS))
    for (const orders of shop.incidents.values()) {
      expect(new Set(orders.map((o) => o.fraud?.pattern)).size).toBe(1)
    }
    const share = shop.fraud.length / shop.orders.length
    expect(Math.abs(share - 0.1), `fraud share ${share}`).toBeLessThan(0.03)
  })

  it('card_testing: one new account, its range of tiny orders within minutes, a new card each, often from ordinary countries', () => {
    const incidents = incidentsOf(shop, 'card_testing')
    expect(incidents.length).toBeGreaterThan(10)
    let ordinary = 0
    for (const orders of incidents) {
      expect(accounts(orders).size).toBe(1)
      expect(orders.length).toBeGreaterThanOrEqual(ranges.cardTests[0])
      expect(orders.length).toBeLessThanOrEqual(ranges.cardTests[1])
      expect(new Set(orders.map((o) => o.event.card_fingerprint)).size).toBe(orders.length)
      expect(span(orders)).toBeLessThan(HOUR_MS)
      expect(Math.max(...orders.map((o) => o.event.total))).toBeLessThan(MEAN_ORDER / 2)
      expect(first.get(orders[0]?.event.customer_id as string)).toBe(orders[0]?.time)
      if (ORDINARY.has(orders[0]?.event.ip_country as string)) ordinary++
    }
    expect(ordinary / incidents.length).toBeGreaterThanOrEqual(0.45)
  })

  it('ring: one card used by brand-new accounts within days, ordinary amounts, 1-2 orders each', () => {
    const incidents = incidentsOf(shop, 'ring')
    expect(incidents.length).toBeGreaterThan(5)
    let big = 0
    for (const orders of incidents) {
      expect(new Set(orders.map((o) => o.event.card_fingerprint)).size).toBe(1)
      const members = accounts(orders)
      // Members whose start fell past the period's end are cut off; the rest are all there.
      expect(members.size).toBeLessThanOrEqual(ranges.ring[1])
      expect(span(orders)).toBeLessThan(ranges.ringDays * DAY_MS)
      for (const member of members) {
        const own = orders.filter((o) => o.event.customer_id === member)
        expect(own.length).toBeLessThanOrEqual(2)
        expect(first.get(member as string), 'a ring account is brand new').toBe(own[0]?.time)
      }
      if (members.size >= 4) big++
    }
    // Ordinary amounts: drawn from the shop's own spend model, so they average about the shop's mean order.
    const totals = incidents.flat().map((o) => o.event.total)
    expect(totals.reduce((a, b) => a + b, 0) / totals.length).toBeLessThan(MEAN_ORDER * 2)
    // Most rings are whole (the period cuts few), so most have at least 4 accounts on one card.
    expect(big / incidents.length).toBeGreaterThan(0.6)
  })

  it('slow_fraud: a normal first order, then days later a big one billed elsewhere than it ships and connects from', () => {
    const incidents = incidentsOf(shop, 'slow_fraud').filter((orders) => orders.length === 2)
    expect(incidents.length).toBeGreaterThan(5)
    const days = variant === 'tune' ? [1, 3] : [1, 7]
    for (const [warmUp, big] of incidents as [SimulatedOrder, SimulatedOrder][]) {
      expect(accounts([warmUp, big]).size).toBe(1)
      expect(first.get(warmUp.event.customer_id as string)).toBe(warmUp.time)
      expect(warmUp.event.billing_country).toBe(warmUp.event.shipping_country)
      const gap = (big.time - warmUp.time) / DAY_MS
      expect(gap).toBeGreaterThanOrEqual((days[0] as number) - 0.01)
      expect(gap).toBeLessThanOrEqual((days[1] as number) + 0.1)
      expect(big.event.total).toBeGreaterThan(MEAN_ORDER * 2.5)
      expect(big.event.billing_country).not.toBe(big.event.shipping_country)
      expect(big.event.billing_country).not.toBe(big.event.ip_country)
    }
  })

  it('account_takeover: an established customer, from a risky country on another device, a big basket', () => {
    const incidents = incidentsOf(shop, 'account_takeover')
    expect(incidents.length).toBeGreaterThan(10)
    for (const [order] of incidents as [SimulatedOrder][]) {
      expect(first.get(order.event.customer_id as string)).toBeLessThan(order.time)
      expect(ORDINARY.has(order.event.ip_country)).toBe(false)
      expect(order.event.shipping_country).toBe(order.event.ip_country)
    }
  })

  it('friendly_fraud: an established customer ordinary order, shipped home, always charged back', () => {
    const incidents = incidentsOf(shop, 'friendly_fraud')
    expect(incidents.length).toBeGreaterThan(10)
    const chargedBack = new Set(shop.refunds.filter((r) => r.reason === 'chargeback').map((r) => r.order_id))
    for (const [order] of incidents as [SimulatedOrder][]) {
      expect(first.get(order.event.customer_id as string)).toBeLessThan(order.time)
      expect(order.event.billing_country).toBe(order.event.shipping_country)
      // Chargebacks come 20-60 days later: only those still inside the period can be seen.
      if (order.time < Date.parse('2026-11-01')) expect(chargedBack.has(order.event.order_id)).toBe(true)
    }
  })

  it('outsized_first_order: a new account whose first order is many times the mean, shipped to a risky country', () => {
    const incidents = incidentsOf(shop, 'outsized_first_order')
    expect(incidents.length).toBeGreaterThan(10)
    const min = variant === 'tune' ? 8 : 5
    for (const [order] of incidents as [SimulatedOrder][]) {
      expect(first.get(order.event.customer_id as string)).toBe(order.time)
      expect(order.event.total).toBeGreaterThan(MEAN_ORDER * min * 0.8)
      expect(ORDINARY.has(order.event.shipping_country)).toBe(false)
    }
  })

  it('charges back fraud only, 20-60 days later, card tests seldom and the others mostly', () => {
    const byId = new Map(shop.orders.map((o) => [o.event.order_id, o]))
    const chargebacks = shop.refunds.filter((r) => r.reason === 'chargeback')
    const byPattern = new Map<string, number>()
    for (const r of chargebacks) {
      const order = byId.get(r.order_id) as SimulatedOrder
      expect(order.fraud, `chargeback of legit order ${r.order_id}`).toBeDefined()
      const days = (Date.parse(r.event_time) - order.time) / DAY_MS
      expect(days).toBeGreaterThanOrEqual(20)
      expect(days).toBeLessThanOrEqual(61)
      const pattern = order.fraud?.pattern as string
      byPattern.set(pattern, (byPattern.get(pattern) ?? 0) + 1)
    }
    // Orders early enough for their chargeback to land inside the period.
    const early = shop.fraud.filter((o) => o.time < Date.parse('2026-10-01'))
    const rate = (p: FraudPattern) => {
      const n = early.filter((o) => o.fraud?.pattern === p).length
      const charged = early.filter(
        (o) => o.fraud?.pattern === p && chargebacks.some((r) => r.order_id === o.event.order_id),
      ).length
      return charged / n
    }
    expect(rate('card_testing')).toBeLessThan(0.3)
    for (const p of ['account_takeover', 'slow_fraud', 'ring', 'outsized_first_order'] as const) {
      expect(rate(p), p).toBeGreaterThan(0.55)
    }
    expect(rate('friendly_fraud')).toBe(1)
  })
})

describe('fraud variants and pattern choice', () => {
  it('holdout moves the places: the two variants connect from disjoint risky countries', () => {
    const risky = (shop: SimulatedShop) =>
      new Set(shop.fraud.map((o) => o.event.ip_country).filter((c) => !ORDINARY.has(c)))
    const tune = risky(shops.tune)
    const holdout = risky(shops.holdout)
    expect(tune.size).toBeGreaterThan(3)
    expect(holdout.size).toBeGreaterThan(3)
    expect([...tune].filter((c) => holdout.has(c))).toEqual([])
  })

  it('holdout card tests click slower', () => {
    const pace = (shop: SimulatedShop) => {
      const gaps = incidentsOf(shop, 'card_testing').flatMap((orders) =>
        orders.slice(1).map((o, i) => o.time - (orders[i] as SimulatedOrder).time),
      )
      gaps.sort((a, b) => a - b)
      return gaps[Math.floor(gaps.length / 2)] as number
    }
    expect(pace(shops.holdout)).toBeGreaterThan(3 * pace(shops.tune))
  })

  it('--fraud-patterns keeps to the chosen patterns and still makes --fraud-rate of the orders', () => {
    const shop = simulateShop(shopOptions({seed: 43, customers: 3000, fraudRate: 0.05, fraudPatterns: ['ring']}))
    expect(new Set(shop.fraud.map((o) => o.fraud?.pattern))).toEqual(new Set(['ring']))
    expect(Math.abs(shop.fraud.length / shop.orders.length - 0.05)).toBeLessThan(0.02)
  })
})
