import {describe, expect, it} from 'vitest'
import {GENERATE_DEFAULTS} from '../src/lib/generate/index.js'
import {HOUR_MS, mode, NO_HABITS, type SimulatedShop, shopOptions, simulateShop} from './helpers/simulated-shop.js'

// Legitimate habits that look odd to a fraud scorer, each at the rate its flag sets. One shop with the defaults, one
// with every habit off, no fraud in either: what is measured is the habits alone.

const withHabits = simulateShop(shopOptions({seed: 31, fraudRate: 0}))
const kind = simulateShop(shopOptions({seed: 31, fraudRate: 0, ...NO_HABITS}))

/** Customer -> billing country (the same on every order of a customer). */
function billingOf(shop: SimulatedShop): Map<string, string> {
  const billing = new Map<string, string>()
  for (const o of shop.orders) billing.set(o.event.customer_id as string, o.event.billing_country)
  return billing
}

/** Customers whose sessions come mostly from another country than their billing one. */
function shareAbroad(shop: SimulatedShop): number {
  const billing = billingOf(shop)
  const ips = new Map<string, string[]>()
  for (const e of shop.events) {
    if (e.customer_id === null || e.event_type === 'refund') continue
    const list = ips.get(e.customer_id)
    // One entry per session is enough, and the first event of a session tells its country.
    if (!list) ips.set(e.customer_id, [e.ip_country])
    else if (list.length === 0 || e.event_type === 'page_view') list.push(e.ip_country)
  }
  let abroad = 0
  for (const [customer, list] of ips) if (mode(list) !== billing.get(customer)) abroad++
  return abroad / ips.size
}

/** Cards paid with by more than one account, and the accounts beyond the first on each (household members). */
function sharedCards(shop: SimulatedShop): {members: number; spansDays: number[]} {
  const byCard = new Map<string, {accounts: Set<string>; first: number; last: number}>()
  for (const o of shop.orders) {
    const card = o.event.card_fingerprint
    if (card === null) continue
    const entry = byCard.get(card) ?? {accounts: new Set<string>(), first: o.time, last: o.time}
    entry.accounts.add(o.event.customer_id as string)
    entry.last = o.time
    byCard.set(card, entry)
  }
  let members = 0
  const spansDays: number[] = []
  for (const entry of byCard.values()) {
    if (entry.accounts.size < 2) continue
    members += entry.accounts.size - 1
    spansDays.push((entry.last - entry.first) / 86_400_000)
  }
  return {members, spansDays}
}

/** Purchase visits, and those followed within the hour by more orders of the same customer (bursts). */
function bursts(shop: SimulatedShop): {visits: number; bursts: number; sizes: number[]} {
  let visits = 0
  const sizes: number[] = []
  for (const orders of shop.ordersByCustomer.values()) {
    let size = 1
    for (let i = 1; i <= orders.length; i++) {
      const o = orders[i]
      const prev = orders[i - 1]
      if (o && prev && o.time - prev.time < HOUR_MS) {
        size++
        continue
      }
      visits++
      if (size > 1) sizes.push(size)
      size = 1
    }
  }
  return {visits, bursts: sizes.length, sizes}
}

/** Of customers with at least `min` card orders, the share who paid with more than one card. */
function shareMultiCard(shop: SimulatedShop, min: number): number {
  let eligible = 0
  let multi = 0
  for (const orders of shop.ordersByCustomer.values()) {
    const cards = orders.map((o) => o.event.card_fingerprint).filter((c) => c !== null)
    if (cards.length < min) continue
    eligible++
    if (new Set(cards).size > 1) multi++
  }
  return multi / eligible
}

/** Share of customer sessions made on another device kind than the customer's usual one (refunds are back office). */
function shareOtherDevice(shop: SimulatedShop): number {
  const sessions = new Map<string, {customer: string; device: string}>()
  for (const e of shop.events) {
    if (e.customer_id === null || e.event_type === 'refund') continue
    sessions.set(e.session_id, {customer: e.customer_id, device: e.device})
  }
  const devices = new Map<string, string[]>()
  for (const s of sessions.values()) devices.set(s.customer, [...(devices.get(s.customer) ?? []), s.device])
  let other = 0
  for (const s of sessions.values()) if (s.device !== mode(devices.get(s.customer) ?? [])) other++
  return other / sessions.size
}

describe('legitimate habits at their default rates', () => {
  it('ship about --gift-rate of legitimate orders to another country than billing', () => {
    const gifts = withHabits.legit.filter((o) => o.event.shipping_country !== o.event.billing_country).length
    expect(Math.abs(gifts / withHabits.legit.length - GENERATE_DEFAULTS.giftRate)).toBeLessThan(0.008)
  })

  it('have about --abroad-rate of customers sessions from another country than billing', () => {
    // Travel (3% of sessions) moves the usual country of a few one-session customers too.
    expect(Math.abs(shareAbroad(withHabits) - GENERATE_DEFAULTS.abroadRate)).toBeLessThan(0.015)
  })

  it('give about --multi-card-rate of customers several cards', () => {
    // With 2-3 cards and six orders or more, all on one card is rare (1/32 or less); households pay with one card.
    const share = shareMultiCard(withHabits, 6)
    expect(share).toBeGreaterThan(GENERATE_DEFAULTS.multiCardRate - 0.06)
    expect(share).toBeLessThan(GENERATE_DEFAULTS.multiCardRate + 0.04)
  })

  it('let about --household-rate of new customers pay with an existing customer card, for months', () => {
    const {members, spansDays} = sharedCards(withHabits)
    const customers = withHabits.ordersByCustomer.size
    expect(Math.abs(members / customers - GENERATE_DEFAULTS.householdRate)).toBeLessThan(0.008)
    spansDays.sort((a, b) => a - b)
    expect(spansDays[Math.floor(spansDays.length / 2)], 'median span of a shared card, in days').toBeGreaterThan(30)
  })

  it('follow about --burst-rate of purchase visits with 1-4 more orders within the hour', () => {
    const b = bursts(withHabits)
    expect(Math.abs(b.bursts / b.visits - GENERATE_DEFAULTS.burstRate)).toBeLessThan(0.006)
    expect(Math.min(...b.sizes)).toBeGreaterThanOrEqual(2)
    // 2-5 orders, unless the BG/NBD process happens to place one more within the hour.
    expect(b.sizes.filter((n) => n > 5).length).toBeLessThanOrEqual(b.sizes.length * 0.05)
  })

  it('make about --new-device-rate of sessions on a newly picked device kind (which may be the usual one)', () => {
    // A new pick lands on another kind with chance 1 - (0.55² + 0.38² + 0.07²) = 0.548.
    const expected = GENERATE_DEFAULTS.newDeviceRate * 0.548
    expect(Math.abs(shareOtherDevice(withHabits) - expected)).toBeLessThan(0.012)
  })

  it('leave the purchase process alone: every order of the kind shop is there, same customer, time and total', () => {
    const orders = new Set(
      withHabits.orders.map((o) => `${o.event.customer_id} ${o.event.event_time} ${o.event.total}`),
    )
    const missing = kind.orders.filter(
      (o) => !orders.has(`${o.event.customer_id} ${o.event.event_time} ${o.event.total}`),
    )
    expect(missing).toEqual([])
    expect(withHabits.orders.length).toBeGreaterThan(kind.orders.length)
  })
})

describe('legitimate habits at rate 0', () => {
  it('turn off: no gifts, one card per customer, no shared card, no burst', () => {
    expect(kind.legit.filter((o) => o.event.shipping_country !== o.event.billing_country)).toEqual([])
    expect(shareMultiCard(kind, 1)).toBe(0)
    expect(sharedCards(kind).members).toBe(0)
    // Two purchases of the BG/NBD process within an hour are rare, not impossible.
    const b = bursts(kind)
    expect(b.bursts / b.visits).toBeLessThan(0.003)
    expect(shareAbroad(kind)).toBeLessThan(0.01)
  })

  it('turn off: --new-device-rate 0 keeps every customer on one device kind', () => {
    expect(
      shareOtherDevice(simulateShop(shopOptions({seed: 32, customers: 500, fraudRate: 0, newDeviceRate: 0}))),
    ).toBe(0)
  })

  it('never charge back a legitimate order', () => {
    expect(withHabits.refunds.filter((r) => r.reason === 'chargeback')).toEqual([])
  })
})
