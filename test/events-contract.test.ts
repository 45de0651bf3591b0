import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {
  EVENT_COLUMNS,
  EVENT_TYPE_NAMES,
  FIELD_NAMES,
  FIELDS,
  LINE_ITEM_DUCKDB_TYPE,
  MAX_MONEY,
  parseEventLine,
  parseEventText,
  renderEventDocs,
  SCHEMA_VERSION,
  serializeEvent,
  type ValidationResult,
  validateEvent,
} from '../src/lib/events/index.js'
import {makeEvent, withoutField} from './helpers/events.js'

function reasonOf(result: ValidationResult): string {
  if (result.ok)
    throw new Error(`expected the event to be rejected, but it was accepted: ${JSON.stringify(result.event)}`)
  return result.reason
}

describe('docs/events.md', () => {
  it('is what renderEventDocs() produces from the contract', () => {
    const onDisk = readFileSync(new URL('../docs/events.md', import.meta.url), 'utf8')
    expect(onDisk, 'docs/events.md is out of date with src/lib/events/contract.ts: run `npm run docs:events`').toBe(
      renderEventDocs(),
    )
  })

  it('documents every field and every event type', () => {
    const docs = renderEventDocs()
    for (const name of FIELD_NAMES) expect(docs).toContain(`| \`${name}\` |`)
    for (const type of EVENT_TYPE_NAMES) expect(docs).toContain(`### \`${type}\``)
  })
})

describe('validateEvent', () => {
  it.each(EVENT_TYPE_NAMES)('accepts a well-formed %s event', (type) => {
    const event = makeEvent(type)
    const result = validateEvent(event)
    expect(result).toEqual({ok: true, event})
  })

  it.each(EVENT_TYPE_NAMES)('accepts a %s event read back from its NDJSON line', (type) => {
    const event = makeEvent(type)
    expect(parseEventLine(JSON.stringify(event))).toEqual({ok: true, event})
  })

  it('accepts null for a nullable field and for a field of another type', () => {
    expect(validateEvent(makeEvent('page_view', {customer_id: null})).ok).toBe(true)
    expect(validateEvent(makeEvent('purchase', {card_fingerprint: null})).ok).toBe(true)
    expect(validateEvent({...makeEvent('page_view'), order_id: null}).ok).toBe(true)
  })

  it('accepts money at the limits of DECIMAL(12,2) and large two-decimal amounts', () => {
    for (const amount of [0, 0.01, 1234567890.12, 134395917.05, MAX_MONEY]) {
      expect(validateEvent(makeEvent('refund', {amount})), `amount ${amount}`).toMatchObject({ok: true})
    }
  })

  it('tolerates binary floating point in a computed two-decimal amount', () => {
    expect(validateEvent(makeEvent('checkout_started', {total: 0.1 + 0.2})).ok).toBe(true)
  })

  it('rejects an unknown field', () => {
    expect(reasonOf(validateEvent({...makeEvent('search'), coupon: 'SPRING'}))).toBe('unknown field "coupon"')
  })

  it('rejects a field that belongs to another event type', () => {
    expect(reasonOf(validateEvent({...makeEvent('page_view'), product_id: 'p00123'}))).toBe(
      'field "product_id" does not belong to a page_view event',
    )
  })

  it('rejects a missing required field', () => {
    expect(reasonOf(validateEvent(withoutField(makeEvent('purchase'), 'order_id')))).toBe(
      'missing required field "order_id"',
    )
    expect(reasonOf(validateEvent(makeEvent('purchase', {order_id: null as unknown as string})))).toBe(
      'missing required field "order_id"',
    )
  })

  it('rejects a missing nullable field, asking for null instead', () => {
    expect(reasonOf(validateEvent(withoutField(makeEvent('page_view'), 'customer_id')))).toBe(
      'missing field "customer_id" (use null when unknown)',
    )
  })

  it.each([
    ['without milliseconds', '2026-03-01T14:05:09Z'],
    ['with an offset instead of Z', '2026-03-01T14:05:09.120+01:00'],
    ['without a zone', '2026-03-01T14:05:09.120'],
    ['with microseconds', '2026-03-01T14:05:09.120123Z'],
  ])('rejects an event_time %s', (_label, eventTime) => {
    expect(reasonOf(validateEvent(makeEvent('page_view', {event_time: eventTime})))).toBe(
      'field "event_time" must be an ISO 8601 UTC time with milliseconds, like 2026-03-01T14:05:09.120Z',
    )
  })

  it.each([
    ['month 13', '2026-13-01T00:00:00.000Z'],
    ['February 30', '2026-02-30T00:00:00.000Z'],
    ['hour 24', '2026-03-01T24:00:00.000Z'],
    ['minute 60', '2026-03-01T14:60:00.000Z'],
    ['second 60', '2026-03-01T14:05:60.000Z'],
    ['day 0', '2026-03-00T14:05:09.120Z'],
    ['April 31', '2026-04-31T14:05:09.120Z'],
    ['February 29 of a common year', '2026-02-29T14:05:09.120Z'],
    ['February 29 of 2100, not a leap year', '2100-02-29T14:05:09.120Z'],
  ])('rejects an event_time that is not a real time (%s)', (_label, eventTime) => {
    expect(reasonOf(validateEvent(makeEvent('page_view', {event_time: eventTime})))).toBe(
      'field "event_time" is not a real calendar time',
    )
  })

  it('accepts February 29 of leap years and the last instant of a day', () => {
    for (const eventTime of ['2028-02-29T00:00:00.000Z', '2026-12-31T23:59:59.999Z', '2026-04-30T12:00:00.000Z']) {
      expect(validateEvent(makeEvent('page_view', {event_time: eventTime})).ok).toBe(true)
    }
  })

  it('rejects money with three decimals', () => {
    expect(reasonOf(validateEvent(makeEvent('refund', {amount: 1.005})))).toBe(
      'field "amount" must have at most two decimals',
    )
    expect(reasonOf(validateEvent(makeEvent('refund', {amount: 1234567890.125})))).toBe(
      'field "amount" must have at most two decimals',
    )
  })

  it('rejects negative money and money beyond DECIMAL(12,2)', () => {
    expect(reasonOf(validateEvent(makeEvent('checkout_started', {total: -0.01})))).toBe(
      `field "total" must be between 0 and ${MAX_MONEY}`,
    )
    expect(reasonOf(validateEvent(makeEvent('checkout_started', {total: 10_000_000_000})))).toBe(
      `field "total" must be between 0 and ${MAX_MONEY}`,
    )
  })

  it('rejects money given as a string', () => {
    expect(reasonOf(validateEvent({...makeEvent('refund'), amount: '14.99'}))).toBe('field "amount" must be a number')
  })

  it.each(['de', 'DEU', 'D1', ''])('rejects the country %j', (country) => {
    expect(reasonOf(validateEvent(makeEvent('purchase', {shipping_country: country})))).toBe(
      'field "shipping_country" must be an ISO 3166-1 alpha-2 code',
    )
  })

  it('rejects a purchase with no order lines', () => {
    expect(reasonOf(validateEvent(makeEvent('purchase', {items: []})))).toBe(
      'field "items" must be a non-empty list of order lines',
    )
  })

  it('rejects a bad order line, naming its index', () => {
    const items = [
      {product_id: 'p00123', quantity: 1, unit_price: 19.99},
      {product_id: 'p00456', quantity: 0, unit_price: 14.99},
    ]
    expect(reasonOf(validateEvent(makeEvent('purchase', {items})))).toBe(
      'field "items" [1] must be between 1 and 10000',
    )
    const extra = [{product_id: 'p00123', quantity: 1, unit_price: 19.99, discount: 1}]
    expect(reasonOf(validateEvent({...makeEvent('purchase'), items: extra}))).toBe(
      'field "items" [0] has unknown field "discount"',
    )
  })

  it('rejects a purchase whose total is not the sum of its lines, naming both figures', () => {
    // The lines of makeEvent('purchase') add up to 2 x 19.99 + 14.99 = 54.97.
    expect(reasonOf(validateEvent(makeEvent('purchase', {total: 54.98})))).toBe(
      'field "total" 54.98 is not the sum of the items\' quantity x unit_price (54.97)',
    )
    expect(reasonOf(validateEvent(makeEvent('purchase', {total: 0})))).toBe(
      'field "total" 0.00 is not the sum of the items\' quantity x unit_price (54.97)',
    )
    const items = [{product_id: 'p00123', quantity: 10_000, unit_price: 99_999.99}]
    expect(reasonOf(validateEvent(makeEvent('purchase', {items, total: 999_999_900.01})))).toBe(
      'field "total" 999999900.01 is not the sum of the items\' quantity x unit_price (999999900.00)',
    )
  })

  it('accepts a purchase whose total is the sum of its lines in whole cents, whatever binary floating point makes of it', () => {
    const items = [
      {product_id: 'p00123', quantity: 3, unit_price: 0.1},
      {product_id: 'p00456', quantity: 1, unit_price: 0.2},
    ]
    expect(validateEvent(makeEvent('purchase', {items, total: 0.5})).ok).toBe(true)
    // 0.1 * 3 + 0.2 in doubles is 0.5000000000000001; a producer that summed without rounding sends that.
    expect(validateEvent(makeEvent('purchase', {items, total: 0.1 * 3 + 0.2})).ok).toBe(true)
    const big = [{product_id: 'p00123', quantity: 10_000, unit_price: 999_999.99}]
    expect(validateEvent(makeEvent('purchase', {items: big, total: 9_999_999_900})).ok).toBe(true)
    // A checkout's total is the cart's value, which the contract does not tie to anything in the event.
    expect(validateEvent(makeEvent('checkout_started', {total: 1})).ok).toBe(true)
  })

  it.each([
    ['a high surrogate', 'page', '/x\ud800y', '\\ud800 at character 2'],
    ['a low surrogate', 'page', '/x\udc00y', '\\udc00 at character 2'],
    ['a high surrogate at the end', 'page', '/x\udbff', '\\udbff at character 2'],
    ['a low surrogate at the start', 'query', '\udfffgarden', '\\udfff at character 0'],
    ['a pair in the wrong order', 'query', 'a\udc00\ud800', '\\udc00 at character 1'],
    ['half of an emoji', 'category', 'garden \ud83d', '\\ud83d at character 7'],
  ])('rejects text with %s, which has no UTF-8 form', (_label, field, value, where) => {
    const type = field === 'page' ? 'page_view' : field === 'query' ? 'search' : 'product_view'
    const reason = `field "${field}" holds a lone UTF-16 surrogate (${where}), which is not Unicode text`
    expect(reasonOf(validateEvent(makeEvent(type, {[field]: value})))).toBe(reason)
    // As a producer would send it: JSON spells the lone surrogate as an escape, which JSON.parse decodes.
    expect(reasonOf(parseEventText(JSON.stringify(makeEvent(type, {[field]: value}))))).toBe(reason)
  })

  it('accepts text with surrogate pairs, controls, NUL, separators and a byte order mark', () => {
    for (const page of ['/x\ud83d\ude00y', '/\u0000\u0001\u001f', '/\u2028\u2029', '/\ufeff\uffff', '/\u{10ffff}']) {
      expect(validateEvent(makeEvent('page_view', {page})), JSON.stringify(page)).toMatchObject({ok: true})
    }
  })

  it('quotes what it names from the message in JSON, cut short, so every reason is Unicode text a dead letter can hold', () => {
    const cases: [string, string][] = [
      ['{"\\ud800":1,"event_type":"search"}', 'unknown field "\\ud800"'],
      ['{"event_type":"search","x\\udc00":1}', 'unknown field "x\\udc00"'],
      [`{"event_type":"search","${'k'.repeat(100)}":1}`, `unknown field "${'k'.repeat(64)}…"`],
      [
        // Cut at 64 characters, or 63 where the 64th is the first half of a pair.
        `{"event_type":"x${'\\ud83d\\ude00'.repeat(40)}"}`,
        `event_type "x${'\ud83d\ude00'.repeat(31)}…" is not one of ${EVENT_TYPE_NAMES.join(', ')}`,
      ],
      ['{"a\\ud800":1,"a\\ud800":2}', 'duplicate key "a\\ud800"'],
      ['{"event_type":"search","toString":null}', 'unknown field "toString"'],
      ['{"event_type":"search","__proto__":null}', 'unknown field "__proto__"'],
    ]
    for (const [text, reason] of cases) {
      const got = reasonOf(parseEventText(text))
      expect(got, text).toBe(reason)
      expect(/\p{Cs}/u.test(got), `${text} gives a reason with a lone surrogate`).toBe(false)
    }
    const items = [{product_id: 'p00123', quantity: 1, unit_price: 19.99, '\ud800': 1}]
    expect(reasonOf(validateEvent(makeEvent('purchase', {items})))).toBe(
      'field "items" [0] has unknown field "\\ud800"',
    )
  })

  it.each([
    ['upper-case hex', '0F8E6A3C-2B1D-4E5F-9A7B-3C2D1E0F9A8B'],
    ['no dashes', '0f8e6a3c2b1d4e5f9a7b3c2d1e0f9a8b'],
    ['not hex', 'zf8e6a3c-2b1d-4e5f-9a7b-3c2d1e0f9a8b'],
  ])('rejects an event_id with %s', (_label, eventId) => {
    expect(reasonOf(validateEvent(makeEvent('search', {event_id: eventId})))).toBe(
      `field "event_id" does not match ${FIELDS.event_id.spec.pattern}`,
    )
  })

  it('rejects an event written against a newer schema_version', () => {
    expect(reasonOf(validateEvent(makeEvent('search', {schema_version: SCHEMA_VERSION + 1})))).toBe(
      `schema_version ${SCHEMA_VERSION + 1} is newer than this ecap understands (${SCHEMA_VERSION})`,
    )
  })

  it('rejects an unknown event_type', () => {
    expect(reasonOf(validateEvent({...makeEvent('search'), event_type: 'wishlist_add'}))).toBe(
      `event_type "wishlist_add" is not one of ${EVENT_TYPE_NAMES.join(', ')}`,
    )
  })

  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])(
    'rejects an event_type named like an inherited property (%s) instead of throwing',
    (type) => {
      // Every object inherits these names; a message that used one as its type once threw out of the judge.
      expect(reasonOf(parseEventText(JSON.stringify({...makeEvent('search'), event_type: type})))).toBe(
        `event_type "${type}" is not one of ${EVENT_TYPE_NAMES.join(', ')}`,
      )
    },
  )

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'purchase'],
    ['a number', 42],
  ])('rejects %s as not an object', (_label, value) => {
    expect(reasonOf(validateEvent(value))).toBe('not a JSON object')
  })
})

describe('parseEventLine', () => {
  it('rejects a line that is not JSON, saying why', () => {
    expect(reasonOf(parseEventLine('{"event_type": "search",'))).toMatch(/^not valid JSON: \S/)
  })

  it('rejects JSON that is not an object', () => {
    expect(reasonOf(parseEventLine('[1, 2]'))).toBe('not a JSON object')
    expect(reasonOf(parseEventLine('"purchase"'))).toBe('not a JSON object')
  })

  it('rejects duplicate keys, at any depth and however they are escaped, and accepts repeated values', () => {
    const good = JSON.stringify(makeEvent('purchase'))
    expect(reasonOf(parseEventLine(good.replace('"total":', '"total":1,"total":')))).toBe('duplicate key "total"')
    expect(reasonOf(parseEventLine(good.replace('"total":', '"tot\\u0061l":1, "total" :')))).toBe(
      'duplicate key "total"',
    )
    expect(reasonOf(parseEventLine(good.replace('"quantity":', '"quantity":1,"quantity":')))).toBe(
      'duplicate key "quantity"',
    )
    expect(parseEventLine(good).ok).toBe(true)
    expect(parseEventLine(good.replace('"page_view"', '"page_view"')).ok).toBe(true)
  })

  it('gives the duplicate key as the reason even when the value also breaks the contract', () => {
    const bad = JSON.stringify({...makeEvent('refund'), reason: 'bored'})
    expect(reasonOf(parseEventLine(bad.replace('"amount":', '"amount":1,"amount":')))).toBe('duplicate key "amount"')
  })

  it('gives a valid event its line in contract order, whatever order or spacing the text had', () => {
    const event = makeEvent('purchase')
    const line = serializeEvent(event)
    expect(parseEventText(line)).toEqual({ok: true, event, line})
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(event).reverse()), null, 1)
    expect(parseEventText(reordered)).toEqual({ok: true, event, line})
    expect(reasonOf(parseEventText(line.replace('"total":', '"total":1,"total":')))).toBe('duplicate key "total"')
  })

  it('validates the object a line holds', () => {
    expect(reasonOf(parseEventLine(JSON.stringify({...makeEvent('refund'), reason: 'bored'})))).toBe(
      'field "reason" must be one of damaged, not_as_described, changed_mind, late_delivery, chargeback',
    )
  })
})

describe('EVENT_COLUMNS', () => {
  it('has one column per contract field, in contract order', () => {
    expect(EVENT_COLUMNS.map((column) => column.name)).toEqual(Object.keys(FIELDS))
  })

  it('gives each column the DuckDB type Parquet readers expect', () => {
    const types = Object.fromEntries(EVENT_COLUMNS.map((column) => [column.name, column.duckdbType]))
    expect(types.event_time).toBe('TIMESTAMPTZ')
    expect(types.items).toBe('STRUCT(product_id VARCHAR, quantity INTEGER, unit_price DECIMAL(12,2))[]')
    expect(types.items).toBe(`${LINE_ITEM_DUCKDB_TYPE}[]`)
    for (const money of ['unit_price', 'total', 'amount']) expect(types[money], money).toBe('DECIMAL(12,2)')
    for (const int of ['schema_version', 'results_count', 'quantity', 'item_count'])
      expect(types[int], int).toBe('INTEGER')
    for (const text of ['event_id', 'event_type', 'customer_id', 'device', 'ip_country', 'currency', 'reason']) {
      expect(types[text], text).toBe('VARCHAR')
    }
  })

  it('maps every money field to DECIMAL(12,2) and nothing else to it', () => {
    for (const column of EVENT_COLUMNS) {
      const isMoney = FIELDS[column.name].spec.kind === 'money'
      expect(column.duckdbType === 'DECIMAL(12,2)', column.name).toBe(isMoney)
    }
  })
})
