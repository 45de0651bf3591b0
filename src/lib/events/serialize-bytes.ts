import {COMMON_FIELDS, EVENT_TYPES, type EventType, FIELDS, type FieldName} from './contract.js'
import type {ShopEvent} from './types.js'

/** Returns the offset after the event's last byte, or -1 (see writeEventBytes). */
type ByteWriter = (event: ShopEvent, bytes: Uint8Array, offset: number) => number

function writeNull(b: Uint8Array, o: number): number {
  b[o] = 110
  b[o + 1] = 117
  b[o + 2] = 108
  b[o + 3] = 108
  return o + 4
}

/** Digits of a non-negative integer below 2^53. */
function writeDigits(n: number, b: Uint8Array, o: number): number {
  let digits = 1
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++
  let rest = n
  for (let i = o + digits - 1; i >= o; i--) {
    const next = Math.floor(rest / 10)
    b[i] = 48 + rest - next * 10
    rest = next
  }
  return o + digits
}

/**
 * A number as `${n}` writes it. Counts, and amounts that are a whole number of cents, are written without making a
 * string: for 0 < n < 1e12 equal to cents / 100, the shortest decimal that reads back as n (what JavaScript writes)
 * is that amount with trailing zeros dropped, since any other decimal with as few digits is at least a cent away
 * while doubles there are less than a cent apart. Anything else goes through `${n}`.
 */
function writeNumber(n: number, b: Uint8Array, o: number): number {
  if (n >= 0 && n < 1e9 && (n | 0) === n) return writeDigits(n, b, o)
  if (n > 0 && n < 1e12) {
    const cents = Math.round(n * 100)
    if (cents / 100 === n) {
      const whole = Math.floor(cents / 100)
      const fraction = cents - whole * 100
      o = writeDigits(whole, b, o)
      if (fraction === 0) return o
      const tenths = Math.floor(fraction / 10)
      b[o] = 46
      b[o + 1] = 48 + tenths
      if (fraction === tenths * 10) return o + 2
      b[o + 2] = 48 + fraction - tenths * 10
      return o + 3
    }
  }
  const text = `${n}`
  for (let i = 0; i < text.length; i++) b[o + i] = text.charCodeAt(i)
  return o + text.length
}

/**
 * A string in quotes, byte for byte, or -1 when one of its characters is not printable ASCII or is one that JSON
 * escapes (quote, backslash): such a value takes the string path, which escapes and UTF-8 encodes it.
 */
function writeString(s: string, b: Uint8Array, o: number): number {
  b[o] = 34
  const start = o + 1
  const n = s.length
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 34 || c === 92) return -1
    b[start + i] = c
  }
  b[start + n] = 34
  return start + n + 1
}

const ITEM_PRODUCT = bytesOf('{"product_id":')
const ITEM_QUANTITY = bytesOf(',"quantity":')
const ITEM_PRICE = bytesOf(',"unit_price":')

function writeConstant(constant: Uint8Array, b: Uint8Array, o: number): number {
  for (let i = 0; i < constant.length; i++) b[o + i] = constant[i] as number
  return o + constant.length
}

/** Order lines as serializeEvent's `items` writes them; -1 for anything that is not a list of well-typed lines. */
function writeItems(lines: unknown, b: Uint8Array, o: number): number {
  if (!Array.isArray(lines)) return -1
  b[o++] = 91
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (typeof line !== 'object' || line === null) return -1
    const {product_id, quantity, unit_price} = line as Record<string, unknown>
    if (typeof product_id !== 'string' || typeof quantity !== 'number' || typeof unit_price !== 'number') return -1
    if (i > 0) b[o++] = 44
    o = writeString(product_id, b, writeConstant(ITEM_PRODUCT, b, o))
    if (o < 0) return -1
    o = writeNumber(quantity, b, writeConstant(ITEM_QUANTITY, b, o))
    o = writeNumber(unit_price, b, writeConstant(ITEM_PRICE, b, o))
    b[o++] = 125
  }
  b[o++] = 93
  return o
}

function bytesOf(ascii: string): Uint8Array {
  return Uint8Array.from(ascii, (c) => c.charCodeAt(0))
}

/** Stores of a constant's bytes, unrolled: keys are short and fixed per event type. */
function storeConstant(ascii: string): string {
  const stores = [...ascii].map((c, i) => `b[o + ${i}] = ${c.charCodeAt(0)}`)
  return `${stores.join('; ')}; o += ${ascii.length}`
}

/**
 * Compiles, from the contract, one function per event type that writes the event's JSON line as bytes: the bytes
 * of serializeEvent's text, without building strings to join and encode (which cost most of the NDJSON writer's
 * time). Every value it cannot write exactly as serializeEvent would (an unexpected type, a character that needs
 * escaping or more than one UTF-8 byte) makes it give up, and the caller takes the string path.
 */
function compile(type: EventType): ByteWriter {
  const fields = [...Object.keys(COMMON_FIELDS), ...Object.keys(EVENT_TYPES[type].fields)] as FieldName[]
  const body: string[] = ['let v']
  fields.forEach((name, i) => {
    const spec = FIELDS[name].spec
    body.push(storeConstant(`${i === 0 ? '{' : ','}"${name}":`))
    body.push(`v = e.${name}`)
    if (spec.kind === 'items') body.push('o = writeItems(v, b, o); if (o < 0) return -1')
    else if (spec.kind === 'int' || spec.kind === 'money')
      body.push(
        "if (typeof v === 'number') o = writeNumber(v, b, o); else if (v === null) o = writeNull(b, o); else return -1",
      )
    else
      body.push(
        "if (typeof v === 'string') { o = writeString(v, b, o); if (o < 0) return -1 } else if (v === null) o = writeNull(b, o); else return -1",
      )
  })
  body.push('b[o] = 125', 'return o + 1')
  // Code generated from the contract's own field table, with no outside input; the helpers are passed in.
  return new Function(
    'writeItems',
    'writeNumber',
    'writeString',
    'writeNull',
    `return function writeEvent(e, b, o) { ${body.join('\n')} }`,
  )(writeItems, writeNumber, writeString, writeNull) as ByteWriter
}

// No prototype: an event_type such as "toString" finds no writer and takes the string path.
const WRITERS = Object.assign(
  Object.create(null),
  Object.fromEntries((Object.keys(EVENT_TYPES) as EventType[]).map((type) => [type, compile(type)])),
) as Record<EventType, ByteWriter | undefined>

/**
 * Writes an event as the UTF-8 bytes of serializeEvent's line (without the newline) into `bytes` at `offset`, and
 * returns the offset after its last byte. Returns -1 when the event must take the string path instead (a value
 * that needs JSON escaping or non-ASCII bytes, or of a type the contract does not give it); nothing is promised
 * about the bytes it wrote then. Bytes past the end of `bytes` are dropped, so a result above `bytes.length` means
 * the event did not fit.
 */
export function writeEventBytes(event: ShopEvent, bytes: Uint8Array, offset: number): number {
  const writer = WRITERS[event.event_type]
  if (writer === undefined) return -1
  return writer(event, bytes, offset)
}
