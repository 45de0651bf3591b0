import {readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
// @ts-expect-error: a benchmark script in plain JavaScript, without types.
import {inject} from '../bench/fraud-inject.js'
import {parseEventLine} from '../src/lib/events/validate.js'
import {GENERATE_DEFAULTS, generateShop, NdjsonSink} from '../src/lib/generate/index.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecap-fraud-inject-'))
})
afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

// The fraud benchmark scores shops with fraud planted by bench/fraud-inject.js: its events must be what ingest would
// accept, and its labels must name exactly the planted orders with the shapes the patterns describe.
describe('bench/fraud-inject.js', () => {
  it('plants contract-valid events, labels exactly its own orders, and gives each pattern its shape', async () => {
    const legit = join(dir, 'legit.ndjson')
    await generateShop(
      {...GENERATE_DEFAULTS, seed: 5, customers: 800, days: 60, fraudRate: 0},
      {events: NdjsonSink.toFile(legit)},
    )
    const out = join(dir, 'all.ndjson')
    const labelsFile = join(dir, 'labels.ndjson')
    const summary = await inject({input: legit, output: out, labels: labelsFile, seed: 3, rate: 0.05})
    const legitLines = readFileSync(legit, 'utf8').trim().split('\n')
    const lines = readFileSync(out, 'utf8').trim().split('\n')
    const injected = lines.slice(legitLines.length).map((line) => {
      const verdict = parseEventLine(line)
      expect(verdict.ok, `${line}\n${JSON.stringify(verdict)}`).toBe(true)
      return JSON.parse(line)
    })
    expect(lines.slice(0, legitLines.length)).toEqual(legitLines)
    const labels = readFileSync(labelsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as {order_id: string; pattern: string; incident: string})
    const purchases = injected.filter((e) => e.event_type === 'purchase')
    expect(new Set(labels.map((l) => l.order_id))).toEqual(new Set(purchases.map((e) => e.order_id)))
    expect(new Set(labels.map((l) => l.pattern))).toEqual(
      new Set(['card_testing', 'account_takeover', 'slow_fraud', 'ring']),
    )
    expect(summary.fraudOrders).toBe(labels.length)
    // Refunds only as chargebacks of planted orders.
    const planted = new Set(labels.map((l) => l.order_id))
    for (const e of injected.filter((x) => x.event_type === 'refund')) {
      expect(e.reason).toBe('chargeback')
      expect(planted.has(e.order_id)).toBe(true)
    }
    const byIncident = new Map<string, typeof purchases>()
    const patternOf = new Map(labels.map((l) => [l.order_id, l]))
    for (const p of purchases) {
      const incident = patternOf.get(p.order_id)?.incident as string
      byIncident.set(incident, [...(byIncident.get(incident) ?? []), p])
    }
    for (const [incident, orders] of byIncident) {
      const pattern = patternOf.get(orders[0].order_id)?.pattern
      const customers = new Set(orders.map((o) => o.customer_id))
      const cards = new Set(orders.map((o) => o.card_fingerprint))
      const span =
        Math.max(...orders.map((o) => Date.parse(o.event_time))) -
        Math.min(...orders.map((o) => Date.parse(o.event_time)))
      if (pattern === 'ring') {
        // One card, 4-8 accounts, within a week.
        expect(cards.size, incident).toBe(1)
        expect(customers.size, incident).toBeGreaterThanOrEqual(4)
        expect(customers.size, incident).toBeLessThanOrEqual(8)
        expect(span, incident).toBeLessThan(8 * 86_400_000)
      } else if (pattern === 'card_testing') {
        // One account, a new card per order, within the hour.
        expect(customers.size, incident).toBe(1)
        expect(cards.size, incident).toBe(orders.length)
        expect(orders.length, incident).toBeGreaterThanOrEqual(5)
        expect(span, incident).toBeLessThan(3_600_000)
      } else if (pattern === 'slow_fraud') {
        // An ordinary first order, then a large one billed elsewhere about two days later.
        expect(orders.length, incident).toBe(2)
        expect(orders[0].billing_country).toBe(orders[0].shipping_country)
        expect(orders[1].billing_country).not.toBe(orders[1].shipping_country)
        expect(orders[1].total).toBeGreaterThan(orders[0].total)
      } else {
        // A known customer of the legitimate shop.
        expect(orders.length, incident).toBe(1)
        expect(legitLines.some((l) => l.includes(`"customer_id":"${orders[0].customer_id}"`))).toBe(true)
      }
    }
  })
})
