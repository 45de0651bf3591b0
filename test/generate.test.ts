import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EcapError} from '../src/lib/errors.js'
import {
  COMMON_FIELDS,
  EVENT_TYPE_NAMES,
  EVENT_TYPES,
  type PurchaseEvent,
  parseEventLine,
  type ShopEvent,
  serializeEvent,
} from '../src/lib/events/index.js'
import {
  FRAUD_PATTERNS,
  FUNNEL,
  GENERATE_DEFAULTS,
  type GenerateOptions,
  type GenerateResult,
  generateShop,
  NdjsonSink,
  ShopSimulator,
  type SimulatedEvent,
  validateGenerateOptions,
} from '../src/lib/generate/index.js'
import {type BgNbd, expectedRepeats, hyp2f1, probabilityOfNoRepeat} from './helpers/bgnbd.js'

const MS_PER_DAY = 86_400_000

const tempDirs: string[] = []

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecap-generate-'))
  tempDirs.push(dir)
  return dir
}

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, {recursive: true, force: true})))
})

/** A small shop: the defaults with fewer customers and days, and whatever the test overrides. */
function shop(overrides: Partial<GenerateOptions> = {}): GenerateOptions {
  return {...GENERATE_DEFAULTS, customers: 2000, days: 180, ...overrides}
}

interface Generated {
  dir: string
  eventsPath: string
  labelsPath: string
  truthPath: string
  result: GenerateResult
}

/** Runs generateShop into a fresh temp dir, with labels and truth files beside the events. */
async function generateInto(options: GenerateOptions): Promise<Generated> {
  const dir = await tempDir()
  const eventsPath = join(dir, 'events.ndjson')
  const labelsPath = join(dir, 'labels.ndjson')
  const truthPath = join(dir, 'truth.json')
  const result = await generateShop(options, {events: NdjsonSink.toFile(eventsPath), labelsPath, truthPath})
  return {dir, eventsPath, labelsPath, truthPath, result}
}

async function readLines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8')
  expect(text === '' || text.endsWith('\n'), `${path} ends without a newline`).toBe(true)
  return text === '' ? [] : text.slice(0, -1).split('\n')
}

interface Label {
  order_id: string
  event_id: string
  event_time: string
  customer_id: string
  pattern: string
}

/** Pulls every event of a simulated shop, with its label, without writing a file. */
function simulate(options: GenerateOptions): SimulatedEvent[] {
  const {startMs} = validateGenerateOptions(options)
  const sim = new ShopSimulator({...options, customers: options.customers ?? 0}, startMs)
  const out: SimulatedEvent[] = []
  for (let next = sim.next(); next; next = sim.next()) out.push(next)
  return out
}

describe('generateShop determinism', () => {
  it('gives byte-identical events, labels and truth for the same seed, and other bytes for another seed', async () => {
    const options = shop({customers: 500, days: 60, seed: 7, fraudRate: 0.05})
    const first = await generateInto(options)
    const again = await generateInto(options)
    const other = await generateInto({...options, seed: 8})

    const bytes = async (g: Generated) => ({
      events: await readFile(g.eventsPath),
      labels: await readFile(g.labelsPath),
      truth: await readFile(g.truthPath),
    })
    const [a, b, c] = await Promise.all([bytes(first), bytes(again), bytes(other)])
    expect(a.events.length).toBeGreaterThan(10_000)
    expect(a.labels.length, 'a 5% fraud rate should label some orders').toBeGreaterThan(0)
    expect(a.events.equals(b.events)).toBe(true)
    expect(a.labels.equals(b.labels)).toBe(true)
    expect(a.truth.equals(b.truth)).toBe(true)
    expect(a.events.equals(c.events)).toBe(false)
    expect(a.labels.equals(c.labels)).toBe(false)
    expect(JSON.parse(c.truth.toString('utf8')).seed).toBe(8)
  })

  it('writes the true parameters of the run to --truth', async () => {
    const bgnbd = {r: 1.2, alpha: 20, a: 2.5, b: 4}
    const gammaGamma = {p: 5, q: 3, gamma: 12}
    const g = await generateInto(shop({customers: 50, days: 10, seed: 3, bgnbd, gammaGamma}))
    expect(JSON.parse(await readFile(g.truthPath, 'utf8'))).toMatchObject({
      generator: 'ecap generate',
      seed: 3,
      start: GENERATE_DEFAULTS.start,
      days: 10,
      customers: 50,
      time_unit: 'day',
      bgnbd,
      gamma_gamma: gammaGamma,
    })
  })
})

describe('a generated shop', () => {
  // One mid-sized shop shared by the tests below: big enough for rates to settle, small enough to stay fast.
  const FRAUD_RATE = 0.05
  let generated: Generated
  let lines: string[]
  let events: ShopEvent[]
  let labels: Label[]

  beforeAll(async () => {
    generated = await generateInto(shop({customers: 4000, seed: 11, fraudRate: FRAUD_RATE}))
    lines = await readLines(generated.eventsPath)
    events = lines.map((line) => JSON.parse(line) as ShopEvent)
    labels = (await readLines(generated.labelsPath)).map((line) => JSON.parse(line) as Label)
  })

  it('holds only events that validate against the contract, serialised as JSON.stringify would', () => {
    expect(lines.length).toBeGreaterThan(100_000)
    const invalid: string[] = []
    const reserialised: string[] = []
    for (const [i, line] of lines.entries()) {
      const result = parseEventLine(line)
      if (!result.ok) invalid.push(`line ${i + 1}: ${result.reason}`)
      else if (serializeEvent(result.event) !== JSON.stringify(result.event) || line !== JSON.stringify(result.event))
        reserialised.push(`line ${i + 1}`)
      if (invalid.length + reserialised.length >= 5) break
    }
    expect(invalid).toEqual([])
    expect(reserialised).toEqual([])
  })

  it('carries exactly the fields of each event type, so labels never leak into events', () => {
    const expected = Object.fromEntries(
      EVENT_TYPE_NAMES.map((type) => [type, [...Object.keys(COMMON_FIELDS), ...Object.keys(EVENT_TYPES[type].fields)]]),
    )
    const wrong = events.filter((e) => Object.keys(e).join() !== expected[e.event_type]?.join())
    expect(wrong.slice(0, 3)).toEqual([])
    expect(lines.filter((line) => /fraud|card_testing|account_takeover|outsized_first_order/.test(line))).toEqual([])
  })

  it('is sorted by event_time, with unique event_ids, and has every event type', () => {
    const unsorted = events.findIndex((e, i) => i > 0 && e.event_time < (events[i - 1] as ShopEvent).event_time)
    expect(unsorted).toBe(-1)
    expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length)
    expect(new Set(events.map((e) => e.event_type))).toEqual(new Set(EVENT_TYPE_NAMES))
    const start = Date.parse(`${GENERATE_DEFAULTS.start}T00:00:00Z`)
    expect(Date.parse((events[0] as ShopEvent).event_time)).toBeGreaterThanOrEqual(start)
  })

  it('reports a summary that matches the file', () => {
    const {result} = generated
    expect(result.events).toBe(lines.length)
    for (const type of EVENT_TYPE_NAMES) {
      expect(result.eventsByType[type], type).toBe(events.filter((e) => e.event_type === type).length)
    }
    expect(result.orders).toBe(result.eventsByType.purchase)
    expect(result.fraudOrders).toBe(labels.length)
    expect(result.firstEventTime).toBe(events[0]?.event_time)
    expect(result.lastEventTime).toBe(events.at(-1)?.event_time)
    const revenueCents = events
      .filter((e): e is PurchaseEvent => e.event_type === 'purchase')
      .reduce((sum, e) => sum + Math.round(e.total * 100), 0)
    expect(result.revenue).toBe(revenueCents / 100)
  })

  it('prices each order as the sum of its lines, as the checkout before it said', () => {
    const lastCheckout = new Map<string, number>()
    const problems: string[] = []
    for (const e of events) {
      if (e.event_type === 'checkout_started') lastCheckout.set(e.session_id, Math.round(e.total * 100))
      if (e.event_type !== 'purchase') continue
      const linesCents = e.items.reduce((sum, l) => sum + Math.round(l.unit_price * 100) * l.quantity, 0)
      if (linesCents !== Math.round(e.total * 100)) problems.push(`${e.order_id}: lines ${linesCents} != total`)
      if (lastCheckout.get(e.session_id) !== linesCents) problems.push(`${e.order_id}: no matching checkout`)
    }
    expect(problems.slice(0, 5)).toEqual([])
  })

  it('walks the funnel: fewer sessions reach each step, and browsing follows FUNNEL', () => {
    const steps = ['page_view', 'product_view', 'add_to_cart', 'checkout_started', 'purchase'] as const
    const sessions = new Map<string, {anonymous: boolean; types: Set<string>}>()
    for (const e of events) {
      let s = sessions.get(e.session_id)
      if (!s) {
        s = {anonymous: e.customer_id === null, types: new Set()}
        sessions.set(e.session_id, s)
      }
      s.types.add(e.event_type)
    }
    const reached = steps.map((step) => [...sessions.values()].filter((s) => s.types.has(step)).length)
    for (let i = 1; i < steps.length; i++) {
      expect(reached[i], `${steps[i]} sessions vs ${steps[i - 1]}`).toBeLessThanOrEqual(reached[i - 1] as number)
    }
    expect(reached[4]).toBeGreaterThan(0)

    // Anonymous visitors (customer_id null) only browse: their sessions show the browsing funnel on its own.
    const anonymous = [...sessions.values()].filter((s) => s.anonymous)
    expect(anonymous.length).toBeGreaterThan(5000)
    expect(anonymous.filter((s) => s.types.has('purchase') || s.types.has('refund'))).toEqual([])
    const viewed = anonymous.filter((s) => s.types.has('product_view'))
    const carted = viewed.filter((s) => s.types.has('add_to_cart'))
    const checkedOut = carted.filter((s) => s.types.has('checkout_started'))
    const searched = anonymous.filter((s) => s.types.has('search'))
    expect(Math.abs(viewed.length / anonymous.length - FUNNEL.productView)).toBeLessThan(0.03)
    expect(Math.abs(carted.length / viewed.length - FUNNEL.addToCart)).toBeLessThan(0.04)
    expect(Math.abs(checkedOut.length / carted.length - FUNNEL.checkout)).toBeLessThan(0.05)
    expect(Math.abs(searched.length / anonymous.length - FUNNEL.search)).toBeLessThan(0.03)
  })

  it('labels about --fraud-rate of the orders as fraud, in all three patterns, each a real purchase', () => {
    const purchases = new Map(
      events.filter((e): e is PurchaseEvent => e.event_type === 'purchase').map((e) => [e.order_id, e]),
    )
    expect(purchases.size).toBeGreaterThan(5000)
    const share = labels.length / purchases.size
    expect(Math.abs(share - FRAUD_RATE), `fraud share ${share}`).toBeLessThan(0.015)
    expect(new Set(labels.map((l) => l.pattern))).toEqual(new Set(FRAUD_PATTERNS))
    expect(new Set(labels.map((l) => l.order_id)).size).toBe(labels.length)
    const mismatched = labels.filter((label) => {
      const purchase = purchases.get(label.order_id)
      return (
        !purchase ||
        purchase.event_id !== label.event_id ||
        purchase.event_time !== label.event_time ||
        purchase.customer_id !== label.customer_id
      )
    })
    expect(mismatched.slice(0, 3)).toEqual([])
  })

  it('refunds only orders purchased earlier, by the same customer, for at most the order total', () => {
    const purchases = new Map<string, PurchaseEvent>()
    const refunded = new Set<string>()
    const problems: string[] = []
    let refunds = 0
    for (const e of events) {
      if (e.event_type === 'purchase') purchases.set(e.order_id, e)
      if (e.event_type !== 'refund') continue
      refunds++
      const order = purchases.get(e.order_id)
      if (!order) problems.push(`${e.order_id}: refunded before (or without) a purchase`)
      else {
        if (order.event_time >= e.event_time) problems.push(`${e.order_id}: refund not after the purchase`)
        if (order.customer_id !== e.customer_id) problems.push(`${e.order_id}: refunded to another customer`)
        if (e.amount > order.total) problems.push(`${e.order_id}: refund ${e.amount} > total ${order.total}`)
      }
      if (refunded.has(e.order_id)) problems.push(`${e.order_id}: refunded twice`)
      refunded.add(e.order_id)
    }
    expect(problems.slice(0, 5)).toEqual([])
    expect(refunds).toBeGreaterThan(0)
    // Refunds of legitimate orders follow --refund-rate (5%); chargebacks of fraud orders come on top.
    expect(refunds / purchases.size).toBeGreaterThan(0.03)
    expect(refunds / purchases.size).toBeLessThan(0.1)
  })
})

describe('generateShop with --events', () => {
  it('writes exactly N events, sized from a pilot run', async () => {
    const dir = await tempDir()
    const path = join(dir, 'events.ndjson')
    const options = shop({customers: undefined, events: 25_000, seed: 5})
    const result = await generateShop(options, {events: NdjsonSink.toFile(path)})
    expect(result.events).toBe(25_000)
    const lines = await readLines(path)
    expect(lines).toHaveLength(25_000)
    expect(parseEventLine(lines.at(-1) as string).ok).toBe(true)
  })
})

describe('generateShop failures', () => {
  it.each<[string, Partial<GenerateOptions>]>([
    ['a fraud rate above 0.5', {fraudRate: 2}],
    ['a start date that does not exist', {start: '2026-13-45'}],
    ['February 30th', {start: '2026-02-30'}],
    ['a period before 2000, outside the contract', {start: '1999-12-01'}],
    ['a period reaching 2100, outside the contract', {start: '2099-12-01', days: 30}],
    ['spend q at most 1', {gammaGamma: {p: 6, q: 0.5, gamma: 25}}],
    ['a non-positive BG/NBD parameter', {bgnbd: {r: 0.9, alpha: 0, a: 0.8, b: 2.4}}],
    ['a lowercase currency', {currency: 'eur'}],
    ['a gift rate above 1', {giftRate: 1.5}],
    ['a negative abroad rate', {abroadRate: -0.1}],
    ['a multi-card rate that is not a number', {multiCardRate: Number.NaN}],
    ['a household rate above 1', {householdRate: 2}],
    ['a burst rate above 1', {burstRate: 1.01}],
    ['a negative new-device rate', {newDeviceRate: -1}],
    ['an unknown fraud pattern', {fraudPatterns: ['ring', 'phishing' as never]}],
    ['no fraud pattern at all', {fraudPatterns: []}],
    ['an unknown fraud variant', {fraudVariant: 'train' as never}],
  ])('rejects %s as a usage error and leaves no file behind', async (_name, overrides) => {
    const dir = await tempDir()
    const outputs = {
      events: NdjsonSink.toFile(join(dir, 'events.ndjson')),
      labelsPath: join(dir, 'labels.ndjson'),
      truthPath: join(dir, 'truth.json'),
    }
    const error = await generateShop(shop({customers: 20, days: 5, ...overrides}), outputs).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(EcapError)
    expect(error).toMatchObject({code: 'INVALID_GENERATE_OPTION', exitCode: 2})
    expect((error as EcapError).hints.length).toBeGreaterThan(0)
    expect(await readdir(dir)).toEqual([])
  })

  it('stops on an aborted signal, throwing its reason and removing every file', async () => {
    const dir = await tempDir()
    const controller = new AbortController()
    const reason = new Error('stop')
    controller.abort(reason)
    const run = generateShop(
      shop({customers: 200, days: 30}),
      {events: NdjsonSink.toFile(join(dir, 'events.ndjson')), labelsPath: join(dir, 'labels.ndjson')},
      {signal: controller.signal},
    )
    await expect(run).rejects.toBe(reason)
    expect(await readdir(dir)).toEqual([])
  })
})

describe('the BG/NBD helper', () => {
  it('sums 2F1 to known closed forms', () => {
    for (const z of [0.1, 0.5, 0.9]) {
      expect(hyp2f1(1, 1, 2, z)).toBeCloseTo(-Math.log(1 - z) / z, 10)
      expect(hyp2f1(0.5, 1, 1, z)).toBeCloseTo((1 - z) ** -0.5, 10)
    }
  })

  it('expects r/alpha * t repeat purchases over a short time', () => {
    const params = {r: 0.9, alpha: 30, a: 2.5, b: 4}
    expect(expectedRepeats(params, 0.01) / 0.01).toBeCloseTo(params.r / params.alpha, 4)
  })
})

describe('the simulated purchase process', () => {
  // --no-seasonality makes operational time calendar time, and --fraud-rate 0 leaves only BG/NBD customers.
  it.each<[string, BgNbd]>([
    ['a > 1', {r: 0.9, alpha: 30, a: 2.5, b: 4}],
    ['the defaults (a < 1)', GENERATE_DEFAULTS.bgnbd],
  ])('has the repeat purchases BG/NBD predicts, with %s', (_name, bgnbd) => {
    const days = 180
    const options = shop({customers: 5000, days, seed: 21, seasonality: false, fraudRate: 0, bgnbd})
    const endMs = Date.parse(`${options.start}T00:00:00Z`) + days * MS_PER_DAY
    const customers = new Map<string, {first: number; purchases: number}>()
    for (const {event} of simulate(options)) {
      if (event.event_type !== 'purchase' || event.customer_id === null) continue
      const c = customers.get(event.customer_id)
      if (c) c.purchases++
      else customers.set(event.customer_id, {first: Date.parse(event.event_time), purchases: 1})
    }
    expect(customers.size).toBe(5000)
    let repeats = 0
    let expected = 0
    let none = 0
    let expectedNone = 0
    for (const c of customers.values()) {
      const t = (endMs - c.first) / MS_PER_DAY
      repeats += c.purchases - 1
      expected += expectedRepeats(bgnbd, t)
      if (c.purchases === 1) none++
      expectedNone += probabilityOfNoRepeat(bgnbd, t)
    }
    const n = customers.size
    expect(Math.abs(repeats / expected - 1), `mean repeats ${repeats / n} vs ${expected / n}`).toBeLessThan(0.07)
    expect(Math.abs(none / n - expectedNone / n), `no-repeat share ${none / n} vs ${expectedNone / n}`).toBeLessThan(
      0.03,
    )
  })

  it.each([
    {p: 6, q: 4, gamma: 25},
    {p: 3, q: 6, gamma: 25},
    {p: 10, q: 5, gamma: 40},
  ])('fills legitimate orders to the Gamma-Gamma mean p*gamma/(q-1), with %o', (gammaGamma) => {
    const totals = simulate(shop({customers: 3000, seed: 4, fraudRate: 0, gammaGamma}))
      .map(({event}) => event)
      .filter((e): e is PurchaseEvent => e.event_type === 'purchase')
      .map((e) => e.total)
    const mean = totals.reduce((a, b) => a + b, 0) / totals.length
    const model = (gammaGamma.p * gammaGamma.gamma) / (gammaGamma.q - 1)
    expect(Math.abs(mean / model - 1), `mean order ${mean.toFixed(2)} vs ${model.toFixed(2)}`).toBeLessThan(0.1)
  })
})
