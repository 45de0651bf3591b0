#!/usr/bin/env node
// Injects fraud into a legitimate shop, written apart from ecap's simulator so the fraud benchmark can score patterns
// the rules and the simulator's own fraud were never shaped by: the way an outside check plants known fraud in a real
// shop. Only the event contract is shared. Each pattern follows its public description (card testing, account
// takeover, slow fraud, rings), with this file's own choices of sizes, pace, amounts and countries.
//
//   node bench/fraud-inject.js <legit.ndjson> <out.ndjson> <labels.ndjson> [--seed N] [--rate 0.015]
//
// <legit.ndjson> is a shop generated with --fraud-rate 0. <out.ndjson> gets the legitimate events followed by the
// injected ones (the lake does not need them in time order); <labels.ndjson> one line per fraud order with its
// pattern and incident. Chargebacks (refunds with reason chargeback) follow 25-75 days later for part of each
// pattern's orders, as a card network would send them. The last JSON line on stdout sums up what was injected.
import {createReadStream, createWriteStream} from 'node:fs'
import {createInterface} from 'node:readline'
import {mulberry32} from './prng.js'

const DAY = 86_400_000

function parseArgs(argv) {
  const [input, output, labels, ...rest] = argv
  if (!input || !output || !labels) {
    throw new Error(
      'usage: node bench/fraud-inject.js <legit.ndjson> <out.ndjson> <labels.ndjson> [--seed N] [--rate R]',
    )
  }
  const options = {input, output, labels, seed: 7, rate: 0.015}
  for (let i = 0; i < rest.length; i += 2) {
    const value = Number(rest[i + 1])
    if (rest[i] === '--seed') options.seed = value
    else if (rest[i] === '--rate') options.rate = value
    else throw new Error(`unknown option ${rest[i]}`)
  }
  return options
}

/** What the legitimate shop shows: its customers, countries, products, order values and period. */
async function survey(input) {
  const customers = new Map()
  const products = new Map()
  const billing = new Map()
  const totals = []
  let first = Number.POSITIVE_INFINITY
  let last = Number.NEGATIVE_INFINITY
  let currency = 'EUR'
  const lines = createInterface({input: createReadStream(input), crlfDelay: Number.POSITIVE_INFINITY})
  for await (const line of lines) {
    if (line === '') continue
    const e = JSON.parse(line)
    const t = Date.parse(e.event_time)
    if (t < first) first = t
    if (t > last) last = t
    if (e.event_type === 'product_view') {
      products.set(e.product_id, {id: e.product_id, price: e.unit_price, category: e.category})
      currency = e.currency
    }
    if (e.customer_id === null) continue
    let c = customers.get(e.customer_id)
    if (!c) {
      c = {id: e.customer_id, devices: new Set(), ips: new Set(), orders: [], country: null}
      customers.set(e.customer_id, c)
    }
    c.devices.add(e.device)
    c.ips.add(e.ip_country)
    if (e.event_type === 'purchase') {
      c.orders.push({time: t, total: e.total})
      c.country = e.billing_country
      if (e.card_fingerprint !== null) c.card = e.card_fingerprint
      billing.set(e.billing_country, (billing.get(e.billing_country) ?? 0) + 1)
      totals.push(e.total)
    }
  }
  totals.sort((a, b) => a - b)
  return {
    customers: [...customers.values()].filter((c) => c.orders.length > 0),
    products: [...products.values()].sort((a, b) => a.price - b.price || (a.id < b.id ? -1 : 1)),
    countries: [...billing.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)),
    medianTotal: totals[Math.floor(totals.length / 2)] ?? 30,
    meanTotal: totals.reduce((s, x) => s + x, 0) / Math.max(1, totals.length),
    orders: totals.length,
    first,
    last,
    currency,
  }
}

/** Builds contract-valid events for the injected incidents. */
class Injector {
  constructor(shop, seed) {
    this.shop = shop
    this.random = mulberry32(seed)
    this.events = []
    this.labels = []
    this.seq = 0
  }

  uniform(lo, hi) {
    return lo + (hi - lo) * this.random()
  }

  int(lo, hi) {
    return Math.floor(this.uniform(lo, hi + 1))
  }

  pick(list) {
    return list[Math.floor(this.random() * list.length)]
  }

  hex(n) {
    let s = ''
    for (let i = 0; i < n; i++) s += Math.floor(this.random() * 16).toString(16)
    return s
  }

  uuid() {
    const h = this.hex(32)
    const variant = '89ab'[Math.floor(this.random() * 4)]
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
  }

  /** A country of the shop's own mix, weighted by its orders: fraud from where the customers are. */
  ordinaryCountry() {
    const total = this.shop.countries.reduce((s, [, n]) => s + n, 0)
    let r = this.random() * total
    for (const [country, n] of this.shop.countries) {
      r -= n
      if (r < 0) return country
    }
    return this.shop.countries[0][0]
  }

  otherCountry(than) {
    const list = this.shop.countries.map(([c]) => c).filter((c) => !than.includes(c))
    return list.length > 0 ? this.pick(list) : 'MX'
  }

  /** Products adding up to about `target`, priced from the catalogue the shop shows. */
  basket(target, {dear = false} = {}) {
    const products = this.shop.products
    const items = []
    let total = 0
    for (let tries = 0; tries < 12 && total < target * 0.8; tries++) {
      const pool = dear ? products.slice(-40) : products
      const p = this.pick(pool)
      const quantity = Math.max(1, Math.min(4, Math.round((target - total) / p.price / 2)))
      if (items.some((i) => i.product_id === p.id)) continue
      items.push({product_id: p.id, quantity, unit_price: p.price})
      total += quantity * p.price
    }
    if (items.length === 0) {
      const p = products[0]
      items.push({product_id: p.id, quantity: 1, unit_price: p.price})
    }
    return items
  }

  session(customer, device, ip) {
    return {customer, device, ip, id: `inj${(++this.seq).toString(36)}`}
  }

  event(s, time, type, fields) {
    this.events.push({
      schema_version: 1,
      event_id: this.uuid(),
      event_type: type,
      event_time: new Date(Math.floor(time)).toISOString(),
      customer_id: s.customer,
      session_id: s.id,
      device: s.device,
      ip_country: s.ip,
      ...fields,
    })
  }

  /** A person's visit: a few pages over minutes, the cart, the checkout, the order. Returns the order's time. */
  browseAndBuy(s, start, items, order) {
    let t = start
    this.event(s, t, 'page_view', {page: '/'})
    for (const line of items) {
      const p = this.shop.products.find((x) => x.id === line.product_id)
      t += this.uniform(20_000, 90_000)
      this.event(s, t, 'product_view', {
        product_id: p.id,
        category: p.category,
        unit_price: p.price,
        currency: this.shop.currency,
      })
      t += this.uniform(10_000, 40_000)
      this.event(s, t, 'add_to_cart', {
        product_id: p.id,
        quantity: line.quantity,
        unit_price: p.price,
        currency: this.shop.currency,
      })
    }
    t += this.uniform(15_000, 60_000)
    return this.checkout(s, t, items, order)
  }

  checkout(s, time, items, {card, billing, shipping, pattern, incident, chargeback}) {
    const cents = items.reduce((sum, l) => sum + Math.round(l.unit_price * 100) * l.quantity, 0)
    const units = items.reduce((sum, l) => sum + l.quantity, 0)
    this.event(s, time, 'checkout_started', {item_count: units, total: cents / 100, currency: this.shop.currency})
    const orderTime = time + this.uniform(8_000, 40_000)
    const orderId = `x${String(++this.seq).padStart(9, '0')}`
    this.event(s, orderTime, 'purchase', {
      order_id: orderId,
      items,
      total: cents / 100,
      currency: this.shop.currency,
      payment_method: 'card',
      card_fingerprint: card,
      billing_country: billing,
      shipping_country: shipping,
    })
    this.labels.push({order_id: orderId, pattern, incident})
    // Only chargebacks that have arrived by the legitimate shop's last event: a later one would stretch the history
    // past it and hand --learn the disputes a real shop would still be waiting for.
    const chargebackAt = orderTime + this.uniform(25, 75) * DAY
    if (this.random() < chargeback && chargebackAt <= this.shop.last) {
      const back = {customer: s.customer, device: 'desktop', ip: billing, id: `inj${(++this.seq).toString(36)}`}
      this.event(back, chargebackAt, 'refund', {
        order_id: orderId,
        amount: cents / 100,
        currency: this.shop.currency,
        reason: 'chargeback',
      })
    }
    return orderTime
  }

  newAccount(kind) {
    return `z${kind}${(++this.seq).toString(36)}`
  }

  // ---- the patterns ----

  /** One new account, 5-20 tiny orders a minute or two apart, a new card each, from an ordinary country. */
  cardTesting(time, incident) {
    const country = this.ordinaryCountry()
    const s = this.session(this.newAccount('ct'), this.pick(['desktop', 'mobile']), country)
    let t = time
    this.event(s, t, 'page_view', {page: '/'})
    const cheap = this.shop.products.slice(0, 15)
    const orders = this.int(5, 20)
    for (let i = 0; i < orders; i++) {
      const p = this.pick(cheap)
      t += this.uniform(30_000, 120_000)
      this.event(s, t, 'add_to_cart', {
        product_id: p.id,
        quantity: 1,
        unit_price: p.price,
        currency: this.shop.currency,
      })
      t = this.checkout(s, t + this.uniform(5_000, 20_000), [{product_id: p.id, quantity: 1, unit_price: p.price}], {
        card: this.hex(16),
        billing: country,
        shipping: country,
        pattern: 'card_testing',
        incident,
        chargeback: 0.25,
      })
    }
    return orders
  }

  /** A known customer's account, a device and country never seen for them, a big basket shipped elsewhere. */
  accountTakeover(time, incident) {
    const candidates = this.shop.customers.filter((c) => c.orders[0].time < time - 3 * DAY)
    if (candidates.length === 0) return 0
    const victim = this.pick(candidates)
    const devices = ['desktop', 'mobile', 'tablet'].filter((d) => !victim.devices.has(d))
    const ip = this.otherCountry([...victim.ips])
    const s = this.session(victim.id, devices.length > 0 ? this.pick(devices) : 'desktop', ip)
    const mean = victim.orders.reduce((sum, o) => sum + o.total, 0) / victim.orders.length
    const items = this.basket(mean * this.uniform(5, 10), {dear: true})
    // Half the time with the card the account has on file, half with a stolen one added to it.
    this.browseAndBuy(s, time, items, {
      card: victim.card && this.random() < 0.5 ? victim.card : this.hex(16),
      billing: victim.country,
      shipping: this.otherCountry([victim.country]),
      pattern: 'account_takeover',
      incident,
      chargeback: 0.8,
    })
    return 1
  }

  /** A new account's ordinary first order, then two days later a large one billed to another country. */
  slowFraud(time, incident) {
    const country = this.ordinaryCountry()
    const account = this.newAccount('sf')
    const card = this.hex(16)
    const device = this.pick(['desktop', 'mobile'])
    this.browseAndBuy(this.session(account, device, country), time, this.basket(this.shop.medianTotal), {
      card,
      billing: country,
      shipping: country,
      pattern: 'slow_fraud',
      incident,
      chargeback: 0.8,
    })
    const later = time + 2 * DAY + this.uniform(-6, 6) * 3_600_000
    this.browseAndBuy(
      this.session(account, device, country),
      later,
      this.basket(this.shop.meanTotal * this.uniform(4, 8), {dear: true}),
      {
        card,
        billing: this.otherCountry([country]),
        shipping: country,
        pattern: 'slow_fraud',
        incident,
        chargeback: 0.8,
      },
    )
    return 2
  }

  /** One stolen card, 4-8 accounts opened within a week, one ordinary order each, shipped to one country. */
  ring(time, incident) {
    const card = this.hex(16)
    const country = this.ordinaryCountry()
    const members = this.int(4, 8)
    for (let i = 0; i < members; i++) {
      const start = time + this.uniform(0, 7 * DAY)
      const s = this.session(this.newAccount('rg'), this.pick(['desktop', 'mobile', 'tablet']), country)
      this.browseAndBuy(s, start, this.basket(this.shop.medianTotal * this.uniform(0.6, 1.6)), {
        card,
        billing: country,
        shipping: country,
        pattern: 'ring',
        incident,
        chargeback: 0.7,
      })
    }
    return members
  }
}

const PATTERNS = ['card_testing', 'account_takeover', 'slow_fraud', 'ring']

export async function inject({input, output, labels, seed, rate}) {
  const shop = await survey(input)
  const injector = new Injector(shop, seed)
  const target = Math.round((rate * shop.orders) / (1 - rate))
  const from = shop.first + 14 * DAY
  const to = shop.last - 8 * DAY
  const placed = Object.fromEntries(PATTERNS.map((p) => [p, {orders: 0, incidents: 0}]))
  // Equal shares of fraud orders per pattern; incidents at uniform times after the shop's first two weeks.
  for (const pattern of PATTERNS) {
    let n = 0
    while (placed[pattern].orders < target / PATTERNS.length) {
      const incident = `${pattern}-${++n}`
      const time = injector.uniform(from, to)
      const orders =
        pattern === 'card_testing'
          ? injector.cardTesting(time, incident)
          : pattern === 'account_takeover'
            ? injector.accountTakeover(time, incident)
            : pattern === 'slow_fraud'
              ? injector.slowFraud(time, incident)
              : injector.ring(time, incident)
      placed[pattern].orders += orders
      placed[pattern].incidents += orders > 0 ? 1 : 0
      if (n > 100_000) break
    }
  }
  const out = createWriteStream(output)
  const copy = createReadStream(input)
  await new Promise((resolve, reject) => {
    copy.on('error', reject)
    copy.on('end', resolve)
    copy.pipe(out, {end: false})
  })
  for (const e of injector.events) out.write(`${JSON.stringify(e)}\n`)
  await new Promise((resolve) => out.end(resolve))
  const labelsOut = createWriteStream(labels)
  for (const l of injector.labels) labelsOut.write(`${JSON.stringify(l)}\n`)
  await new Promise((resolve) => labelsOut.end(resolve))
  return {legitOrders: shop.orders, fraudOrders: injector.labels.length, patterns: placed}
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const summary = await inject(parseArgs(process.argv.slice(2)))
  console.log(JSON.stringify(summary))
}
