import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap} from './helpers/cli.js'
import {createTopic} from './helpers/fault-input.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'
import {envelope, page, SPEC_PRODUCTS, SPEC_PROPERTIES, track} from './helpers/segment-messages.js'

/**
 * `ecap ingest --input segment` end to end: Segment messages written from the spec's examples, produced to the real
 * test broker, read by the real CLI into a lake, and read back: exactly the expected events (field by field for the
 * order), exactly the expected dead letters with their reasons, and a crash between the two tables' commits changes
 * nothing, as for native events.
 */

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-segment-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

/** A message id of the n-th message: the spec's own for the first, a UUID like it for the others. */
const messageId = (n: number) => `022bb90c-bbac-11e4-8dfc-${n.toString(16).padStart(12, '0')}`

interface Expected {
  eventId: string
  type: string
  customer: string | null
  session: string
  device: string
  country: string
  time: string
}

/** The corpus: messages that must land (with the event each becomes) and messages that must be dead letters. */
function corpus() {
  const landing: {message: unknown; expected: Expected}[] = []
  const dead: {value: Buffer | null; reason: string}[] = []
  const base = {
    customer: '97980cfea0067',
    session: '507f191e810c19729de860ea',
    device: 'mobile',
    country: 'US',
    time: '2015-12-10T04:08:31.905Z',
  }
  let n = 0
  const add = (message: Record<string, unknown>, type: string, expected: Partial<Expected> = {}) => {
    const id = messageId(++n)
    landing.push({message: {...message, messageId: id}, expected: {...base, eventId: id, type, ...expected}})
  }
  add(page(), 'page_view')
  add(track('Product Viewed', SPEC_PROPERTIES['Product Viewed']), 'product_view')
  add(track('Product Added', SPEC_PROPERTIES['Product Added']), 'add_to_cart')
  add(track('Product Removed', SPEC_PROPERTIES['Product Removed']), 'remove_from_cart')
  add(track('Checkout Started', SPEC_PROPERTIES['Checkout Started']), 'checkout_started')
  add(track('Order Completed', SPEC_PROPERTIES['Order Completed']), 'purchase')
  add(track('Order Refunded', SPEC_PROPERTIES['Order Refunded']), 'refund')
  add(track('Products Searched', {...SPEC_PROPERTIES['Products Searched'], results_count: 4}), 'search')
  // An anonymous desktop visitor in Germany, on another day and in another zone.
  add(
    page({
      userId: null,
      anonymousId: 'a1b2c3',
      timestamp: '2026-03-01T00:30:00.250+02:00',
      context: {
        location: {country: 'Germany'},
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      },
    }),
    'page_view',
    {customer: null, session: 'a1b2c3', device: 'desktop', country: 'DE', time: '2026-02-28T22:30:00.250Z'},
  )
  // A message id that is not a UUID: the event id is derived from it (checked below by shape and by count).
  const reject = (message: unknown, reason: string) => dead.push({value: Buffer.from(JSON.stringify(message)), reason})
  reject(
    track('Products Searched', SPEC_PROPERTIES['Products Searched'], {messageId: messageId(100)}),
    'Products Searched without properties.results_count: ecap records how many products a search returned; add it to the call',
  )
  reject(
    envelope({type: 'identify', traits: {name: 'Peter Gibbons'}, messageId: messageId(101)}),
    'Segment identify call: not a shop event (ecap maps track and page calls)',
  )
  reject(
    track('Cart Viewed', {cart_id: 'd92jd29jd92jd29j92d92jd', products: SPEC_PRODUCTS}, {messageId: messageId(102)}),
    'unsupported event "Cart Viewed": ecap maps Product Viewed, Product Added, Product Removed, Checkout Started, Order Completed, Order Refunded, Products Searched and page calls',
  )
  reject(
    track('Order Completed', {...SPEC_PROPERTIES['Order Completed'], order_id: undefined}, {messageId: messageId(103)}),
    'missing properties.order_id',
  )
  reject(
    track('Product Added', SPEC_PROPERTIES['Product Added'], {messageId: undefined}),
    'missing messageId (ecap keys each event on it to count a resent message once)',
  )
  reject(
    {batch: [page()]},
    'a Segment batch ({"batch": [...]}) holds several messages; produce one message per Kafka record',
  )
  dead.push({value: Buffer.from('{"type":"page",'), reason: 'not valid JSON: '})
  dead.push({value: null, reason: 'empty message (null value)'})
  return {landing, dead}
}

async function produce(topic: string, values: (Buffer | null)[]): Promise<void> {
  await createTopic(testBrokers(), topic, 2)
  const producer = testKafka().producer()
  await producer.connect()
  try {
    await producer.send({topic, messages: values.map((value, i) => ({key: `k${i % 3}`, value}))})
  } finally {
    await producer.disconnect()
  }
}

describe('ecap ingest --input segment', () => {
  it('lands the mapped events and dead-letters the rest exactly once, through a crash between commits', async () => {
    const topic = uniqueName('segment')
    const lake = join(dir, 'lake')
    const {landing, dead} = corpus()
    const nonUuid = page({messageId: 'ajs-next-1683290401123-4f1c'})
    // Segment delivers at least once: the order arrives a second time, with its messageId.
    const resent = landing.find((c) => c.expected.type === 'purchase') as (typeof landing)[number]
    const values = [
      ...landing.map((c) => Buffer.from(JSON.stringify(c.message))),
      Buffer.from(JSON.stringify(nonUuid)),
      Buffer.from(JSON.stringify(resent.message)),
      ...dead.map((d) => d.value),
    ]
    await produce(topic, values)
    const args = [
      'ingest',
      '--input',
      'segment',
      '--brokers',
      testBrokers(),
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      uniqueName('segment-group'),
      '--until-caught-up',
      '--json',
    ]
    // Die right after the dead letters are committed and before the events are: the rerun must write the events
    // and no dead letter twice.
    const crashed = ecap(args, {timeoutMs: 120_000, env: {ECAP_FAILPOINTS: 'ingest.dead-letters.after-commit=crash'}})
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
    const run = ecap(args, {timeoutMs: 120_000})
    expect(run.status, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout).result
    // The dead letters were in the lake before the crash: the rerun reads them again and skips them.
    expect(result).toMatchObject({events: landing.length + 2, deadLetters: 0, duplicatesSkipped: dead.length})

    await registerTableView(engine, 'segment_events', tablePath(lake, EVENTS_TABLE))
    const rows = await engine.rows(
      `SELECT event_id, event_type, customer_id, session_id, device, ip_country, epoch_ms(event_time) AS ms
       FROM segment_events`,
    )
    const derived = rows.filter((r) => !landing.some((c) => c.expected.eventId === r.event_id))
    expect(derived).toHaveLength(1)
    expect(String(derived[0]?.event_id)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
    const key = (e: Expected) =>
      [e.eventId, e.type, e.customer, e.session, e.device, e.country, Date.parse(e.time)].join(' ')
    expect(
      rows
        .filter((r) => r !== derived[0])
        .map((r) =>
          [r.event_id, r.event_type, r.customer_id, r.session_id, r.device, r.ip_country, Number(r.ms)].join(' '),
        )
        .sort(),
    ).toEqual([...landing, resent].map((c) => key(c.expected)).sort())

    // The lake keeps both copies of the resent order; every reader counts it once (docs/duplicates.md).
    const counted = ecap(
      ['query', '--lake', lake, '-f', 'ndjson', "SELECT count(*) AS n FROM events WHERE event_type = 'purchase'"],
      {timeoutMs: 120_000},
    )
    expect(counted.status, counted.stderr).toBe(0)
    expect(JSON.parse(counted.stdout)).toEqual({n: 1})

    // The order, field by field, as the spec's example describes it.
    const [order] = await engine.rows(
      `SELECT DISTINCT order_id, CAST(total AS VARCHAR) AS total, currency, payment_method, card_fingerprint, billing_country,
              shipping_country, len(items) AS lines
       FROM segment_events WHERE event_type = 'purchase'`,
    )
    expect(order).toMatchObject({
      order_id: '50314b8e9bcf000000000000',
      total: '25.00',
      currency: 'USD',
      payment_method: 'card',
      card_fingerprint: null,
      billing_country: 'US',
      shipping_country: 'US',
    })
    expect(Number(order?.lines)).toBe(2)
    const lines = await engine.rows(
      `SELECT DISTINCT line.product_id, line.quantity, CAST(line.unit_price AS VARCHAR) AS unit_price
       FROM (SELECT unnest(items) AS line FROM segment_events WHERE event_type = 'purchase')`,
    )
    const byProduct = (a: unknown[], b: unknown[]) => String(b[0]).localeCompare(String(a[0]))
    expect(lines.map((l) => [l.product_id, Number(l.quantity), l.unit_price]).sort(byProduct)).toEqual([
      ['507f1f77bcf86cd799439011', 1, '19.00'],
      ['505bd76785ebb509fc183733', 2, '3.00'],
    ])

    await registerTableView(engine, 'segment_dead', tablePath(lake, DEAD_LETTERS_TABLE))
    const letters = await engine.rows('SELECT lower(hex(value)) AS value, reason FROM segment_dead')
    const hex = (v: Buffer | null) => (v === null ? 'null' : v.toString('hex'))
    // A JSON parser's own words follow "not valid JSON: "; the rest of the reasons are ecap's, compared whole.
    const reasonKey = (reason: string) => (reason.startsWith('not valid JSON: ') ? 'not valid JSON: ' : reason)
    expect(
      letters.map((r) => `${r.value === null ? 'null' : String(r.value)} ${reasonKey(String(r.reason))}`).sort(),
    ).toEqual(dead.map((d) => `${hex(d.value)} ${d.reason}`).sort())

    // A third run finds everything in the lake.
    const again = ecap(args, {timeoutMs: 120_000})
    expect(again.status, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).result).toMatchObject({messages: 0, events: 0, deadLetters: 0})
  }, 300_000)
})
