import type {FraudFeatures} from '../analytics/fraud/features.js'
import {MIN_ORDERS_FOR_SHARES} from '../analytics/fraud/features.js'
import type {PurchaseEvent, ShopEvent} from '../events/types.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** The longest window a feature looks back over (card customers, country shares, the shop's mean order). */
export const LONGEST_WINDOW_MS = 30 * DAY
/** Accounts younger than this, on a card within this span, form a ring (card_new_accounts_7d). */
const RING_WINDOW_MS = 7 * DAY
/** Per-customer order times are needed for the 10-minute, hour and day windows only. */
export const CUSTOMER_WINDOW_MS = DAY
/**
 * A session idle this long is over: its start is forgotten. Visits of the simulator (and of most shops, whose
 * analytics end a visit after 30 idle minutes) are far shorter; the bound keeps memory flat on a busy stream.
 */
export const SESSION_IDLE_MS = 2 * HOUR
/** Slack kept beyond each window, so an event that arrives a little late (another partition) still sees its past. */
export const LATE_MARGIN_MS = HOUR

/**
 * Times of events in one key's window, in time order, with an optional number per entry (an order total) and a
 * label (a card's customer). Most events arrive in time order and append; a late one is inserted in place.
 */
export class TimeWindow {
  private times: number[] = []
  private amounts: number[] = []
  private labels: (string | null)[] = []
  /** Running sums of amounts, so a window's sum is two lookups. */
  private sums: number[] = []
  private head = 0

  get size(): number {
    return this.times.length - this.head
  }

  add(time: number, amount = 0, label: string | null = null): void {
    let at = this.times.length
    while (at > this.head && (this.times[at - 1] as number) > time) at--
    this.times.splice(at, 0, time)
    this.amounts.splice(at, 0, amount)
    this.labels.splice(at, 0, label)
    this.sums.length = at
    let sum = at > 0 ? (this.sums[at - 1] as number) : 0
    for (let i = at; i < this.times.length; i++) {
      sum += this.amounts[i] as number
      this.sums.push(sum)
    }
  }

  /** Index of the first entry at or after `time`. */
  private lower(time: number): number {
    let lo = this.head
    let hi = this.times.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.times[mid] as number) < time) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Entries with `from <= time < to`: the batch SQL's frame `RANGE BETWEEN span PRECEDING AND 1 µs PRECEDING`. */
  count(from: number, to: number): number {
    return this.lower(to) - this.lower(from)
  }

  sum(from: number, to: number): number {
    const a = this.lower(from)
    const b = this.lower(to)
    if (b <= a) return 0
    return (this.sums[b - 1] as number) - (a > 0 ? (this.sums[a - 1] as number) : 0)
  }

  /** Calls `each` for every entry with `from <= time < to`. */
  forEach(from: number, to: number, each: (time: number, label: string | null) => void): void {
    for (let i = this.lower(from), end = this.lower(to); i < end; i++) {
      each(this.times[i] as number, this.labels[i] as string | null)
    }
  }

  /** Forgets entries before `time`; the arrays shrink once half of them are forgotten. */
  prune(time: number): void {
    this.head = this.lower(time)
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      const base = this.head > 0 ? (this.sums[this.head - 1] as number) : 0
      this.times = this.times.slice(this.head)
      this.amounts = this.amounts.slice(this.head)
      this.labels = this.labels.slice(this.head)
      this.sums = this.sums.slice(this.head).map((s) => s - base)
      this.head = 0
    }
  }
}

/** What is kept of one signed-in customer. */
export interface CustomerState {
  /** Earliest event of any kind. */
  firstSeen: number
  /** Orders ever, their summed totals, and how many were paid by card. */
  orders: number
  totalSum: number
  cardOrders: number
  cards: Set<string>
  shippedTo: Set<string>
  /** Orders of the last day, labelled with their card. */
  recent: TimeWindow
  /** When each kind of device and each IP country was first seen for the customer. */
  devices: Map<string, number>
  ipCountries: Map<string, number>
}

function newCustomer(): CustomerState {
  return {
    firstSeen: Number.POSITIVE_INFINITY,
    orders: 0,
    totalSum: 0,
    cardOrders: 0,
    cards: new Set(),
    shippedTo: new Set(),
    recent: new TimeWindow(),
    devices: new Map(),
    ipCountries: new Map(),
  }
}

function firstTime(map: Map<string, number>, key: string, time: number): void {
  const known = map.get(key)
  if (known === undefined || time < known) map.set(key, time)
}

/**
 * The running state behind live fraud features: per customer, card, IP country, shipping country, session and shop,
 * only as much as the feature windows need. `features()` computes for one order exactly what features.ts computes
 * in SQL, from the events applied so far that happened strictly before the order.
 */
export class FraudState {
  readonly customers = new Map<string, CustomerState>()
  readonly cards = new Map<string, TimeWindow>()
  readonly ipCountries = new Map<string, TimeWindow>()
  readonly shippingCountries = new Map<string, TimeWindow>()
  readonly shop = new TimeWindow()
  /** First and last event time of each open session. */
  readonly sessions = new Map<string, {start: number; last: number}>()
  /** Latest event time applied: windows are pruned against it. */
  watermark = Number.NEGATIVE_INFINITY
  private prunedAt = Number.NEGATIVE_INFINITY

  customer(id: string): CustomerState {
    let state = this.customers.get(id)
    if (!state) {
      state = newCustomer()
      this.customers.set(id, state)
    }
    return state
  }

  session(id: string, start: number, last: number): void {
    const known = this.sessions.get(id)
    if (known) {
      known.start = Math.min(known.start, start)
      known.last = Math.max(known.last, last)
    } else {
      this.sessions.set(id, {start, last})
    }
  }

  /** Records what one event reveals. Purchases must be scored (features) before they are applied. */
  apply(event: ShopEvent, time: number): void {
    this.session(event.session_id, time, time)
    if (event.customer_id !== null) {
      const c = this.customer(event.customer_id)
      c.firstSeen = Math.min(c.firstSeen, time)
      firstTime(c.devices, event.device, time)
      firstTime(c.ipCountries, event.ip_country, time)
    }
    if (event.event_type === 'purchase') this.applyOrder(event, time)
    if (time > this.watermark) this.watermark = time
    // Pruning walks every key: do it once per hour of event time, not per event.
    if (this.watermark - this.prunedAt >= HOUR) this.prune()
  }

  /** Adds one order to the windows and aggregates (also used by the restore, with the order's own fields). */
  applyOrder(
    order: Pick<PurchaseEvent, 'customer_id' | 'card_fingerprint' | 'ip_country' | 'shipping_country' | 'total'>,
    time: number,
    aggregates = true,
  ): void {
    const total = Number(order.total)
    const card = order.card_fingerprint
    // A guest order has no customer whose history it belongs to: it counts for its card, countries and the shop only.
    const c = order.customer_id === null ? undefined : this.customer(order.customer_id)
    if (c && aggregates) {
      c.orders++
      c.totalSum += total
      if (card !== null) {
        c.cardOrders++
        c.cards.add(card)
      }
      c.shippedTo.add(order.shipping_country)
    }
    c?.recent.add(time, 0, card)
    if (card !== null) window(this.cards, card).add(time, 0, order.customer_id)
    window(this.ipCountries, order.ip_country).add(time)
    window(this.shippingCountries, order.shipping_country).add(time)
    this.shop.add(time, total)
  }

  /** The features of an order placed at `time`, from what was applied before it (features.ts, in TypeScript). */
  features(order: PurchaseEvent, time: number): FraudFeatures {
    const known = order.customer_id !== null
    const c = known ? this.customers.get(order.customer_id as string) : undefined
    const card = order.card_fingerprint
    let c10m = 0
    let c1h = 0
    let c24h = 0
    const cards24h = new Set<string>()
    c?.recent.forEach(time - DAY, time, (t, orderCard) => {
      c24h++
      if (t >= time - HOUR) c1h++
      if (t >= time - 10 * MINUTE) c10m++
      if (orderCard !== null) cards24h.add(orderCard)
    })
    const prior = c?.orders ?? 0
    const cardWindow = card === null ? undefined : this.cards.get(card)
    let otherCustomers: number | null = null
    let newAccounts: number | null = null
    if (card !== null && known) {
      const others = new Set<string>()
      const young = new Set<string>()
      cardWindow?.forEach(time - LONGEST_WINDOW_MS, time, (t, customer) => {
        if (customer === null || customer === order.customer_id) return
        others.add(customer)
        // A ring's accounts: paid with the card in the last week while under a week old.
        if (t >= time - RING_WINDOW_MS && t - (this.customers.get(customer)?.firstSeen ?? t) < RING_WINDOW_MS) {
          young.add(customer)
        }
      })
      otherCustomers = others.size
      newAccounts = young.size
    }
    const ip = this.ipCountries.get(order.ip_country)
    const ip1h = ip?.count(time - HOUR, time) ?? 0
    const ip30d = ip?.count(time - LONGEST_WINDOW_MS, time) ?? 0
    const ship30d = this.shippingCountries.get(order.shipping_country)?.count(time - LONGEST_WINDOW_MS, time) ?? 0
    const shop30d = this.shop.count(time - LONGEST_WINDOW_MS, time)
    const shopMean = shop30d > 0 ? this.shop.sum(time - LONGEST_WINDOW_MS, time) / shop30d : null
    const mean = c && c.orders > 0 ? c.totalSum / c.orders : null
    const total = Number(order.total)
    const firstSeen = c ? Math.min(c.firstSeen, time) : time
    // The visit began at its first event; what the visit itself shows (its device, its country) is not history.
    const visitStart = Math.min(this.sessions.get(order.session_id)?.start ?? time, time)
    const returning = known && firstSeen < visitStart
    const seenBefore = (map: Map<string, number> | undefined, key: string) => (map?.get(key) ?? time) < visitStart
    return {
      customer_orders_10m: known ? c10m : null,
      customer_orders_1h: known ? c1h : null,
      customer_orders_24h: known ? c24h : null,
      customer_prior_orders: known ? prior : null,
      customer_cards_24h: known ? cards24h.size + (card !== null && !cards24h.has(card) ? 1 : 0) : null,
      new_card: known && card !== null && (c?.cardOrders ?? 0) > 0 ? !c?.cards.has(card) : null,
      card_orders_1h: card === null ? null : (cardWindow?.count(time - HOUR, time) ?? 0),
      card_orders_24h: card === null ? null : (cardWindow?.count(time - DAY, time) ?? 0),
      card_other_customers_30d: otherCustomers,
      card_new_accounts_7d: newAccounts,
      ip_country_orders_1h: ip1h,
      ip_country_surge: ip1h / (1 + ip30d / 720),
      ip_country_share_30d: shop30d >= MIN_ORDERS_FOR_SHARES ? ip30d / shop30d : null,
      shipping_country_share_30d: shop30d >= MIN_ORDERS_FOR_SHARES ? ship30d / shop30d : null,
      // As the SQL: seconds, then hours.
      account_age_hours: known ? (time - firstSeen) / 1000 / 3600 : null,
      amount_vs_customer: mean !== null && mean > 0 ? total / mean : null,
      amount_vs_shop: shopMean !== null && shopMean > 0 ? total / shopMean : null,
      billing_shipping_mismatch: order.billing_country !== order.shipping_country,
      ip_billing_mismatch: order.ip_country !== order.billing_country,
      new_device: returning ? !seenBefore(c?.devices, order.device) : null,
      new_ip_country: returning ? !seenBefore(c?.ipCountries, order.ip_country) : null,
      new_shipping_country: known && prior > 0 ? !c?.shippedTo.has(order.shipping_country) : null,
      visit_seconds: (time - visitStart) / 1000,
    }
  }

  /** Forgets what no window can reach any more (with a margin for late events). */
  prune(): void {
    const horizon = this.watermark - LONGEST_WINDOW_MS - LATE_MARGIN_MS
    pruneAll(this.cards, horizon)
    pruneAll(this.ipCountries, horizon)
    pruneAll(this.shippingCountries, horizon)
    this.shop.prune(horizon)
    const recent = this.watermark - CUSTOMER_WINDOW_MS - LATE_MARGIN_MS
    for (const c of this.customers.values()) if (c.recent.size > 0) c.recent.prune(recent)
    const idle = this.watermark - SESSION_IDLE_MS
    for (const [id, s] of this.sessions) if (s.last < idle) this.sessions.delete(id)
    this.prunedAt = this.watermark
  }
}

function window(map: Map<string, TimeWindow>, key: string): TimeWindow {
  let w = map.get(key)
  if (!w) {
    w = new TimeWindow()
    map.set(key, w)
  }
  return w
}

function pruneAll(map: Map<string, TimeWindow>, horizon: number): void {
  for (const [key, w] of map) {
    w.prune(horizon)
    if (w.size === 0) map.delete(key)
  }
}
