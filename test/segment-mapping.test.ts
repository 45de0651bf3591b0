import {readFile} from 'node:fs/promises'
import {describe, expect, it} from 'vitest'
import {serializeEvent, validateEventFully} from '../src/lib/events/index.js'
import {parseSegmentText, segmentToEvent} from '../src/lib/events/segment.js'
import {judgeSegment} from '../src/lib/ingest/judge.js'
import {seededRandom} from './helpers/random.js'
import {envelope, page, SPEC_PRODUCTS, SPEC_PROPERTIES, track} from './helpers/segment-messages.js'

/**
 * The Segment mapping (src/lib/events/segment.ts, docs/segment.md) on messages written from the spec's own examples:
 * each mapped event type field by field, every reason a message is dead-lettered, and a fuzz of message shapes.
 */

/** The fields every event mapped from the spec's envelope has. */
const COMMON = {
  schema_version: 1,
  event_id: '022bb90c-bbac-11e4-8dfc-aa07a5b093db',
  event_time: '2015-12-10T04:08:31.905Z',
  customer_id: '97980cfea0067',
  session_id: '507f191e810c19729de860ea',
  device: 'mobile',
  ip_country: 'US',
}

/** The event a message maps to, as a plain record (tests read fields of any type). */
function mapped(message: unknown): Record<string, unknown> {
  const verdict = segmentToEvent(message)
  if (!verdict.ok) throw new Error(`rejected: ${verdict.reason}`)
  return verdict.event as unknown as Record<string, unknown>
}

function reason(message: unknown): string {
  const verdict = segmentToEvent(message)
  if (verdict.ok) throw new Error(`accepted: ${JSON.stringify(verdict.event)}`)
  return verdict.reason
}

/** A spec example's properties with some replaced or (undefined) removed. */
function props(name: keyof typeof SPEC_PROPERTIES, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {...SPEC_PROPERTIES[name]}
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete out[key]
    else out[key] = value
  }
  return out
}

describe('segmentToEvent on the spec examples', () => {
  it('maps Product Viewed to product_view, upper-casing the example\'s "usd"', () => {
    expect(mapped(track('Product Viewed', props('Product Viewed')))).toEqual({
      ...COMMON,
      event_type: 'product_view',
      product_id: '507f1f77bcf86cd799439011',
      category: 'Games',
      unit_price: 18.99,
      currency: 'USD',
    })
  })

  it('maps Product Added and Product Removed to the cart events, in USD when no currency is given', () => {
    for (const [name, type] of [
      ['Product Added', 'add_to_cart'],
      ['Product Removed', 'remove_from_cart'],
    ] as const) {
      expect(mapped(track(name, props(name)))).toEqual({
        ...COMMON,
        event_type: type,
        product_id: '507f1f77bcf86cd799439011',
        quantity: 1,
        unit_price: 18.99,
        currency: 'USD',
      })
    }
  })

  it('maps Checkout Started to the units and the sum of its products', () => {
    expect(mapped(track('Checkout Started', props('Checkout Started')))).toEqual({
      ...COMMON,
      event_type: 'checkout_started',
      item_count: 3,
      total: 25,
      currency: 'USD',
    })
  })

  it("maps Order Completed to a purchase whose total is its lines' sum, not Segment's total", () => {
    expect(mapped(track('Order Completed', props('Order Completed')))).toEqual({
      ...COMMON,
      event_type: 'purchase',
      order_id: '50314b8e9bcf000000000000',
      items: [
        {product_id: '507f1f77bcf86cd799439011', quantity: 1, unit_price: 19},
        {product_id: '505bd76785ebb509fc183733', quantity: 2, unit_price: 3},
      ],
      total: 25,
      currency: 'USD',
      payment_method: 'card',
      card_fingerprint: null,
      billing_country: 'US',
      shipping_country: 'US',
    })
  })

  it('maps Order Refunded to a refund of properties.total', () => {
    expect(mapped(track('Order Refunded', props('Order Refunded')))).toEqual({
      ...COMMON,
      event_type: 'refund',
      order_id: '50314b8e9bcf000000000000',
      amount: 30,
      currency: 'USD',
      reason: 'changed_mind',
    })
  })

  it('maps a page call to page_view', () => {
    expect(mapped(page())).toEqual({...COMMON, event_type: 'page_view', page: '/academy/'})
    const urlOnly = page({properties: {url: 'https://shop.example/category/garden?sort=price'}})
    expect(mapped(urlOnly)).toMatchObject({page: '/category/garden'})
  })

  it('maps Products Searched only with results_count, which the spec lacks', () => {
    expect(reason(track('Products Searched', props('Products Searched')))).toBe(
      'Products Searched without properties.results_count: ecap records how many products a search returned; add it to the call',
    )
    expect(mapped(track('Products Searched', props('Products Searched', {results_count: 12})))).toEqual({
      ...COMMON,
      event_type: 'search',
      query: 'blue roses',
      results_count: 12,
    })
  })

  it('takes the v1 names the spec keeps as aliases', () => {
    expect(mapped(track('Viewed Product', props('Product Viewed'))).event_type).toBe('product_view')
    expect(mapped(track('Added Product', props('Product Added'))).event_type).toBe('add_to_cart')
    expect(mapped(track('Removed Product', props('Product Removed'))).event_type).toBe('remove_from_cart')
    expect(mapped(track('Started Order', props('Checkout Started'))).event_type).toBe('checkout_started')
    expect(mapped(track('Completed Order', props('Order Completed'))).event_type).toBe('purchase')
  })

  it('maps every event through the contract: the line is the one the native path stages', () => {
    for (const name of Object.keys(SPEC_PROPERTIES) as (keyof typeof SPEC_PROPERTIES)[]) {
      const text = JSON.stringify(track(name, props(name, {results_count: 3})))
      const verdict = parseSegmentText(text)
      expect(verdict.ok, name).toBe(true)
      if (!verdict.ok) continue
      expect(validateEventFully(verdict.event)).toEqual({ok: true, event: verdict.event})
      expect(verdict.line).toBe(serializeEvent(verdict.event))
    }
  })
})

describe('the fields every event takes from the envelope', () => {
  const viewed = (fields: Record<string, unknown>) => track('Product Viewed', props('Product Viewed'), fields)

  it('keeps a UUID messageId (lower-cased) and derives a stable UUID from any other', () => {
    expect(mapped(viewed({messageId: '022BB90C-BBAC-11E4-8DFC-AA07A5B093DB'})).event_id).toBe(COMMON.event_id)
    const a = mapped(viewed({messageId: 'ajs-next-1683290401123-4f1c'})).event_id
    const again = mapped(viewed({messageId: 'ajs-next-1683290401123-4f1c'})).event_id
    const other = mapped(viewed({messageId: 'ajs-next-1683290401123-4f1d'})).event_id
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(again).toBe(a)
    expect(other).not.toBe(a)
    expect(reason(viewed({messageId: undefined}))).toBe(
      'missing messageId (ecap keys each event on it to count a resent message once)',
    )
    expect(reason(viewed({messageId: 42}))).toBe('messageId must be a non-empty string')
  })

  it('takes timestamp, else originalTimestamp, in UTC to the millisecond', () => {
    expect(mapped(viewed({timestamp: '2026-03-01T15:05:09.120456+01:00'})).event_time).toBe('2026-03-01T14:05:09.120Z')
    expect(mapped(viewed({timestamp: '2026-03-01T14:05:09Z'})).event_time).toBe('2026-03-01T14:05:09.000Z')
    expect(mapped(viewed({timestamp: '2026-03-01T14:05:09.1-0230'})).event_time).toBe('2026-03-01T16:35:09.100Z')
    expect(mapped(viewed({timestamp: undefined, originalTimestamp: '2026-03-01T14:05:09.120Z'})).event_time).toBe(
      '2026-03-01T14:05:09.120Z',
    )
    expect(reason(viewed({timestamp: undefined}))).toBe('missing timestamp (and originalTimestamp)')
    expect(reason(viewed({timestamp: '2026-03-01 14:05:09'}))).toBe(
      'timestamp "2026-03-01 14:05:09" must be an ISO 8601 time with a zone, like 2026-03-01T14:05:09.120Z',
    )
    expect(reason(viewed({timestamp: '2026-03-01T14:05:09.120'}))).toMatch(/^timestamp .* with a zone/)
    expect(reason(viewed({timestamp: '2026-03-01t14:05:09.120z'}))).toMatch(/^timestamp .* with a zone/)
    expect(reason(viewed({timestamp: '2026-03-01T14:05:09+24:00'}))).toBe(
      'timestamp "2026-03-01T14:05:09+24:00" has a zone offset beyond ±23:59',
    )
    expect(mapped(viewed({timestamp: '2026-01-01T00:30:00+01:00'})).event_time).toBe('2025-12-31T23:30:00.000Z')
    expect(mapped(viewed({timestamp: '2024-02-29T23:59:59.999999Z'})).event_time).toBe('2024-02-29T23:59:59.999Z')
    expect(reason(viewed({timestamp: 1772373909120}))).toMatch(/^timestamp 1772373909120 must be an ISO 8601/)
    expect(reason(viewed({timestamp: '2026-02-30T00:00:00Z'}))).toBe(
      'timestamp "2026-02-30T00:00:00Z" is not a real calendar time',
    )
    expect(reason(viewed({timestamp: '1970-01-01T00:00:00Z'}))).toBe(
      'timestamp "1970-01-01T00:00:00Z" must fall between 2000-01-01T00:00:00.000Z and 2100-01-01T00:00:00.000Z',
    )
  })

  it('reads who from userId and the session from context.sessionId, else anonymousId, else userId', () => {
    expect(mapped(viewed({userId: undefined}))).toMatchObject({customer_id: null, session_id: COMMON.session_id})
    expect(mapped(viewed({userId: null}))).toMatchObject({customer_id: null})
    expect(mapped(viewed({userId: 12345}))).toMatchObject({customer_id: '12345'})
    const rudder = envelope({type: 'track', event: 'Product Viewed', properties: props('Product Viewed')})
    ;(rudder.context as Record<string, unknown>).sessionId = 1697049400123
    expect(mapped(rudder)).toMatchObject({session_id: '1697049400123'})
    expect(mapped(viewed({anonymousId: undefined}))).toMatchObject({
      customer_id: '97980cfea0067',
      session_id: '97980cfea0067',
    })
    expect(reason(viewed({anonymousId: undefined, userId: undefined}))).toBe(
      'neither userId nor anonymousId is set (Segment requires one of them)',
    )
    expect(reason(viewed({userId: 'ann@example.com'}))).toBe(
      'userId "ann@example.com" cannot be ecap\'s customer_id: it does not match /^[A-Za-z0-9_.:-]+$/',
    )
    expect(reason(viewed({userId: {id: 1}}))).toBe('userId must be a non-empty string')
  })

  it('reads the device from context.device, else the user agent, else desktop', () => {
    const withContext = (context: Record<string, unknown>) => mapped(viewed({context})).device
    expect(withContext({device: {type: 'android'}})).toBe('mobile')
    expect(withContext({device: {type: 'ios', model: 'iPad8,1'}})).toBe('tablet')
    expect(withContext({device: {type: 'Tablet'}})).toBe('tablet')
    expect(withContext({userAgent: 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15'})).toBe(
      'tablet',
    )
    expect(withContext({userAgent: 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36'})).toBe(
      'tablet',
    )
    expect(
      withContext({userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile Safari/537.36'}),
    ).toBe('mobile')
    expect(withContext({userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'})).toBe(
      'desktop',
    )
    expect(withContext({})).toBe('desktop')
    expect(mapped(viewed({context: undefined})).device).toBe('desktop')
  })

  it('reads the country from context.location.country, a code or an English name, else ZZ', () => {
    const country = (value: unknown) => mapped(viewed({context: {location: {country: value}}})).ip_country
    expect(country('United States')).toBe('US')
    expect(country('germany')).toBe('DE')
    expect(country('fr')).toBe('FR')
    expect(country('UK')).toBe('GB')
    expect(country('Atlantis')).toBe('ZZ')
    expect(country(7)).toBe('ZZ')
    expect(mapped(viewed({context: {locale: 'de-DE'}})).ip_country).toBe('ZZ')
  })
})

describe('what segmentToEvent dead-letters', () => {
  it('names the missing or wrong field', () => {
    const cases: [unknown, string][] = [
      [
        track('Product Viewed', props('Product Viewed', {product_id: undefined, sku: undefined})),
        'missing properties.product_id (or properties.sku)',
      ],
      [track('Product Viewed', props('Product Viewed', {category: undefined})), 'missing properties.category'],
      [track('Product Viewed', props('Product Viewed', {price: '18.99'})), 'properties.price must be a number'],
      [
        track('Product Viewed', props('Product Viewed', {price: -1})),
        'properties.price must be between 0 and 9999999999.99',
      ],
      [
        track('Product Viewed', props('Product Viewed', {currency: 'dollars'})),
        'properties.currency "dollars" must be an ISO 4217 code such as USD',
      ],
      [track('Product Added', props('Product Added', {quantity: undefined})), 'missing properties.quantity'],
      [track('Product Added', props('Product Added', {quantity: 1.5})), 'properties.quantity must be an integer'],
      [
        track('Product Added', props('Product Added', {quantity: 0})),
        'properties.quantity must be between 1 and 10000',
      ],
      [track('Product Removed', props('Product Removed', {price: undefined})), 'missing properties.price'],
      [
        track('Product Added', props('Product Added', {product_id: 'a b'})),
        'properties.product_id "a b" cannot be ecap\'s product_id: it does not match /^[A-Za-z0-9_.:-]+$/',
      ],
      [
        track('Checkout Started', props('Checkout Started', {products: undefined})),
        'Checkout Started without properties.products',
      ],
      [
        track('Checkout Started', props('Checkout Started', {products: []})),
        'properties.products must be a non-empty list',
      ],
      [track('Order Completed', props('Order Completed', {order_id: undefined})), 'missing properties.order_id'],
      [
        track('Order Completed', props('Order Completed', {products: [SPEC_PRODUCTS[0], 'uno']})),
        'properties.products[1] must be an object',
      ],
      [
        track(
          'Order Completed',
          props('Order Completed', {products: [SPEC_PRODUCTS[0], {...SPEC_PRODUCTS[1], price: 2.999}]}),
        ),
        'properties.products[1].price must have at most two decimals',
      ],
      [
        track('Order Completed', props('Order Completed', {products: [{...SPEC_PRODUCTS[0], quantity: undefined}]})),
        'missing properties.products[0].quantity',
      ],
      [
        track('Order Completed', props('Order Completed', {payment_method: 'Klarna'})),
        'properties.payment_method "Klarna" is none of ecap\'s card, paypal, apple_pay, gift_card (or their usual spellings)',
      ],
      [
        track('Order Refunded', {order_id: '50314b8e9bcf000000000000'}),
        'Order Refunded without an amount: set properties.total (or the products refunded)',
      ],
      [
        track('Order Refunded', props('Order Refunded', {reason: 'Customer request'})),
        'properties.reason "Customer request" is none of ecap\'s damaged, not_as_described, changed_mind, late_delivery, chargeback',
      ],
      [track('Products Searched', {query: {text: 'roses'}, results_count: 1}), 'properties.query must be a string'],
      [page({properties: {title: 'Home'}}), 'page call without properties.path or properties.url'],
      [
        page({properties: {path: 'academy'}}),
        'properties.path "academy" cannot be ecap\'s page: it does not match /^\\//',
      ],
      [page({properties: {url: 'not a url'}}), 'properties.url "not a url" is not a URL'],
      [track('Product Viewed', ['a']), 'properties must be an object'],
    ]
    for (const [message, expected] of cases) expect(reason(message)).toBe(expected)
  })

  it('maps payment methods and refund reasons spelled the usual ways', () => {
    const method = (value: string) =>
      mapped(track('Order Completed', props('Order Completed', {payment_method: value}))).payment_method
    expect(method('Visa')).toBe('card')
    expect(method('credit card')).toBe('card')
    expect(method('PayPal')).toBe('paypal')
    expect(method('Apple Pay')).toBe('apple_pay')
    expect(method('gift-card')).toBe('gift_card')
    const why = (value: string) => mapped(track('Order Refunded', props('Order Refunded', {reason: value}))).reason
    expect(why('Chargeback')).toBe('chargeback')
    expect(why('not as described')).toBe('not_as_described')
  })

  it('takes a refund amount from revenue or the products when total is absent', () => {
    const refund = (changes: Record<string, unknown>) =>
      mapped(track('Order Refunded', props('Order Refunded', changes)))
    expect(refund({total: undefined, revenue: 12.5})).toMatchObject({amount: 12.5})
    expect(refund({total: undefined})).toMatchObject({amount: 25})
  })

  it('rejects calls that are not shop events, batches and unknown events', () => {
    expect(reason(envelope({type: 'identify', traits: {email: 'peter@example.com'}}))).toBe(
      'Segment identify call: not a shop event (ecap maps track and page calls)',
    )
    for (const type of ['group', 'alias', 'screen']) expect(reason(envelope({type}))).toMatch(`Segment ${type} call`)
    expect(reason(track('Cart Viewed', {cart_id: 'd92jd29jd92jd29j92d92jd', products: SPEC_PRODUCTS}))).toBe(
      'unsupported event "Cart Viewed": ecap maps Product Viewed, Product Added, Product Removed, Checkout Started, Order Completed, Order Refunded, Products Searched and page calls',
    )
    expect(reason(track('product viewed', props('Product Viewed')))).toMatch(/^unsupported event "product viewed"/)
    expect(reason(envelope({type: 'track', event: undefined}))).toBe('track call without an event name (field "event")')
    expect(reason({batch: [page(), page()]})).toBe(
      'a Segment batch ({"batch": [...]}) holds several messages; produce one message per Kafka record',
    )
    expect(reason(envelope({type: undefined}))).toBe(
      'missing field "type": not a Segment message (track, page, identify, ...)',
    )
    expect(reason(envelope({type: 'Track'}))).toBe(
      'field "type" "Track" is not a Segment call type (track, page, identify, ...)',
    )
    expect(reason([page()])).toBe('not a JSON object')
    expect(reason(42)).toBe('not a JSON object')
    expect(reason(null)).toBe('not a JSON object')
  })

  it('gives the native reasons for bytes that are not a JSON message', () => {
    expect(judgeSegment(null)).toEqual({ok: false, reason: 'empty message (null value)'})
    expect(judgeSegment(Buffer.alloc(0))).toEqual({ok: false, reason: 'empty message (zero bytes)'})
    expect(judgeSegment(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ok: false, reason: 'not valid UTF-8'})
    expect(judgeSegment(Buffer.from('{"type":'))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^not valid JSON: /),
    })
    const twice = JSON.stringify(page()).replace('"type":"page"', '"type":"track","type":"page"')
    expect(judgeSegment(Buffer.from(twice))).toEqual({ok: false, reason: 'duplicate key "type"'})
  })
})

describe('segmentToEvent on random shapes', () => {
  /** A random JSON value, nested at most `depth` deep. */
  function randomValue(random: () => number, depth: number): unknown {
    const pick = Math.floor(random() * (depth > 0 ? 9 : 7))
    switch (pick) {
      case 0:
        return null
      case 1:
        return random() < 0.5
      case 2:
        return Math.floor(random() * 20) - 5
      case 3:
        return Math.round(random() * 100_000) / 1000
      case 4:
        return ['', 'USD', 'Product Viewed', '/x', '2026-03-01T14:05:09Z', 'a b', '\ud800', 'x'.repeat(300)][
          Math.floor(random() * 8)
        ]
      case 5:
        return random() * 1e300
      case 6:
        return 'toString'
      case 7:
        return Array.from({length: Math.floor(random() * 4)}, () => randomValue(random, depth - 1))
      default: {
        const out: Record<string, unknown> = {}
        for (let i = Math.floor(random() * 4); i > 0; i--) {
          out[
            ['product_id', 'price', 'quantity', 'products', 'country', 'type', '__proto__'][
              Math.floor(random() * 7)
            ] as string
          ] = randomValue(random, depth - 1)
        }
        return out
      }
    }
  }

  /** A spec message with a few fields, at any depth, replaced by random values or removed. */
  function mutate(random: () => number, value: unknown, rate: number): unknown {
    if (random() < rate) return randomValue(random, 2)
    if (Array.isArray(value)) return value.map((v) => mutate(random, v, rate))
    if (typeof value !== 'object' || value === null) return value
    const out: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(value)) if (random() >= rate) out[key] = mutate(random, v, rate)
    return out
  }

  it('never throws: every shape is a valid event or a reason', () => {
    const random = seededRandom(17)
    const seeds = [
      ...Object.keys(SPEC_PROPERTIES).map((name) =>
        track(name, props(name as keyof typeof SPEC_PROPERTIES, {results_count: 2})),
      ),
      page(),
    ]
    let accepted = 0
    for (let i = 0; i < 20_000; i++) {
      const base = seeds[i % seeds.length]
      const message = i % 10 === 0 ? randomValue(random, 3) : mutate(random, base, 0.08)
      const verdict = segmentToEvent(message)
      if (verdict.ok) {
        accepted++
        expect(validateEventFully(JSON.parse(serializeEvent(verdict.event)))).toMatchObject({ok: true})
      } else {
        expect(verdict.reason.length).toBeGreaterThan(0)
        expect(verdict.reason).not.toMatch(/^the mapped event breaks the contract/)
      }
    }
    // Both outcomes are exercised.
    expect(accepted).toBeGreaterThan(1000)
    expect(accepted).toBeLessThan(19_000)
  })
})

describe('judgeSegment on mutated bytes', () => {
  it('never throws on byte-level damage to real messages: a valid event with its line, or a reason', () => {
    const random = seededRandom(29)
    const texts = [
      ...Object.keys(SPEC_PROPERTIES).map((name) =>
        JSON.stringify(track(name, props(name as keyof typeof SPEC_PROPERTIES, {results_count: 2}))),
      ),
      JSON.stringify(page()),
    ]
    const alphabet = Buffer.from('{}[]",:0123456789.-eE tnufalsrUSDZ\\u00e9\n')
    let accepted = 0
    for (let i = 0; i < 20_000; i++) {
      const bytes = Buffer.from(texts[i % texts.length] as string)
      for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
        const at = Math.floor(random() * bytes.length)
        bytes[at] =
          random() < 0.9 ? (alphabet[Math.floor(random() * alphabet.length)] as number) : Math.floor(random() * 256)
      }
      const verdict = judgeSegment(bytes)
      if (verdict.ok) {
        accepted++
        expect(validateEventFully(JSON.parse(verdict.line))).toEqual({ok: true, event: JSON.parse(verdict.line)})
      } else expect(verdict.reason.length).toBeGreaterThan(0)
    }
    expect(accepted).toBeGreaterThan(0)
  })
})

describe('docs/segment.md', () => {
  it('maps its example message to exactly the line it shows, and names the reason without order_id', async () => {
    const docs = await readFile(new URL('../docs/segment.md', import.meta.url), 'utf8')
    const example = docs.slice(docs.indexOf('## Example'))
    const blocks = [...example.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => m[1] as string)
    expect(blocks).toHaveLength(2)
    const [message, line] = blocks as [string, string]
    expect(parseSegmentText(message)).toMatchObject({ok: true, line})
    const withoutOrder = JSON.parse(message)
    delete withoutOrder.properties.order_id
    expect(segmentToEvent(withoutOrder)).toEqual({ok: false, reason: 'missing properties.order_id'})
    expect(example).toContain('the reason `missing properties.order_id`')
  })
})
