import {describe, expect, it} from 'vitest'
import {readCanonicalEvent} from '../src/lib/events/canonical.js'
import {EVENT_TYPE_NAMES, FIELD_NAMES, isPlainValidEvent, MAX_MONEY, serializeEvent} from '../src/lib/events/index.js'
import {judge, judgeFully} from '../src/lib/ingest/judge.js'
import {mutatedEvents, mutateText} from './helpers/event-mutations.js'
import {makeEvent} from './helpers/events.js'
import {seededRandom} from './helpers/random.js'

/**
 * judge reads a message that is already its own contract-order line straight from its bytes and stages it as it
 * came; everything else takes the full way (UTF-8, JSON.parse, validation, re-serialising). These tests pin the two
 * together: for every input, the same verdict, the same reason, the same staged line and the same event.
 */

type Random = () => number
const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)] as T

let canonicalTaken = 0

function sameAsFullPath(bytes: Buffer, label: string): void {
  const fast = judge(bytes)
  const full = judgeFully(bytes)
  expect(fast, label).toEqual(full)
  if (fast.ok && full.ok) {
    // toEqual ignores key order; the event's own order must match too (the fraud scorer and tests see it).
    expect(JSON.stringify(fast.event), label).toBe(JSON.stringify(full.event))
    expect(fast.line, label).toBe(serializeEvent(full.event))
  }
  const canonical = readCanonicalEvent(bytes)
  if (canonical !== undefined && isPlainValidEvent(canonical.event)) canonicalTaken++
}

/** An event's JSON with its keys in contract order (unknown keys last): the order serializeEvent writes. */
function contractOrder(text: string): string | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const record = value as Record<string, unknown>
  const known = FIELD_NAMES.filter((name) => Object.hasOwn(record, name))
  const rest = Object.keys(record).filter((key) => !known.includes(key as never))
  const ordered: Record<string, unknown> = {}
  for (const key of [...known, ...rest]) Object.defineProperty(ordered, key, {value: record[key], enumerable: true})
  return JSON.stringify(ordered)
}

/** Bytes that matter to a JSON reader or to UTF-8, for byte-level mutations. */
const BYTES = [...'"\\ ,:{}[]0123456789.-+eEnul/ax']
  .map((c) => c.charCodeAt(0))
  .concat([0x00, 0x09, 0x0a, 0x1f, 0x7f, 0x80, 0xc3, 0xe2, 0xed, 0xf0, 0xff])

function mutateBytes(random: Random, line: Buffer): Buffer {
  const bytes = [...line]
  const edits = 1 + Math.floor(random() * 3)
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (bytes.length + 1))
    const roll = random()
    if (roll < 0.4) bytes[Math.min(at, bytes.length - 1)] = pick(random, BYTES)
    else if (roll < 0.6) bytes.splice(at, 1)
    else if (roll < 0.8) bytes.splice(at, 0, pick(random, BYTES))
    else {
      // A stretch repeated: a key or value given twice, an order line duplicated.
      const from = Math.floor(random() * bytes.length)
      bytes.splice(at, 0, ...bytes.slice(from, from + 1 + Math.floor(random() * 40)))
    }
  }
  return Buffer.from(bytes)
}

/** How a number field may be spelled: canonical, and every other way JSON allows. */
const NUMBER_TEXT = [
  '0',
  '-0',
  '1',
  '1e0',
  '1E0',
  '1.0',
  '1.50',
  '01',
  '0.0',
  '0.00',
  '0.05',
  '0.5',
  '.5',
  '5.',
  '19.99',
  '19.990',
  '1.005',
  '9999999999.99',
  '10000000000',
  '10000000000.01',
  '9007199254740993',
  '9007199254740992',
  '999999999999999',
  '1000000000000000',
  '1000000',
  '1000001',
  '10000',
  '10001',
  '2147483648',
  '0.30000000000000004',
  '1e21',
  '-1',
  '+1',
  'null',
  '"1"',
  'true',
  '[]',
]

function respellNumber(random: Random, line: string): string {
  const field = pick(random, [
    'unit_price',
    'total',
    'amount',
    'quantity',
    'results_count',
    'item_count',
    'schema_version',
  ])
  const cents = Math.floor(random() * 1e12)
  const text = random() < 0.3 ? String(cents / 100) : pick(random, NUMBER_TEXT)
  return line.replace(new RegExp(`"${field}":[^,}\\]]+`), `"${field}":${text}`)
}

/** Whether the text is valid JSON for a number (or null) that JavaScript prints back as the same text. */
function printsAs(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text)
    return value === null || (typeof value === 'number' && String(value) === text)
  } catch {
    return false
  }
}

describe('judge on canonical lines', () => {
  it('reads every event type written by serializeEvent, null customer and card included', () => {
    for (const type of EVENT_TYPE_NAMES) {
      for (const event of [makeEvent(type), {...makeEvent(type), customer_id: null}]) {
        const line = serializeEvent(event as never)
        const verdict = judge(Buffer.from(line))
        expect(verdict, type).toEqual({ok: true, event, line})
        expect(readCanonicalEvent(Buffer.from(line))?.line, type).toBe(line)
      }
    }
    const purchase = serializeEvent({...makeEvent('purchase'), card_fingerprint: null})
    expect(readCanonicalEvent(Buffer.from(purchase))?.event.card_fingerprint).toBeNull()
  })

  it('gives the full path verdict, reason, line and event for fuzzed texts in any key order', () => {
    canonicalTaken = 0
    for (const seed of [11, 12, 13]) {
      const random = seededRandom(seed * 7)
      for (const {text} of mutatedEvents(seed, 4000)) {
        sameAsFullPath(Buffer.from(text), text)
        const ordered = contractOrder(text)
        if (ordered === undefined) continue
        sameAsFullPath(Buffer.from(ordered), ordered)
        const respelled = random() < 0.5 ? mutateText(random, ordered) : respellNumber(random, ordered)
        sameAsFullPath(Buffer.from(respelled), respelled)
      }
    }
    // Most contract-ordered cases are valid canonical lines: the fast way must have been taken, or this proves nothing.
    expect(canonicalTaken).toBeGreaterThan(2000)
  })

  it('gives the full path verdict for byte-level mutations of canonical lines', () => {
    canonicalTaken = 0
    const random = seededRandom(99)
    for (let i = 0; i < 30_000; i++) {
      const line = serializeEvent(makeEvent(pick(random, EVENT_TYPE_NAMES)) as never)
      const bytes = mutateBytes(random, Buffer.from(line))
      sameAsFullPath(bytes, JSON.stringify(bytes.toString('latin1')))
    }
    expect(canonicalTaken).toBeGreaterThan(500)
  })

  it('reads money exactly as JSON.parse does, and only in the spelling JavaScript prints', () => {
    const random = seededRandom(5)
    const amounts = ['0', '0.01', '0.1', '0.29', '1.15', '9999999999.99', '9999999999.9', String(MAX_MONEY - 0.01)]
    for (let i = 0; i < 50_000; i++) {
      const cents = Math.floor(random() * (random() < 0.5 ? 1e4 : 1e12))
      amounts.push(String(cents / 100))
    }
    const template = serializeEvent(makeEvent('refund'))
    for (const amount of amounts) {
      const line = template.replace(/"amount":[^,]+/, `"amount":${amount}`)
      const read = readCanonicalEvent(Buffer.from(line))
      expect(read?.event.amount, line).toBe(JSON.parse(amount))
      sameAsFullPath(Buffer.from(line), line)
    }
    // Every other spelling of a number is left to the full path, whatever it means.
    for (const text of NUMBER_TEXT) {
      const line = template.replace(/"amount":[^,]+/, `"amount":${text}`)
      if (!printsAs(text)) expect(readCanonicalEvent(Buffer.from(line)), text).toBeUndefined()
      sameAsFullPath(Buffer.from(line), line)
    }
  })

  it('leaves keys spelled twice, __proto__, escapes, whitespace and non-ASCII to the full path', () => {
    const line = serializeEvent(makeEvent('page_view'))
    const cases = [
      line.replace('"device":', '"device":"mobile","device":'),
      line.replace('{', '{"__proto__":null,'),
      line.replace('"page":"/', '"page":"/\\u0041'),
      line.replace('"page":"/', '"page":"/\\/'),
      line.replace('"page":"/', '"page":"/é'),
      line.replace('"page":"/', '"page":"/\u2028'),
      line.replace('"page":"/', '"page":"/\u007f'),
      `\ufeff${line}`,
      `${line}\n`,
      `${line} `,
      ` ${line}`,
      line.replace(',', ' ,'),
      line.replace('"page_view"', '"toString"'),
      line.slice(0, -1),
      `${line}}`,
    ]
    for (const text of cases) sameAsFullPath(Buffer.from(text), text)
    expect(judge(Buffer.from(line.replace('"device":', '"device":"mobile","device":')))).toMatchObject({
      ok: false,
      reason: 'duplicate key "device"',
    })
  })
})
