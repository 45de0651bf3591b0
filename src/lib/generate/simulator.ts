import {SCHEMA_VERSION} from '../events/contract.js'
import type {EventOf, LineItem, ShopEvent} from '../events/types.js'
import {Catalogue, type Product} from './catalogue.js'
import type {GenerateOptions} from './options.js'
import {Random, WeightedPicker} from './random.js'
import {Seasonality} from './seasonality.js'
import {type Timed, TimeHeap} from './time-heap.js'

export type FraudPattern = 'card_testing' | 'account_takeover' | 'outsized_first_order'
export const FRAUD_PATTERNS: readonly FraudPattern[] = ['card_testing', 'account_takeover', 'outsized_first_order']

/** Shares of fraud incidents by pattern, and how many orders each incident places on average. */
const FRAUD_MIX: readonly {pattern: FraudPattern; share: number; meanOrders: number}[] = [
  {pattern: 'card_testing', share: 0.1, meanOrders: 8},
  {pattern: 'account_takeover', share: 0.45, meanOrders: 1},
  {pattern: 'outsized_first_order', share: 0.45, meanOrders: 1},
]
const CARD_TEST_ORDERS = {min: 4, max: 12} // mean 8, as FRAUD_MIX says

/**
 * Funnel probabilities of a browsing (non-buying) session, step by step. Buying sessions walk the whole funnel.
 * Exported so tests can check the generated funnel against them.
 */
export const FUNNEL = {
  /** A browsing session views at least one product. */
  productView: 0.8,
  /** ... then puts something in the cart. */
  addToCart: 0.35,
  /** ... then opens the checkout, and abandons it. */
  checkout: 0.3,
  /** A session starts with a search. */
  search: 0.3,
} as const

/** Browsing sessions per purchase of a signed-in customer, on average (each customer draws their own). */
const BROWSE_SESSIONS_PER_PURCHASE = 3
/** Anonymous sessions per operational day, per customer acquired over the period. */
const ANONYMOUS_SESSIONS_PER_CUSTOMER_DAY = 0.02
/** Mean gap between two events of a session, in ms. */
const MEAN_EVENT_GAP_MS = 25_000
const MS_PER_DAY = 86_400_000
const ZERO = 48
const COLON = 58
const DOT = 46
const ZULU = 90

/** Character code of the tens digit of n (0-99). */
function tens(n: number): number {
  return ZERO + Math.floor(n / 10)
}

/** Character code of the last digit of n (n >= 0). */
function units(n: number): number {
  return ZERO + (n % 10)
}

const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'NL', 'ES', 'IT', 'CA', 'AU', 'SE', 'PL', 'BE', 'AT', 'IE', 'DK']
const COUNTRY_WEIGHTS = [30, 14, 13, 9, 5, 5, 5, 4, 3, 3, 3, 2, 2, 1, 1]
/** Countries fraudsters connect from or ship to in this shop's story. */
const RISKY_COUNTRIES = ['NG', 'RU', 'BR', 'VN', 'ID', 'UA', 'RO', 'PH']
const DEVICES = ['mobile', 'desktop', 'tablet'] as const
const DEVICE_WEIGHTS = [55, 38, 7]
const PAYMENTS = ['card', 'paypal', 'apple_pay', 'gift_card'] as const
const PAYMENT_WEIGHTS = [68, 22, 8, 2]
type Device = (typeof DEVICES)[number]
type Payment = (typeof PAYMENTS)[number]

interface Customer {
  id: string
  country: string
  device: Device
  payment: Payment
  card: string
  /** Purchase rate per operational day (BG/NBD λ). */
  lambda: number
  /** Drop-out probability after each repeat purchase (BG/NBD p). */
  dropout: number
  /** Gamma-Gamma scale ν: this customer's order values are Gamma(p, ν). */
  nu: number
  browseRate: number
  nextPurchaseOp: number
  nextBrowseOp: number
  seen: boolean
}

type AgendaItem = Timed &
  (
    | {kind: 'acquire'}
    | {kind: 'customer'; customer: Customer}
    | {kind: 'anonymous'}
    | {kind: 'refund'; customer: Customer; order: PlacedOrder; chargeback: boolean}
    | {kind: 'fraud'; pattern: FraudPattern; victim: Customer}
  )

interface PlacedOrder {
  orderId: string
  items: LineItem[]
  totalCents: number
}

/** The events of one session (or one refund), waiting to be merged into the time-ordered output. */
interface SessionBuffer extends Timed {
  events: ShopEvent[]
  times: number[]
  /** Fraud label of each event, only for sessions that hold fraudulent orders. */
  labels?: (FraudPattern | undefined)[]
  customer: Customer | null
  index: number
}

/** An event as the simulator hands it out, with its ground-truth fraud label kept beside it (never inside). */
export interface SimulatedEvent {
  event: ShopEvent
  fraud: FraudPattern | undefined
}

export interface SimulatorStats {
  customersAcquired: number
  customersSeen: number
  fraudAccounts: number
  sessions: number
  anonymousSessions: number
}

/**
 * A discrete-event simulation of a shop that hands out events in event-time order with bounded memory.
 *
 * An agenda (min-heap by time) holds what happens next: the next customer acquisition, each live customer's next
 * visit, the next anonymous visit, pending refunds and fraud incidents. Taking an item from the agenda builds a whole
 * session at once; its events wait in a second heap and are released once no agenda item can start earlier, which
 * gives a total order without sorting the output. Memory follows concurrent activity, not the number of events.
 */
export class ShopSimulator {
  readonly stats: SimulatorStats = {
    customersAcquired: 0,
    customersSeen: 0,
    fraudAccounts: 0,
    sessions: 0,
    anonymousSessions: 0,
  }
  readonly catalogue: Catalogue
  private readonly random: Random
  private readonly season: Seasonality
  private readonly agenda = new TimeHeap<AgendaItem>()
  private readonly pending = new TimeHeap<SessionBuffer>()
  private readonly countries = new WeightedPicker(COUNTRY_WEIGHTS)
  private readonly devices = new WeightedPicker(DEVICE_WEIGHTS)
  private readonly payments = new WeightedPicker(PAYMENT_WEIGHTS)
  private readonly fraudMix = new WeightedPicker(FRAUD_MIX.map((m) => m.share))
  /** Chance that a legitimate order triggers a fraud incident, chosen so fraud orders make up `fraudRate` of all. */
  private readonly fraudIncidentChance: number
  private readonly endMs: number
  private readonly acquisitionEndOp: number
  private readonly customersToAcquire: number
  private readonly anonymousRate: number
  private readonly idWidth: number
  private acquiredSoFar = 0
  private lastAcquireOp: number
  private seq = 0
  private sessionSeq = 0
  private orderSeq = 0
  private dayKey = Number.NaN
  /** Character codes of the cached day's `YYYY-MM-DDT`. */
  private readonly dayPrefix = new Uint16Array(11)

  constructor(
    private readonly options: GenerateOptions & {customers: number},
    startMs: number,
    /** Simulate past the period's end (for `--events N`, which stops the stream itself). */
    openEnded = false,
  ) {
    this.random = new Random(options.seed)
    this.catalogue = new Catalogue(options.products, options.seed)
    this.season = new Seasonality(startMs, options.seasonality)
    const periodEndMs = startMs + options.days * MS_PER_DAY
    this.endMs = openEnded ? Number.POSITIVE_INFINITY : periodEndMs
    this.lastAcquireOp = this.season.toOperational(startMs)
    this.acquisitionEndOp = this.season.toOperational(periodEndMs)
    this.customersToAcquire = options.customers
    this.idWidth = Math.max(6, String(options.customers * 2).length)
    this.anonymousRate = Math.max(options.customers * ANONYMOUS_SESSIONS_PER_CUSTOMER_DAY, 1e-9)
    const meanOrders = FRAUD_MIX.reduce((sum, m) => sum + m.share * m.meanOrders, 0)
    const f = options.fraudRate
    this.fraudIncidentChance = f <= 0 ? 0 : f / ((1 - f) * meanOrders)

    this.scheduleAcquisition()
    this.schedule({
      kind: 'anonymous',
      time: this.opToMs(this.lastAcquireOp + this.random.exponential(this.anonymousRate)),
      seq: 0,
    })
  }

  /** The next event in time order, or undefined when the period is over. */
  next(): SimulatedEvent | undefined {
    for (;;) {
      const session = this.pending.peek()
      const agendaTop = this.agenda.peek()
      if (session && (!agendaTop || session.time <= agendaTop.time)) return this.release(session)
      if (!agendaTop) return undefined
      this.agenda.pop()
      this.handle(agendaTop)
    }
  }

  private release(session: SessionBuffer): SimulatedEvent {
    const i = session.index
    const event = session.events[i] as ShopEvent
    const fraud = session.labels?.[i]
    if (i === 0 && session.customer && !session.customer.seen) {
      session.customer.seen = true
      this.stats.customersSeen++
    }
    session.index = i + 1
    if (session.index < session.events.length) {
      session.time = session.times[session.index] as number
      this.pending.topChanged()
    } else {
      this.pending.pop()
    }
    return {event, fraud}
  }

  private schedule(item: AgendaItem): void {
    if (item.time >= this.endMs) return
    item.seq = this.seq++
    this.agenda.push(item)
  }

  private opToMs(op: number): number {
    return Math.floor(this.season.toCalendar(op))
  }

  private handle(item: AgendaItem): void {
    switch (item.kind) {
      case 'acquire':
        this.acquire(item.time)
        return
      case 'customer':
        this.visit(item.customer)
        return
      case 'anonymous':
        this.anonymousSession(item.time)
        this.schedule({
          kind: 'anonymous',
          time: this.opToMs(this.season.toOperational(item.time) + this.random.exponential(this.anonymousRate)),
          seq: 0,
        })
        return
      case 'refund':
        this.refund(item.time, item.customer, item.order, item.chargeback)
        return
      case 'fraud':
        this.fraudIncident(item.time, item.pattern, item.victim)
        return
    }
  }

  /**
   * Customers arrive at uniform (operational) times over the period, drawn as ascending order statistics one at a
   * time so no list of arrival times is ever held.
   */
  private scheduleAcquisition(): void {
    const remaining = this.customersToAcquire - this.acquiredSoFar
    if (remaining <= 0) return
    const span = this.acquisitionEndOp - this.lastAcquireOp
    this.lastAcquireOp += span * (1 - (1 - this.random.uniform()) ** (1 / remaining))
    this.schedule({kind: 'acquire', time: this.opToMs(this.lastAcquireOp), seq: 0})
  }

  private newCustomer(country?: string): Customer {
    const {bgnbd, gammaGamma} = this.options
    const n = ++this.stats.customersAcquired
    const lambda = this.random.gamma(bgnbd.r, bgnbd.alpha)
    return {
      id: `c${String(n).padStart(this.idWidth, '0')}`,
      country: country ?? (COUNTRIES[this.countries.pick(this.random)] as string),
      device: DEVICES[this.devices.pick(this.random)] as Device,
      payment: PAYMENTS[this.payments.pick(this.random)] as Payment,
      card: this.random.hex(8),
      lambda,
      dropout: this.random.beta(bgnbd.a, bgnbd.b),
      nu: this.random.gamma(gammaGamma.q, gammaGamma.gamma),
      browseRate: lambda * this.random.gamma(2, 2 / BROWSE_SESSIONS_PER_PURCHASE),
      nextPurchaseOp: Number.POSITIVE_INFINITY,
      nextBrowseOp: Number.POSITIVE_INFINITY,
      seen: false,
    }
  }

  /** A new customer's first visit is their first purchase (BG/NBD's time zero). */
  private acquire(time: number): void {
    this.acquiredSoFar++
    this.scheduleAcquisition()
    const customer = this.newCustomer()
    this.purchaseSession(time, customer)
    const op = this.season.toOperational(time)
    customer.nextPurchaseOp = op + this.random.exponential(customer.lambda)
    customer.nextBrowseOp = op + this.random.exponential(customer.browseRate)
    this.scheduleCustomer(customer)
  }

  private scheduleCustomer(customer: Customer): void {
    const op = Math.min(customer.nextPurchaseOp, customer.nextBrowseOp)
    this.schedule({kind: 'customer', customer, time: this.opToMs(op), seq: 0})
  }

  private visit(customer: Customer): void {
    if (customer.nextPurchaseOp <= customer.nextBrowseOp) {
      const op = customer.nextPurchaseOp
      this.purchaseSession(this.opToMs(op), customer)
      // BG/NBD: after every repeat purchase the customer drops out for good with probability p.
      if (this.random.chance(customer.dropout)) return
      customer.nextPurchaseOp = op + this.random.exponential(customer.lambda)
    } else {
      const op = customer.nextBrowseOp
      this.browseSession(this.opToMs(op), customer)
      customer.nextBrowseOp = op + this.random.exponential(customer.browseRate)
    }
    this.scheduleCustomer(customer)
  }

  // ---- sessions ----

  private openSession(start: number, customer: Customer | null, device: Device, ipCountry: string): SessionBuilder {
    this.stats.sessions++
    return new SessionBuilder(
      this,
      start,
      customer,
      device,
      ipCountry,
      `s${(++this.sessionSeq).toString(36).padStart(8, '0')}`,
    )
  }

  /** Sessions usually come from the customer's own device and country, sometimes not (travel, a second device). */
  private customerSession(start: number, customer: Customer): SessionBuilder {
    const device = this.random.chance(0.9) ? customer.device : (DEVICES[this.devices.pick(this.random)] as Device)
    const country = this.random.chance(0.97)
      ? customer.country
      : (COUNTRIES[this.countries.pick(this.random)] as string)
    return this.openSession(start, customer, device, country)
  }

  private purchaseSession(start: number, customer: Customer): void {
    const s = this.customerSession(start, customer)
    const {p} = this.options.gammaGamma
    const targetCents = Math.max(99, Math.round(this.random.gamma(p, customer.nu) * 100))
    const items = this.fillBasket(targetCents)
    this.walkToCart(s, items)
    const order = this.placeOrder(s, customer, items, customer.country, customer.country, undefined)
    this.afterLegitOrder(s.now, customer, order)
    s.finish()
  }

  private browseSession(start: number, customer: Customer | null): void {
    const s = customer
      ? this.customerSession(start, customer)
      : this.openSession(
          start,
          null,
          DEVICES[this.devices.pick(this.random)] as Device,
          COUNTRIES[this.countries.pick(this.random)] as string,
        )
    this.landing(s)
    if (this.random.chance(FUNNEL.productView)) {
      const viewed = 1 + this.random.int(4)
      let last: Product | undefined
      for (let i = 0; i < viewed; i++) {
        last = this.catalogue.popular(this.random)
        s.productView(last)
      }
      if (last && this.random.chance(FUNNEL.addToCart)) {
        const qty = this.random.chance(0.85) ? 1 : 2
        s.addToCart(last, qty)
        if (this.random.chance(FUNNEL.checkout)) s.checkoutStarted(qty, last.priceCents * qty)
        else if (this.random.chance(0.25)) s.removeFromCart(last, qty)
      }
    }
    s.finish()
  }

  private anonymousSession(start: number): void {
    this.stats.anonymousSessions++
    this.browseSession(start, null)
  }

  private landing(s: SessionBuilder): void {
    if (this.random.chance(FUNNEL.search)) {
      const product = this.catalogue.popular(this.random)
      s.pageView('/')
      s.search(product.words, 1 + this.random.int(120))
    } else {
      s.pageView(this.random.chance(0.5) ? '/' : `/category/${this.random.pick(this.catalogue.categories)}`)
    }
  }

  /** Views, carts and checkout for a known basket: what a buying session does before paying. */
  private walkToCart(s: SessionBuilder, items: LineItem[]): void {
    this.landing(s)
    let units = 0
    let cents = 0
    for (const line of items) {
      const product = this.productById(line.product_id)
      if (this.random.chance(0.3)) s.productView(this.catalogue.popular(this.random))
      s.productView(product)
      s.addToCart(product, line.quantity)
      units += line.quantity
      cents += product.priceCents * line.quantity
    }
    if (this.random.chance(0.1)) {
      // Second thoughts: something goes in the cart and comes out again.
      const extra = this.catalogue.popular(this.random)
      s.addToCart(extra, 1)
      s.removeFromCart(extra, 1)
    }
    s.checkoutStarted(units, cents)
  }

  private productById(id: string): Product {
    return this.catalogue.products[Number(id.slice(1)) - 1] as Product
  }

  /**
   * Fills a basket from the catalogue (by popularity) up to a target order value drawn from the Gamma-Gamma model.
   * The total is the sum of real catalogue prices, so it lands near the target rather than exactly on it.
   */
  private fillBasket(targetCents: number): LineItem[] {
    const lines: LineItem[] = []
    let remaining = targetCents
    for (let tries = 0; tries < 24 && remaining > 0; tries++) {
      const product = this.catalogue.popular(this.random)
      // Skip a product that would overshoot by more than a quarter of the shortfall, the first one too: the basket
      // stops at the first overshoot but keeps filling a shortfall, so a looser rule drifts above the target (a
      // first line exempt from it put small targets 3-6x over, and the mean order value ~20% above p*gamma/(q-1)).
      if (product.priceCents > 1.25 * remaining) continue
      const quantity = Math.min(5, Math.max(1, Math.round(remaining / product.priceCents / (1 + this.random.int(3)))))
      const existing = lines.find((l) => l.product_id === product.id)
      if (existing) existing.quantity += quantity
      else lines.push({product_id: product.id, quantity, unit_price: product.price})
      remaining -= quantity * product.priceCents
      if (lines.length >= 8) break
    }
    if (lines.length === 0) {
      const cheap = this.catalogue.cheapest[this.random.int(Math.min(20, this.catalogue.cheapest.length))] as Product
      lines.push({product_id: cheap.id, quantity: 1, unit_price: cheap.price})
    }
    return lines
  }

  private placeOrder(
    s: SessionBuilder,
    customer: Customer | null,
    items: LineItem[],
    billing: string,
    shipping: string,
    fraud: FraudPattern | undefined,
    card?: string,
  ): PlacedOrder {
    let totalCents = 0
    for (const line of items) totalCents += Math.round(line.unit_price * 100) * line.quantity
    const orderId = `o${String(++this.orderSeq).padStart(9, '0')}`
    const payment = card ? 'card' : (customer?.payment ?? 'card')
    const fingerprint =
      payment === 'card' || payment === 'apple_pay' ? (card ?? customer?.card ?? this.random.hex(8)) : null
    s.purchase(orderId, items, totalCents, payment, fingerprint, billing, shipping, fraud)
    return {orderId, items, totalCents}
  }

  private afterLegitOrder(time: number, customer: Customer, order: PlacedOrder): void {
    if (this.random.chance(this.options.refundRate)) {
      // Whole milliseconds: event times are written with millisecond precision (isoTime).
      const delayMs = Math.floor((1 + this.random.exponential(1 / 7)) * MS_PER_DAY)
      this.schedule({kind: 'refund', customer, order, chargeback: false, time: time + delayMs, seq: 0})
    }
    if (this.fraudIncidentChance > 0 && this.random.chance(this.fraudIncidentChance)) {
      const pattern = FRAUD_MIX[this.fraudMix.pick(this.random)]?.pattern as FraudPattern
      const delayMs = Math.floor(this.random.exponential(1) * MS_PER_DAY)
      this.schedule({kind: 'fraud', pattern, victim: customer, time: time + delayMs, seq: 0})
    }
  }

  private refund(time: number, customer: Customer, order: PlacedOrder, chargeback: boolean): void {
    let cents = order.totalCents
    if (!chargeback && order.items.length > 1 && this.random.chance(0.4)) {
      const line = this.random.pick(order.items)
      cents = Math.round(line.unit_price * 100) * line.quantity
    }
    const reason = chargeback
      ? 'chargeback'
      : (this.random.pick(['damaged', 'not_as_described', 'changed_mind', 'late_delivery'] as const) as
          | 'damaged'
          | 'not_as_described'
          | 'changed_mind'
          | 'late_delivery')
    // Refunds are issued by the shop's back office: one-event sessions of their own.
    const s = this.openSession(time, customer, 'desktop', customer.country)
    s.refund(order.orderId, cents, reason)
    s.finish()
  }

  // ---- fraud ----

  private fraudIncident(time: number, pattern: FraudPattern, victim: Customer): void {
    switch (pattern) {
      case 'card_testing':
        this.cardTesting(time)
        return
      case 'account_takeover':
        this.accountTakeover(time, victim)
        return
      case 'outsized_first_order':
        this.outsizedFirstOrder(time)
        return
    }
  }

  private fraudAccount(country: string): Customer {
    this.stats.fraudAccounts++
    return this.newCustomer(country)
  }

  private scheduleChargeback(time: number, customer: Customer, order: PlacedOrder, chance: number): void {
    if (this.random.chance(chance)) {
      const delayDays = 20 + this.random.int(40)
      this.schedule({kind: 'refund', customer, order, chargeback: true, time: time + delayDays * MS_PER_DAY, seq: 0})
    }
  }

  /** A burst of tiny orders from one new account and device, each paid with a different stolen card. */
  private cardTesting(time: number): void {
    const country = this.random.pick(RISKY_COUNTRIES)
    const account = this.fraudAccount(country)
    const s = this.openSession(time, account, 'desktop', country)
    s.fastPace = true
    s.pageView('/')
    const orders = this.random.intBetween(CARD_TEST_ORDERS.min, CARD_TEST_ORDERS.max)
    for (let i = 0; i < orders; i++) {
      const product = this.catalogue.cheapest[this.random.int(Math.min(10, this.catalogue.cheapest.length))] as Product
      s.addToCart(product, 1)
      s.checkoutStarted(1, product.priceCents)
      const billing = this.random.chance(0.5) ? country : (COUNTRIES[this.countries.pick(this.random)] as string)
      const items = [{product_id: product.id, quantity: 1, unit_price: product.price}]
      const order = this.placeOrder(s, account, items, billing, country, 'card_testing', this.random.hex(8))
      this.scheduleChargeback(s.now, account, order, 0.3)
    }
    s.finish()
  }

  /** Someone else signs in to a real customer's account from a new country and device and buys big, shipped abroad. */
  private accountTakeover(time: number, victim: Customer): void {
    const country = this.random.pick(RISKY_COUNTRIES)
    const device = DEVICES.find((d) => d !== victim.device) as Device
    const s = this.openSession(time, victim, device, country)
    s.pageView('/account')
    const targetCents = Math.round((this.options.gammaGamma.p / victim.nu) * 100 * (4 + this.random.uniform() * 8))
    const items = this.expensiveBasket(targetCents)
    this.walkToCart(s, items)
    const order = this.placeOrder(s, victim, items, victim.country, country, 'account_takeover', victim.card)
    this.scheduleChargeback(s.now, victim, order, 0.8)
    s.finish()
  }

  /** A brand-new account whose first order is far above the shop's norm, billed in one country and shipped to another. */
  private outsizedFirstOrder(time: number): void {
    const billing = COUNTRIES[this.countries.pick(this.random)] as string
    const shipping = this.random.pick(RISKY_COUNTRIES)
    const account = this.fraudAccount(billing)
    const s = this.openSession(time, account, account.device, this.random.chance(0.6) ? shipping : billing)
    const {p, q, gamma} = this.options.gammaGamma
    const meanOrderCents = ((p * gamma) / (q - 1)) * 100
    const items = this.expensiveBasket(Math.round(meanOrderCents * (8 + this.random.uniform() * 12)))
    this.walkToCart(s, items)
    const order = this.placeOrder(s, account, items, billing, shipping, 'outsized_first_order', this.random.hex(8))
    this.scheduleChargeback(s.now, account, order, 0.8)
    s.finish()
  }

  /** Fraudsters go for the dear things: several units of the priciest products. */
  private expensiveBasket(targetCents: number): LineItem[] {
    const dear = this.catalogue.cheapest
    const lines: LineItem[] = []
    let remaining = targetCents
    while (remaining > 0 && lines.length < 4) {
      const product = dear[dear.length - 1 - this.random.int(Math.min(25, dear.length))] as Product
      if (lines.some((l) => l.product_id === product.id)) continue
      const quantity = Math.max(1, Math.min(5, Math.round(remaining / product.priceCents / 2)))
      lines.push({product_id: product.id, quantity, unit_price: product.price})
      remaining -= quantity * product.priceCents
    }
    return lines
  }

  // ---- used by SessionBuilder ----

  /** @internal */
  pushSession(buffer: SessionBuffer): void {
    if (buffer.events.length === 0) return
    buffer.seq = this.seq++
    buffer.time = buffer.times[0] as number
    this.pending.push(buffer)
  }

  /** @internal */
  get rng(): Random {
    return this.random
  }

  /**
   * @internal ISO 8601 with milliseconds, from a cached day prefix (toISOString per event costs too much), made in
   * one call from character codes: concatenated parts would leave a rope that the NDJSON writer first flattens.
   */
  isoTime(instant: number): string {
    const ms = Math.floor(instant)
    const day = Math.floor(ms / MS_PER_DAY)
    if (day !== this.dayKey) {
      this.dayKey = day
      const prefix = new Date(day * MS_PER_DAY).toISOString().slice(0, 11)
      for (let i = 0; i < 11; i++) this.dayPrefix[i] = prefix.charCodeAt(i)
    }
    let rest = ms - day * MS_PER_DAY
    const hours = Math.floor(rest / 3_600_000)
    rest -= hours * 3_600_000
    const minutes = Math.floor(rest / 60_000)
    rest -= minutes * 60_000
    const seconds = Math.floor(rest / 1000)
    const millis = rest - seconds * 1000
    const p = this.dayPrefix
    return String.fromCharCode(
      p[0] as number,
      p[1] as number,
      p[2] as number,
      p[3] as number,
      p[4] as number,
      p[5] as number,
      p[6] as number,
      p[7] as number,
      p[8] as number,
      p[9] as number,
      p[10] as number,
      tens(hours),
      units(hours),
      COLON,
      tens(minutes),
      units(minutes),
      COLON,
      tens(seconds),
      units(seconds),
      DOT,
      tens(Math.floor(millis / 10)),
      units(Math.floor(millis / 10)),
      units(millis),
      ZULU,
    )
  }

  get currency(): string {
    return this.options.currency
  }
}

/** Builds the events of one session, advancing its own clock between events. */
class SessionBuilder {
  /** Calendar ms of the next event. */
  now: number
  /** Bots click fast: seconds between events instead of tens of seconds. */
  fastPace = false
  private readonly buffer: SessionBuffer
  private readonly customerId: string | null

  constructor(
    private readonly sim: ShopSimulator,
    start: number,
    customer: Customer | null,
    private readonly device: Device,
    private readonly ipCountry: string,
    private readonly sessionId: string,
  ) {
    this.now = start
    this.customerId = customer ? customer.id : null
    this.buffer = {events: [], times: [], customer, index: 0, time: start, seq: 0}
  }

  /** Advances the session clock and returns the time of the event being built. */
  private tick(): number {
    const time = this.now
    const rng = this.sim.rng
    this.now += Math.floor(
      this.fastPace ? 500 + rng.exponential(1 / 2000) : 2000 + rng.exponential(1 / MEAN_EVENT_GAP_MS),
    )
    return time
  }

  private add(event: ShopEvent, time: number, fraud?: FraudPattern): void {
    this.buffer.events.push(event)
    this.buffer.times.push(time)
    if (fraud) {
      if (!this.buffer.labels) this.buffer.labels = []
      this.buffer.labels[this.buffer.events.length - 1] = fraud
    }
  }

  // Each event is one object literal with every field in contract order: V8 then gives all events of a type one
  // hidden class, which keeps building and serialising them cheap (spreads would not).

  pageView(page: string): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'page_view'> = {
      schema_version: SCHEMA_VERSION,
      event_id: sim.rng.uuid(),
      event_type: 'page_view',
      event_time: sim.isoTime(time),
      customer_id: this.customerId,
      session_id: this.sessionId,
      device: this.device,
      ip_country: this.ipCountry,
      page,
    }
    this.add(event, time)
  }

  productView(product: Product): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'product_view'> = {
      schema_version: SCHEMA_VERSION,
      event_id: sim.rng.uuid(),
      event_type: 'product_view',
      event_time: sim.isoTime(time),
      customer_id: this.customerId,
      session_id: this.sessionId,
      device: this.device,
      ip_country: this.ipCountry,
      product_id: product.id,
      category: product.category,
      unit_price: product.price,
      currency: sim.currency,
    }
    this.add(event, time)
  }

  search(query: string, results: number): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'search'> = {
      schema_version: SCHEMA_VERSION,
      event_id: sim.rng.uuid(),
      event_type: 'search',
      event_time: sim.isoTime(time),
      customer_id: this.customerId,
      session_id: this.sessionId,
      device: this.device,
      ip_country: this.ipCountry,
      query,
      results_count: results,
    }
    this.add(event, time)
  }

  addToCart(product: Product, quantity: number): void {
    this.cartEvent('add_to_cart', product, quantity)
  }

  removeFromCart(product: Product, quantity: number): void {
    this.cartEvent('remove_from_cart', product, quantity)
  }

  private cartEvent(type: 'add_to_cart' | 'remove_from_cart', product: Product, quantity: number): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'add_to_cart'> | EventOf<'remove_from_cart'> = {
      schema_version: SCHEMA_VERSION,
      event_id: sim.rng.uuid(),
      event_type: type,
      event_time: sim.isoTime(time),
      customer_id: this.customerId,
      session_id: this.sessionId,
      device: this.device,
      ip_country: this.ipCountry,
      product_id: product.id,
      quantity,
      unit_price: product.price,
      currency: sim.currency,
    }
    this.add(event, time)
  }

  checkoutStarted(units: number, cents: number): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'checkout_started'> = {
      schema_version: SCHEMA_VERSION,
      event_id: sim.rng.uuid(),
      event_type: 'checkout_started',
      event_time: sim.isoTime(time),
      customer_id: this.customerId,
      session_id: this.sessionId,
      device: this.device,
      ip_country: this.ipCountry,
      item_count: units,
      total: cents / 100,
      currency: sim.currency,
    }
    this.add(event, time)
  }

  purchase(
    orderId: string,
    items: LineItem[],
    totalCents: number,
    payment: Payment,
    card: string | null,
    billing: string,
    shipping: string,
    fraud: FraudPattern | undefined,
  ): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'purchase'> = {
      schema_version: SCHEMA_VERSION,
      event_id: sim.rng.uuid(),
      event_type: 'purchase',
      event_time: sim.isoTime(time),
      customer_id: this.customerId,
      session_id: this.sessionId,
      device: this.device,
      ip_country: this.ipCountry,
      order_id: orderId,
      items,
      total: totalCents / 100,
      currency: sim.currency,
      payment_method: payment,
      card_fingerprint: card,
      billing_country: billing,
      shipping_country: shipping,
    }
    this.add(event, time, fraud)
  }

  refund(orderId: string, cents: number, reason: EventOf<'refund'>['reason']): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'refund'> = {
      schema_version: SCHEMA_VERSION,
      event_id: sim.rng.uuid(),
      event_type: 'refund',
      event_time: sim.isoTime(time),
      customer_id: this.customerId,
      session_id: this.sessionId,
      device: this.device,
      ip_country: this.ipCountry,
      order_id: orderId,
      amount: cents / 100,
      currency: sim.currency,
      reason,
    }
    this.add(event, time)
  }

  finish(): void {
    this.sim.pushSession(this.buffer)
  }
}
