import {SCHEMA_VERSION} from '../events/contract.js'
import type {EventOf, LineItem, ShopEvent} from '../events/types.js'
import {Catalogue, type Product} from './catalogue.js'
import {FRAUD_PATTERNS, type FraudPattern, type FraudVariant, type GenerateOptions} from './options.js'
import {Random, WeightedPicker} from './random.js'
import {Seasonality} from './seasonality.js'
import {type Timed, TimeHeap} from './time-heap.js'

/** Shares of fraud incidents by pattern (before `--fraud-patterns` leaves some out). */
const FRAUD_SHARES: Record<FraudPattern, number> = {
  card_testing: 0.1,
  account_takeover: 0.3,
  slow_fraud: 0.12,
  ring: 0.06,
  friendly_fraud: 0.12,
  outsized_first_order: 0.3,
}

/** A range [min, max] of a pattern's parameter. */
interface Range {
  min: number
  max: number
}

/**
 * Everything a fraud pattern draws its shape from. `holdout` moves every range and place away from `tune`, so a scorer
 * tuned on `tune` shops and measured on `holdout` shops is measured on fraud it was not built for (docs/fraud.md has
 * the table).
 */
interface FraudShapes {
  /** Countries fraudsters connect from or ship to, where (almost) no legitimate customer lives. */
  riskyCountries: readonly string[]
  /** Card testing: orders per burst, the gap between clicks (ms: min + exponential mean), and how often the bot
   * connects from one of the shop's ordinary countries rather than a risky one. */
  cardTestOrders: Range
  cardTestGapMinMs: number
  cardTestGapMeanMs: number
  cardTestOrdinaryShare: number
  /** Account takeover: basket as a multiple of the victim's mean order. */
  takeoverTimes: Range
  /** Slow fraud: days between the warm-up order and the big one, and the big one as a multiple of the shop's mean. */
  slowDays: Range
  slowTimes: Range
  /** Ring: brand-new accounts sharing one stolen card, all within this many days. */
  ringAccounts: Range
  ringDays: number
  /** Outsized first order: a multiple of the shop's mean order. */
  outsizedTimes: Range
  /** Chance that an order of the pattern is charged back (20-60 days later). */
  chargeback: Record<FraudPattern, number>
}

const FRAUD_SHAPES: Record<FraudVariant, FraudShapes> = {
  tune: {
    riskyCountries: ['NG', 'RU', 'BR', 'VN', 'ID', 'UA', 'RO', 'PH'],
    cardTestOrders: {min: 5, max: 20},
    cardTestGapMinMs: 500,
    cardTestGapMeanMs: 2000,
    cardTestOrdinaryShare: 0.6,
    takeoverTimes: {min: 4, max: 12},
    slowDays: {min: 1, max: 3},
    slowTimes: {min: 5, max: 10},
    ringAccounts: {min: 4, max: 8},
    ringDays: 7,
    outsizedTimes: {min: 8, max: 20},
    chargeback: {
      card_testing: 0.15,
      account_takeover: 0.8,
      slow_fraud: 0.85,
      ring: 0.75,
      friendly_fraud: 1,
      outsized_first_order: 0.8,
    },
  },
  holdout: {
    riskyCountries: ['PK', 'EG', 'KE', 'MA', 'CO', 'TR', 'BD', 'GH'],
    cardTestOrders: {min: 3, max: 25},
    cardTestGapMinMs: 4000,
    cardTestGapMeanMs: 15_000,
    cardTestOrdinaryShare: 0.7,
    takeoverTimes: {min: 3, max: 8},
    slowDays: {min: 1, max: 7},
    slowTimes: {min: 3, max: 6},
    ringAccounts: {min: 3, max: 10},
    ringDays: 10,
    outsizedTimes: {min: 5, max: 12},
    chargeback: {
      card_testing: 0.1,
      account_takeover: 0.7,
      slow_fraud: 0.8,
      ring: 0.7,
      friendly_fraud: 1,
      outsized_first_order: 0.75,
    },
  },
}

/** Orders one incident of a pattern places on average, so incidents can be drawn to make `fraudRate` of all orders. */
function meanOrders(pattern: FraudPattern, shapes: FraudShapes): number {
  const mid = (r: Range) => (r.min + r.max) / 2
  switch (pattern) {
    case 'card_testing':
      return mid(shapes.cardTestOrders)
    case 'slow_fraud':
      return 2
    case 'ring':
      return mid(shapes.ringAccounts) * 1.5
    default:
      return 1
  }
}

/** Seeds of the side streams (xor-ed into `--seed`): what they draw never moves the purchase process's draws. */
const HABITS_STREAM = 0x6a09e667
const FRAUD_STREAM = 0xbb67ae85
/** Recent card-paying customers a new household member may share a card with. */
const HOUSEHOLD_POOL = 1024

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
/** Why a customer sends an order back (a chargeback is the bank's doing, not one of these). */
const RETURN_REASONS = ['damaged', 'not_as_described', 'changed_mind', 'late_delivery'] as const
const DEVICES = ['mobile', 'desktop', 'tablet'] as const
const DEVICE_WEIGHTS = [55, 38, 7]
const PAYMENTS = ['card', 'paypal', 'apple_pay', 'gift_card'] as const
const PAYMENT_WEIGHTS = [68, 22, 8, 2]
type Device = (typeof DEVICES)[number]
type Payment = (typeof PAYMENTS)[number]

interface Customer {
  id: string
  /** Billing country. */
  country: string
  /** Where their sessions come from: the billing country, or another for customers who live or work abroad. */
  home: string
  device: Device
  payment: Payment
  card: string
  /** Cards they pay with, one picked per order: [card], or 2-3 for customers with several. */
  cards: string[]
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
    /** `rng`: the stream of the order's story, so a refund never moves another stream's draws. */
    | {kind: 'refund'; customer: Customer; order: PlacedOrder; chargeback: boolean; rng: Random}
    | {kind: 'fraud'; pattern: FraudPattern; victim: Customer}
    /** A later step of a legitimate burst or of a fraud incident (a ring member, slow fraud's big order). */
    | {kind: 'task'; run: (time: number) => void}
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
  labels?: (FraudLabel | undefined)[]
  customer: Customer | null
  index: number
}

/** Ground truth of a fraudulent order: its pattern, and the incident (ring, burst, account) it belongs to. */
export interface FraudLabel {
  pattern: FraudPattern
  /** All orders of one incident share it; numbered from 1 in the order incidents start. */
  incident: number
}

/** An event as the simulator hands it out, with its ground-truth fraud label kept beside it (never inside). */
export interface SimulatedEvent {
  event: ShopEvent
  fraud: FraudLabel | undefined
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
  /** The purchase process: acquisitions, visits, baskets. */
  private readonly random: Random
  /** Legitimate habits (gifts, abroad, cards, households, bursts), apart so they leave purchase times and amounts be. */
  private readonly habits: Random
  /** Fraud incidents, apart so the legitimate shop is the same whatever the fraud rate. */
  private readonly fraudRandom: Random
  private readonly shapes: FraudShapes
  private readonly patterns: readonly FraudPattern[]
  private readonly season: Seasonality
  private readonly agenda = new TimeHeap<AgendaItem>()
  private readonly pending = new TimeHeap<SessionBuffer>()
  private readonly countries = new WeightedPicker(COUNTRY_WEIGHTS)
  private readonly devices = new WeightedPicker(DEVICE_WEIGHTS)
  private readonly payments = new WeightedPicker(PAYMENT_WEIGHTS)
  private readonly fraudMix: WeightedPicker
  private readonly households: Customer[] = []
  private householdSeq = 0
  private incidentSeq = 0
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
    this.habits = new Random((options.seed ^ HABITS_STREAM) >>> 0)
    this.fraudRandom = new Random((options.seed ^ FRAUD_STREAM) >>> 0)
    this.shapes = FRAUD_SHAPES[options.fraudVariant]
    // Kept in the canonical order whatever order the flag listed them in, so the draws do not depend on it.
    this.patterns = FRAUD_PATTERNS.filter((p) => options.fraudPatterns.includes(p))
    this.fraudMix = new WeightedPicker(this.patterns.map((p) => FRAUD_SHARES[p]))
    this.catalogue = new Catalogue(options.products, options.seed)
    this.season = new Seasonality(startMs, options.seasonality)
    const periodEndMs = startMs + options.days * MS_PER_DAY
    this.endMs = openEnded ? Number.POSITIVE_INFINITY : periodEndMs
    this.lastAcquireOp = this.season.toOperational(startMs)
    this.acquisitionEndOp = this.season.toOperational(periodEndMs)
    this.customersToAcquire = options.customers
    this.idWidth = Math.max(6, String(options.customers * 2).length)
    this.anonymousRate = Math.max(options.customers * ANONYMOUS_SESSIONS_PER_CUSTOMER_DAY, 1e-9)
    const shareSum = this.patterns.reduce((sum, p) => sum + FRAUD_SHARES[p], 0)
    const ordersPerIncident = this.patterns.reduce(
      (sum, p) => sum + (FRAUD_SHARES[p] / shareSum) * meanOrders(p, this.shapes),
      0,
    )
    const f = options.fraudRate
    this.fraudIncidentChance = f <= 0 ? 0 : f / ((1 - f) * ordersPerIncident)

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
        this.refund(item.time, item.customer, item.order, item.chargeback, item.rng)
        return
      case 'fraud':
        this.fraudIncident(item.time, item.pattern, item.victim)
        return
      case 'task':
        item.run(item.time)
        return
    }
  }

  /** Runs `run` at `time` (if still inside the period), in time order with everything else. */
  private later(time: number, run: (time: number) => void): void {
    this.schedule({kind: 'task', run, time, seq: 0})
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

  /** A customer drawn from `rng`: the main stream for the shop's customers, the fraud stream for fraudsters' accounts. */
  private newCustomer(rng: Random, country?: string): Customer {
    const {bgnbd, gammaGamma} = this.options
    const n = ++this.stats.customersAcquired
    const lambda = rng.gamma(bgnbd.r, bgnbd.alpha)
    // Drawn in this order since the first version: keeping it keeps every seed's customers.
    const billing = country ?? this.ordinaryCountry(rng)
    const device = DEVICES[this.devices.pick(rng)] as Device
    const payment = PAYMENTS[this.payments.pick(rng)] as Payment
    const card = rng.hex(8)
    return {
      id: `c${String(n).padStart(this.idWidth, '0')}`,
      country: billing,
      home: billing,
      device,
      payment,
      card,
      cards: [card],
      lambda,
      dropout: rng.beta(bgnbd.a, bgnbd.b),
      nu: rng.gamma(gammaGamma.q, gammaGamma.gamma),
      browseRate: lambda * rng.gamma(2, 2 / BROWSE_SESSIONS_PER_PURCHASE),
      nextPurchaseOp: Number.POSITIVE_INFINITY,
      nextBrowseOp: Number.POSITIVE_INFINITY,
      seen: false,
    }
  }

  private ordinaryCountry(rng: Random): string {
    return COUNTRIES[this.countries.pick(rng)] as string
  }

  /** One of the shop's ordinary countries other than `country`. */
  private otherCountry(rng: Random, country: string): string {
    for (;;) {
      const other = this.ordinaryCountry(rng)
      if (other !== country) return other
    }
  }

  /** A new customer's first visit is their first purchase (BG/NBD's time zero). */
  private acquire(time: number): void {
    this.acquiredSoFar++
    this.scheduleAcquisition()
    const customer = this.newCustomer(this.random)
    this.giveHabits(customer)
    this.purchaseSession(time, customer)
    const op = this.season.toOperational(time)
    customer.nextPurchaseOp = op + this.random.exponential(customer.lambda)
    customer.nextBrowseOp = op + this.random.exponential(customer.browseRate)
    this.scheduleCustomer(customer)
  }

  /**
   * What makes a real customer look odd to a fraud scorer, drawn from the habits stream: a household member shares an
   * existing customer's card and country; others may live abroad or carry several cards.
   */
  private giveHabits(customer: Customer): void {
    const habits = this.habits
    const o = this.options
    const pool = this.households
    if (pool.length > 0 && habits.chance(o.householdRate)) {
      const host = pool[habits.int(pool.length)] as Customer
      customer.country = host.country
      customer.home = host.home
      customer.payment = 'card'
      customer.card = host.card
      customer.cards = [host.card]
      return
    }
    if (habits.chance(o.abroadRate)) customer.home = this.otherCountry(habits, customer.country)
    if (habits.chance(o.multiCardRate)) {
      const extra = 1 + habits.int(2)
      for (let i = 0; i < extra; i++) customer.cards.push(habits.hex(8))
    }
    if (customer.payment === 'card' || customer.payment === 'apple_pay') {
      // A bounded pool of recent card payers: memory stays flat however many customers the run acquires.
      pool[this.householdSeq++ % HOUSEHOLD_POOL] = customer
    }
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

  private openSession(
    start: number,
    customer: Customer | null,
    device: Device,
    ipCountry: string,
    rng: Random = this.random,
  ): SessionBuilder {
    this.stats.sessions++
    return new SessionBuilder(
      this,
      rng,
      start,
      customer,
      device,
      ipCountry,
      `s${(++this.sessionSeq).toString(36).padStart(8, '0')}`,
    )
  }

  /** Sessions usually come from the customer's own device and country, sometimes not (travel, a second device). */
  private customerSession(start: number, customer: Customer, rng: Random = this.random): SessionBuilder {
    const device = rng.chance(1 - this.options.newDeviceRate)
      ? customer.device
      : (DEVICES[this.devices.pick(rng)] as Device)
    const country = rng.chance(0.97) ? customer.home : this.ordinaryCountry(rng)
    return this.openSession(start, customer, device, country, rng)
  }

  private purchaseSession(start: number, customer: Customer): void {
    const s = this.customerSession(start, customer)
    const {p} = this.options.gammaGamma
    const targetCents = Math.max(99, Math.round(this.random.gamma(p, customer.nu) * 100))
    const items = this.fillBasket(targetCents, this.random)
    this.walkToCart(s, items, this.random)
    const order = this.legitOrder(s, customer, items)
    this.afterLegitOrder(s.now, customer, order, this.random)
    s.finish()
    if (this.options.burstRate > 0 && this.habits.chance(this.options.burstRate)) this.burst(s.now, customer)
  }

  /**
   * A legitimate order: billed to the customer's country, usually shipped there too (a gift goes elsewhere), paid
   * the customer's way with one of their cards. Habits come from their own stream.
   */
  private legitOrder(s: SessionBuilder, customer: Customer, items: LineItem[]): PlacedOrder {
    const habits = this.habits
    const shipping =
      this.options.giftRate > 0 && habits.chance(this.options.giftRate)
        ? this.otherCountry(habits, customer.country)
        : customer.country
    const payment = customer.payment
    const cards = customer.cards
    const card =
      payment === 'card' || payment === 'apple_pay'
        ? cards.length > 1
          ? (cards[habits.int(cards.length)] as string)
          : customer.card
        : null
    return this.placeOrder(s, items, customer.country, shipping, undefined, payment, card)
  }

  /** Forgot something: 1-4 more small orders from the same customer within the hour, each its own short visit. */
  private burst(after: number, customer: Customer): void {
    const habits = this.habits
    const extra = 1 + habits.int(4)
    let time = after
    for (let i = 0; i < extra; i++) {
      time += Math.floor((1 + habits.uniform() * (50 / extra)) * 60_000)
      this.later(time, (at) => {
        const s = this.customerSession(at, customer, habits)
        const product = this.catalogue.popular(habits)
        const items = [{product_id: product.id, quantity: 1, unit_price: product.price}]
        s.pageView('/cart')
        s.addToCart(product, 1)
        s.checkoutStarted(1, product.priceCents)
        const order = this.legitOrder(s, customer, items)
        this.afterLegitOrder(s.now, customer, order, habits)
        s.finish()
      })
    }
  }

  private browseSession(start: number, customer: Customer | null): void {
    const s = customer
      ? this.customerSession(start, customer)
      : this.openSession(
          start,
          null,
          DEVICES[this.devices.pick(this.random)] as Device,
          this.ordinaryCountry(this.random),
        )
    this.landing(s, this.random)
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

  private landing(s: SessionBuilder, rng: Random): void {
    if (rng.chance(FUNNEL.search)) {
      const product = this.catalogue.popular(rng)
      s.pageView('/')
      s.search(product.words, 1 + rng.int(120))
    } else {
      s.pageView(rng.chance(0.5) ? '/' : `/category/${rng.pick(this.catalogue.categories)}`)
    }
  }

  /** Views, carts and checkout for a known basket: what a buying session does before paying. */
  private walkToCart(s: SessionBuilder, items: LineItem[], rng: Random): void {
    this.landing(s, rng)
    let units = 0
    let cents = 0
    for (const line of items) {
      const product = this.productById(line.product_id)
      if (rng.chance(0.3)) s.productView(this.catalogue.popular(rng))
      s.productView(product)
      s.addToCart(product, line.quantity)
      units += line.quantity
      cents += product.priceCents * line.quantity
    }
    if (rng.chance(0.1)) {
      // Second thoughts: something goes in the cart and comes out again.
      const extra = this.catalogue.popular(rng)
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
  private fillBasket(targetCents: number, rng: Random): LineItem[] {
    const lines: LineItem[] = []
    let remaining = targetCents
    for (let tries = 0; tries < 24 && remaining > 0; tries++) {
      const product = this.catalogue.popular(rng)
      // Skip a product that would overshoot by more than a quarter of the shortfall, the first one too: the basket
      // stops at the first overshoot but keeps filling a shortfall, so a looser rule drifts above the target (a
      // first line exempt from it put small targets 3-6x over, and the mean order value ~20% above p*gamma/(q-1)).
      if (product.priceCents > 1.25 * remaining) continue
      const quantity = Math.min(5, Math.max(1, Math.round(remaining / product.priceCents / (1 + rng.int(3)))))
      const existing = lines.find((l) => l.product_id === product.id)
      if (existing) existing.quantity += quantity
      else lines.push({product_id: product.id, quantity, unit_price: product.price})
      remaining -= quantity * product.priceCents
      if (lines.length >= 8) break
    }
    if (lines.length === 0) {
      const cheap = this.catalogue.cheapest[rng.int(Math.min(20, this.catalogue.cheapest.length))] as Product
      lines.push({product_id: cheap.id, quantity: 1, unit_price: cheap.price})
    }
    return lines
  }

  private placeOrder(
    s: SessionBuilder,
    items: LineItem[],
    billing: string,
    shipping: string,
    fraud: FraudLabel | undefined,
    payment: Payment,
    card: string | null,
  ): PlacedOrder {
    let totalCents = 0
    for (const line of items) totalCents += Math.round(line.unit_price * 100) * line.quantity
    const orderId = `o${String(++this.orderSeq).padStart(9, '0')}`
    s.purchase(orderId, items, totalCents, payment, card, billing, shipping, fraud)
    return {orderId, items, totalCents}
  }

  /** A refund now and then (from `rng`, the stream the order came from), and the chance of a fraud incident. */
  private afterLegitOrder(time: number, customer: Customer, order: PlacedOrder, rng: Random): void {
    if (rng.chance(this.options.refundRate)) {
      // Whole milliseconds: event times are written with millisecond precision (isoTime).
      const delayMs = Math.floor((1 + rng.exponential(1 / 7)) * MS_PER_DAY)
      this.schedule({kind: 'refund', customer, order, chargeback: false, rng, time: time + delayMs, seq: 0})
    }
    const fr = this.fraudRandom
    if (this.fraudIncidentChance > 0 && fr.chance(this.fraudIncidentChance)) {
      const pattern = this.patterns[this.fraudMix.pick(fr)] as FraudPattern
      const delayMs = Math.floor(fr.exponential(1) * MS_PER_DAY)
      this.schedule({kind: 'fraud', pattern, victim: customer, time: time + delayMs, seq: 0})
    }
  }

  private refund(time: number, customer: Customer, order: PlacedOrder, chargeback: boolean, rng: Random): void {
    let cents = order.totalCents
    if (!chargeback && order.items.length > 1 && rng.chance(0.4)) {
      const line = rng.pick(order.items)
      cents = Math.round(line.unit_price * 100) * line.quantity
    }
    const reason = chargeback ? 'chargeback' : rng.pick(RETURN_REASONS)
    // Refunds are issued by the shop's back office: one-event sessions of their own, for the account that ordered.
    const s = this.openSession(time, customer, 'desktop', customer.country, rng)
    s.refund(order.orderId, cents, reason)
    s.finish()
  }

  // ---- fraud ----

  private fraudIncident(time: number, pattern: FraudPattern, victim: Customer): void {
    const label: FraudLabel = {pattern, incident: ++this.incidentSeq}
    switch (pattern) {
      case 'card_testing':
        this.cardTesting(time, label)
        return
      case 'account_takeover':
        this.accountTakeover(time, victim, label)
        return
      case 'slow_fraud':
        this.slowFraud(time, label)
        return
      case 'ring':
        this.ring(time, label)
        return
      case 'friendly_fraud':
        this.friendlyFraud(time, victim, label)
        return
      case 'outsized_first_order':
        this.outsizedFirstOrder(time, label)
        return
    }
  }

  private fraudAccount(country: string): Customer {
    this.stats.fraudAccounts++
    return this.newCustomer(this.fraudRandom, country)
  }

  private riskyCountry(): string {
    return this.fraudRandom.pick(this.shapes.riskyCountries)
  }

  private between(range: Range): number {
    return range.min + this.fraudRandom.uniform() * (range.max - range.min)
  }

  /** The shop's mean order value in cents (Gamma-Gamma: p·gamma/(q-1)). */
  private meanOrderCents(): number {
    const {p, q, gamma} = this.options.gammaGamma
    return ((p * gamma) / (q - 1)) * 100
  }

  /** An order value the account's own spend model would give: ordinary, nothing to see. */
  private ordinaryCents(account: Customer): number {
    return Math.max(99, Math.round(this.fraudRandom.gamma(this.options.gammaGamma.p, account.nu) * 100))
  }

  private fraudOrder(
    s: SessionBuilder,
    account: Customer,
    items: LineItem[],
    billing: string,
    shipping: string,
    label: FraudLabel,
    card: string,
  ): void {
    const order = this.placeOrder(s, items, billing, shipping, label, 'card', card)
    const fr = this.fraudRandom
    if (fr.chance(this.shapes.chargeback[label.pattern])) {
      const delayDays = 20 + fr.int(41)
      const time = s.now + delayDays * MS_PER_DAY
      this.schedule({kind: 'refund', customer: account, order, chargeback: true, rng: fr, time, seq: 0})
    }
  }

  /**
   * A bot checks stolen cards: one new account, a quick run of tiny orders, a new card each. It connects from one of
   * the shop's ordinary countries at least half the time, so countries alone do not give it away.
   */
  private cardTesting(time: number, label: FraudLabel): void {
    const fr = this.fraudRandom
    const shapes = this.shapes
    const country = fr.chance(shapes.cardTestOrdinaryShare) ? this.ordinaryCountry(fr) : this.riskyCountry()
    const account = this.fraudAccount(country)
    const s = this.openSession(time, account, 'desktop', country, fr)
    s.gapMinMs = shapes.cardTestGapMinMs
    s.gapMeanMs = shapes.cardTestGapMeanMs
    s.pageView('/')
    const orders = fr.intBetween(shapes.cardTestOrders.min, shapes.cardTestOrders.max)
    for (let i = 0; i < orders; i++) {
      const product = this.catalogue.cheapest[fr.int(Math.min(10, this.catalogue.cheapest.length))] as Product
      s.addToCart(product, 1)
      s.checkoutStarted(1, product.priceCents)
      const billing = fr.chance(0.5) ? country : this.ordinaryCountry(fr)
      const items = [{product_id: product.id, quantity: 1, unit_price: product.price}]
      this.fraudOrder(s, account, items, billing, country, label, fr.hex(8))
    }
    s.finish()
  }

  /** Someone else signs in to a real customer's account from a new country and device and buys big, shipped abroad. */
  private accountTakeover(time: number, victim: Customer, label: FraudLabel): void {
    const fr = this.fraudRandom
    const country = this.riskyCountry()
    const device = DEVICES.find((d) => d !== victim.device) as Device
    const s = this.openSession(time, victim, device, country, fr)
    s.pageView('/account')
    const times = this.between(this.shapes.takeoverTimes)
    const targetCents = Math.round((this.options.gammaGamma.p / victim.nu) * 100 * times)
    const items = this.expensiveBasket(targetCents)
    this.walkToCart(s, items, fr)
    this.fraudOrder(s, victim, items, victim.country, country, label, victim.card)
    s.finish()
  }

  /**
   * A new account earns a little trust with a normal first order, then comes back days later for a big one paid with
   * a card billed in another country than where it ships and connects from.
   */
  private slowFraud(time: number, label: FraudLabel): void {
    const fr = this.fraudRandom
    const country = this.ordinaryCountry(fr)
    const account = this.fraudAccount(country)
    const first = this.openSession(time, account, account.device, country, fr)
    const warmUp = this.fillBasket(this.ordinaryCents(account), fr)
    this.walkToCart(first, warmUp, fr)
    this.fraudOrder(first, account, warmUp, country, country, label, account.card)
    first.finish()
    const days = this.between(this.shapes.slowDays)
    this.later(first.now + Math.floor(days * MS_PER_DAY), (at) => {
      const s = this.openSession(at, account, account.device, country, fr)
      const items = this.expensiveBasket(Math.round(this.meanOrderCents() * this.between(this.shapes.slowTimes)))
      this.walkToCart(s, items, fr)
      this.fraudOrder(s, account, items, this.otherCountry(fr, country), country, label, fr.hex(8))
      s.finish()
    })
  }

  /**
   * One stolen card, many brand-new accounts: each signs up within days of the first, places one or two ordinary
   * orders with the card (billed where the card's owner lives), and most ship to the ring's drop country.
   */
  private ring(time: number, label: FraudLabel): void {
    const fr = this.fraudRandom
    const shapes = this.shapes
    const card = fr.hex(8)
    const cardCountry = this.ordinaryCountry(fr)
    const drop = fr.chance(0.5) ? this.riskyCountry() : this.ordinaryCountry(fr)
    const accounts = fr.intBetween(shapes.ringAccounts.min, shapes.ringAccounts.max)
    const windowMs = shapes.ringDays * MS_PER_DAY
    for (let i = 0; i < accounts; i++) {
      // The first account opens the incident; the others follow within the window.
      const start = time + (i === 0 ? 0 : Math.floor(fr.uniform() * windowMs * 0.9))
      this.later(start, (at) => {
        const home = fr.chance(0.7) ? this.ordinaryCountry(fr) : this.riskyCountry()
        const account = this.fraudAccount(home)
        const shipping = fr.chance(0.75) ? drop : home
        const orders = fr.chance(0.5) ? 2 : 1
        let t = at
        for (let k = 0; k < orders; k++) {
          const s = this.openSession(t, account, account.device, home, fr)
          const items = this.fillBasket(this.ordinaryCents(account), fr)
          this.walkToCart(s, items, fr)
          this.fraudOrder(s, account, items, cardCountry, shipping, label, card)
          s.finish()
          // A second order comes hours later, still well inside the ring's window.
          t = s.now + Math.floor((1 + fr.uniform() * 11) * 3_600_000)
        }
      })
    }
  }

  /** A real, established customer orders as usual, receives the goods, and disputes the charge anyway. */
  private friendlyFraud(time: number, victim: Customer, label: FraudLabel): void {
    const fr = this.fraudRandom
    const s = this.customerSession(time, victim, fr)
    const items = this.fillBasket(this.ordinaryCents(victim), fr)
    this.walkToCart(s, items, fr)
    this.fraudOrder(s, victim, items, victim.country, victim.country, label, victim.card)
    s.finish()
  }

  /** A brand-new account whose first order is far above the shop's norm, billed in one country and shipped to another. */
  private outsizedFirstOrder(time: number, label: FraudLabel): void {
    const fr = this.fraudRandom
    const billing = this.ordinaryCountry(fr)
    const shipping = this.riskyCountry()
    const account = this.fraudAccount(billing)
    const s = this.openSession(time, account, account.device, fr.chance(0.6) ? shipping : billing, fr)
    const items = this.expensiveBasket(Math.round(this.meanOrderCents() * this.between(this.shapes.outsizedTimes)))
    this.walkToCart(s, items, fr)
    this.fraudOrder(s, account, items, billing, shipping, label, fr.hex(8))
    s.finish()
  }

  /** Fraudsters go for the dear things: several units of the priciest products. */
  private expensiveBasket(targetCents: number): LineItem[] {
    const fr = this.fraudRandom
    const dear = this.catalogue.cheapest
    const lines: LineItem[] = []
    let remaining = targetCents
    while (remaining > 0 && lines.length < 4) {
      const product = dear[dear.length - 1 - fr.int(Math.min(25, dear.length))] as Product
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
  /** Gap between events: at least this, plus an exponential with this mean (bots click faster). */
  gapMinMs = 2000
  gapMeanMs = MEAN_EVENT_GAP_MS
  private readonly buffer: SessionBuffer
  private readonly customerId: string | null

  constructor(
    private readonly sim: ShopSimulator,
    /** The stream this session's times and ids are drawn from: the story it belongs to. */
    private readonly rng: Random,
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
    this.now += Math.floor(this.gapMinMs + this.rng.exponential(1 / this.gapMeanMs))
    return time
  }

  private add(event: ShopEvent, time: number, fraud?: FraudLabel): void {
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
      event_id: this.rng.uuid(),
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
      event_id: this.rng.uuid(),
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
      event_id: this.rng.uuid(),
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
      event_id: this.rng.uuid(),
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
      event_id: this.rng.uuid(),
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
    fraud: FraudLabel | undefined,
  ): void {
    const time = this.tick()
    const sim = this.sim
    const event: EventOf<'purchase'> = {
      schema_version: SCHEMA_VERSION,
      event_id: this.rng.uuid(),
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
      event_id: this.rng.uuid(),
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
