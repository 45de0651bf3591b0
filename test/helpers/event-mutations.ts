import {EVENT_TYPE_NAMES, FIELDS, MAX_MONEY} from '../../src/lib/events/index.js'
import {makeEvent} from './events.js'
import {seededRandom} from './random.js'

/**
 * Mutated event texts for fuzzing the judge (parseEventText) against DuckDB's JSON reader: each case is a valid event
 * with one or two values or spellings changed to something a careless or hostile producer could send. Deterministic
 * for a seed. Most cases are still valid events, which is the point: whatever the judge accepts must load.
 */

type Random = () => number

const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)] as T

/** Code units and code points that trouble encoders: surrogates alone and paired, controls, separators, BOM, non-characters. */
const HARD_TEXT = [
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  '\ud83d\ude00',
  '\udc00\ud800',
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\ufffd',
  '\ufffe',
  '\uffff',
  '\u{10ffff}',
  '"',
  '\\',
  '/',
  '\n',
  '\r',
  '\t',
  'é',
  'ß',
  '日本',
  '\u0301',
  'a',
  ' ',
]

function hardText(random: Random, prefix: string, maxLength: number): string {
  let text = prefix
  const parts = 1 + Math.floor(random() * 6)
  for (let i = 0; i < parts; i++) text += pick(random, HARD_TEXT)
  const roll = random()
  // Strings at, just past and far past the contract's length limit.
  if (roll < 0.05) text = text.padEnd(maxLength, 'x')
  else if (roll < 0.08) text = text.padEnd(maxLength + 1, 'x')
  else if (roll < 0.1) text = `${text}${'\ud83d\ude00'.repeat(maxLength)}`.slice(0, maxLength)
  return text
}

const MONEY = [
  0,
  -0,
  0.01,
  0.1 + 0.2,
  1.005,
  19.99,
  1e-7,
  1e-9,
  5e-324,
  1e-300,
  123.45e3,
  MAX_MONEY,
  MAX_MONEY - 0.01,
  MAX_MONEY + 0.01,
  9_999_999_999.98,
  1234567890.12,
  1e21,
  -0.01,
  Number.MAX_SAFE_INTEGER,
  2 ** 53 + 2,
]

/** Spellings of numbers in the JSON text itself: exponents, trailing zeros, negative zero, many digits. */
const MONEY_TEXT = [
  '-0',
  '-0.0',
  '0e0',
  '1E2',
  '1.999e1',
  '19.990000000000000000000001',
  '0.30000000000000004',
  '9999999999.99',
  '9999999999.990000000001',
  '1e-400',
  '1e400',
  '0.0000000000000000000000000001',
  '100000000000000000000000000000000',
]

const INT_TEXT = ['1e0', '1E1', '-0', '1.0', '10.000000000000001', '1e-400', '2147483648', '1e3', '0.5e1']

const TIMES = [
  '0000-01-01T00:00:00.000Z',
  '1999-12-31T23:59:59.999Z',
  '2000-01-01T00:00:00.000Z',
  '2000-02-29T12:00:00.000Z',
  '2016-12-31T23:59:60.000Z',
  '2024-02-29T23:59:59.999Z',
  '2026-02-29T00:00:00.000Z',
  '2026-03-01T14:05:09.120+01:00',
  '2026-03-01T14:05:09.120',
  '2026-03-01T14:05:09Z',
  '2026-03-01 14:05:09.120Z',
  '2099-12-31T23:59:59.999Z',
  '2100-01-01T00:00:00.000Z',
  '9999-12-31T23:59:59.999Z',
  '+002026-03-01T14:05:09.120Z',
  '2026-03-01T24:00:00.000Z',
]

const IDS = ['c000042', 'c\u00e9', 'c\u0000', 'c\ud800', 'c日本', 'C.0:1_2-3', '', 'x'.repeat(64), 'x'.repeat(65)]

function uuid(random: Random): string {
  const hex = () => Math.floor(random() * 16).toString(16)
  const part = (n: number) => Array.from({length: n}, hex).join('')
  return `${part(8)}-${part(4)}-${part(4)}-${part(4)}-${part(12)}`
}

type EventRecord = Record<string, unknown>

/** One value-level change of an event; the event keeps its id so a case can be found again. */
function mutateValue(random: Random, event: EventRecord): void {
  const type = event.event_type as string
  const roll = random()
  if (roll < 0.3) {
    const field = pick(
      random,
      ['page', 'query', 'category'].filter((f) => f in event),
    )
    if (field) {
      const spec = FIELDS[field as 'page'].spec
      event[field] = hardText(random, field === 'page' ? '/' : '', spec.maxLength)
      return
    }
  }
  if (roll < 0.45) {
    const field = pick(
      random,
      ['unit_price', 'total', 'amount'].filter((f) => f in event),
    )
    if (field) {
      event[field] = pick(random, MONEY)
      return
    }
  }
  if (roll < 0.55) {
    event.event_time = pick(random, TIMES)
    return
  }
  if (roll < 0.65) {
    const field = pick(random, ['customer_id', 'session_id'])
    event[field] = pick(random, IDS)
    return
  }
  if (roll < 0.85 && type === 'purchase') {
    mutateItems(random, event)
    return
  }
  const field = pick(
    random,
    ['quantity', 'results_count', 'item_count', 'schema_version'].filter((f) => f in event),
  )
  event[field ?? 'schema_version'] = pick(random, [0, -0, 1, 10_000, 10_001, 1_000_000, 2 ** 31, 1.5, 1e21, -1])
}

/** Order lines at the edges: many of them, big quantities and prices, nesting where a line belongs. */
function mutateItems(random: Random, event: EventRecord): void {
  const roll = random()
  const line = () => ({
    product_id: pick(random, ['p00123', 'p\u00e9', 'P.9:9_9-9']),
    quantity: pick(random, [1, 2, 10_000, 10_001]),
    unit_price: pick(random, [0, 0.01, 19.99, 0.1 + 0.2, 99_999.99, 1e-9]),
  })
  if (roll < 0.5) {
    event.items = Array.from({length: 1 + Math.floor(random() * (random() < 0.1 ? 2000 : 5))}, line)
    balance(event)
  } else if (roll < 0.7) {
    event.items = [[line()]]
  } else if (roll < 0.8) {
    let nested: unknown = line()
    for (let depth = 0; depth < 200; depth++) nested = {product_id: nested}
    event.items = [nested]
  } else {
    // A total that does not add up: off by a cent, or the lines' sum of another order.
    const items = event.items as {quantity: number; unit_price: number}[]
    const cents = items.reduce((sum, l) => sum + Math.round(l.unit_price * 100) * l.quantity, 0)
    event.total = (cents + pick(random, [1, -1, 100])) / 100
  }
}

/** Sets a purchase's total to the sum of its lines, so that other changes are what the judge sees. */
function balance(event: EventRecord): void {
  const items = event.items as {quantity: number; unit_price: number}[]
  event.total = items.reduce((sum, l) => sum + Math.round(l.unit_price * 100) * l.quantity, 0) / 100
}

/** Text-level changes: how the JSON spells what it says. */
export function mutateText(random: Random, text: string): string {
  const roll = random()
  if (roll < 0.15) return `\ufeff${text}`
  if (roll < 0.3) {
    // A money or integer value spelled another way.
    const money = pick(random, ['unit_price', 'total', 'amount'])
    if (text.includes(`"${money}":`)) {
      return text.replace(new RegExp(`"${money}":[^,}\\]]+`), `"${money}":${pick(random, MONEY_TEXT)}`)
    }
    const int = pick(random, ['quantity', 'results_count', 'item_count', 'schema_version'])
    return text.replace(new RegExp(`"${int}":[^,}\\]]+`), `"${int}":${pick(random, INT_TEXT)}`)
  }
  if (roll < 0.4) {
    // A key spelled with escapes, or given twice.
    return random() < 0.5
      ? text.replace('"device":', '"\\u0064evice":')
      : text.replace('"device":', '"device":"mobile","device":')
  }
  if (roll < 0.5) {
    // Escapes written by hand: lone surrogates, NUL and other controls, in a string value.
    const spelled = pick(random, [
      '\\ud800',
      '\\udfff',
      '\\ud83d\\ude00',
      '\\u0000',
      '\\u001b',
      '\\u00e9',
      '\\/',
      '\\b',
    ])
    return text.replace(/"(page|query|category)":"/, `"$1":"${spelled}`)
  }
  if (roll < 0.56) {
    // Keys the contract does not know, which rejection reasons name: escapes, surrogates, inherited names, long ones.
    const key = pick(random, [
      '\\ud800',
      'x\\udfff',
      '\\ud83d\\ude00',
      '\\u0000',
      'toString',
      '__proto__',
      'k'.repeat(70),
      `${'\\ud83d\\ude00'.repeat(40)}`,
    ])
    const value = pick(random, ['null', '1', '"\\ud800"'])
    return random() < 0.3
      ? text.replace('{', `{"${key}":${value},"${key}":${value},`)
      : text.replace('{', `{"${key}":${value},`)
  }
  if (roll < 0.6) {
    const type = pick(random, ['"\\ud800"', `"${'\\udfff'.repeat(100)}"`, `"${'x'.repeat(10_000)}"`, '{"a":[1,2]}'])
    return text.replace(/"event_type":"[a-z_]+"/, `"event_type":${type}`)
  }
  if (roll < 0.62) return text.replace(/,/g, ' ,\t')
  if (roll < 0.65) return `${text}\n`
  return text
}

export interface MutatedCase {
  /** The event id it was built with (the judge may still reject it). */
  id: string
  text: string
}

/** `count` mutated event texts for `seed`. */
export function mutatedEvents(seed: number, count: number): MutatedCase[] {
  const random = seededRandom(seed)
  const cases: MutatedCase[] = []
  for (let i = 0; i < count; i++) {
    const type = pick(random, EVENT_TYPE_NAMES)
    const id = uuid(random)
    const event = {...makeEvent(type), event_id: id} as EventRecord
    if (type === 'purchase') event.items = (event.items as object[]).map((l) => ({...l}))
    const changes = 1 + Math.floor(random() * 2)
    for (let c = 0; c < changes; c++) mutateValue(random, event)
    let text = JSON.stringify(event)
    if (random() < 0.5) text = mutateText(random, text)
    cases.push({id, text})
  }
  return cases
}
