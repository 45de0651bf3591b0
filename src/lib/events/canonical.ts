import {COMMON_FIELDS, EVENT_TYPES, type EventType, FIELDS, type FieldName} from './contract.js'

/**
 * Reads an event from message bytes that are already its contract-order line: exactly the text serializeEvent
 * writes (keys in contract order, no whitespace, numbers as JavaScript prints them, strings of printable ASCII with
 * nothing to escape). That is what every message of a producer writing events in contract order looks like, and such
 * a message needs no UTF-8 decoding, no JSON.parse and no re-serialising: its bytes are its staged line.
 *
 * Returns the values the text holds, built as JSON.parse would build them, or undefined for anything else (another
 * key order, an escape, non-ASCII text, another spelling of a number, whitespace, an unknown event_type): undefined
 * means "not read here", never "invalid". It does not validate; the caller does, with the validator's own test.
 */
export function readCanonicalEvent(bytes: Buffer): CanonicalEvent | undefined {
  // One character per byte: a byte past ASCII stays a character past ASCII, which no read below accepts, and for a
  // text it accepts (all ASCII) this is the text UTF-8 decoding would give.
  const line = bytes.toString('latin1')
  if (UNWRITTEN_AS_IS.test(line)) return undefined
  const reader = new Reader(line)
  const values: unknown[] = []
  if (!reader.fields(COMMON_PLAN, values)) return undefined
  const plan = TYPE_PLANS.get(values[EVENT_TYPE_INDEX] as string)
  if (plan === undefined || !reader.fields(plan.fields, values)) return undefined
  if (reader.at !== line.length - 1 || line.charCodeAt(reader.at) !== CLOSE_OBJECT) return undefined
  return {event: plan.build(values), line}
}

/** The values of a message read by readCanonicalEvent, and its text, which is its contract-order line. */
export interface CanonicalEvent {
  event: Record<string, unknown>
  line: string
}

type Kind = 'int' | 'money' | 'string' | 'items'

/** One field as the line spells it: its key with the punctuation before it (`{"name":` or `,"name":`). */
interface PlannedField {
  name: FieldName
  key: string
  kind: Kind
}

function kindOf(name: FieldName): Kind {
  const {kind} = FIELDS[name].spec
  if (kind === 'int' || kind === 'money' || kind === 'items') return kind
  // enum, country, timestamp and string values are JSON strings; serializeEvent writes a plain one with nothing to
  // escape the same way whether it writes it raw or through JSON.stringify.
  return 'string'
}

function planned(name: FieldName, first: boolean): PlannedField {
  return {name, key: `${first ? '{' : ','}"${name}":`, kind: kindOf(name)}
}

/** The common fields, in serializeEvent's order; event_type among them names the plan of the rest. */
const COMMON_PLAN: PlannedField[] = (Object.keys(COMMON_FIELDS) as FieldName[]).map((name, i) => planned(name, i === 0))

const EVENT_TYPE_INDEX = COMMON_PLAN.findIndex((f) => f.name === 'event_type')

/**
 * Per event type, its own fields in serializeEvent's order, and a function that builds the event from the values of
 * all its fields in that order: one object literal per type, so every event of a type gets the same shape (keys
 * stored one by one under names known only at run time make slow, ever-changing objects).
 */
const TYPE_PLANS = new Map<string, {fields: PlannedField[]; build: (values: unknown[]) => Record<string, unknown>}>(
  (Object.keys(EVENT_TYPES) as EventType[]).map((type) => {
    const fields = (Object.keys(EVENT_TYPES[type].fields) as FieldName[]).map((name) => planned(name, false))
    const names = [...COMMON_PLAN, ...fields].map((f) => f.name)
    // Code generated from the contract's own field names, with no outside input.
    const build = new Function(
      'v',
      `return {${names.map((name, i) => `${JSON.stringify(name)}: v[${i}]`).join(', ')}}`,
    ) as (values: unknown[]) => Record<string, unknown>
    return [type, {fields, build}]
  }),
)

const ITEM_KEYS = {productId: '{"product_id":', quantity: ',"quantity":', unitPrice: ',"unit_price":'}

/**
 * A character JSON.stringify would escape (a control character, a backslash) or one past ASCII. Tested once over the
 * whole line, so that each string value is just the text up to its closing quote.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const UNWRITTEN_AS_IS = /[\x00-\x1f\\\x80-\xff]/

const QUOTE = 0x22
const COMMA = 0x2c
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const CLOSE_OBJECT = 0x7d
const NULL = 'null'
const N = 0x6e

/**
 * Integers of at most this many digits: every one is exact in a double and printed back digit for digit. Longer ones
 * are never valid in the contract, and are left to the full path.
 */
const MAX_INT_DIGITS = 15
/** Money up to MAX_MONEY has at most ten integer digits. */
const MAX_MONEY_INT_DIGITS = 10

/** A cursor over the message text; every read returns false (or undefined) at the first character it does not expect. */
class Reader {
  at = 0

  constructor(private readonly text: string) {}

  /** Reads the fields of the plan in order, appending their values. */
  fields(plan: PlannedField[], values: unknown[]): boolean {
    for (const field of plan) {
      if (!this.literal(field.key)) return false
      const value = this.value(field.kind)
      if (value === undefined) return false
      values.push(value)
    }
    return true
  }

  private value(kind: Kind): unknown {
    if (this.text.charCodeAt(this.at) === N) return this.literal(NULL) ? null : undefined
    switch (kind) {
      case 'int':
        return this.int()
      case 'money':
        return this.money()
      case 'string':
        return this.string()
      case 'items':
        return this.items()
    }
  }

  private literal(expected: string): boolean {
    if (!this.text.startsWith(expected, this.at)) return false
    this.at += expected.length
    return true
  }

  /**
   * A string: with no character JSON.stringify would escape in the line (UNWRITTEN_AS_IS), the text between the quotes
   * is the value, and JSON.stringify writes it back unchanged.
   */
  private string(): string | undefined {
    const {text} = this
    if (text.charCodeAt(this.at) !== QUOTE) return undefined
    const start = this.at + 1
    const end = text.indexOf('"', start)
    if (end < 0) return undefined
    this.at = end + 1
    return text.slice(start, end)
  }

  /** Digits with no leading zero (a lone 0 aside): the only way JavaScript prints an integer this size. */
  private digits(max: number): number | undefined {
    const {text} = this
    const start = this.at
    let n = 0
    let i = start
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c < ZERO || c > NINE) break
      n = n * 10 + (c - ZERO)
    }
    const count = i - start
    if (count === 0 || count > max || (count > 1 && text.charCodeAt(start) === ZERO)) return undefined
    this.at = i
    return n
  }

  private int(): number | undefined {
    return this.digits(MAX_INT_DIGITS)
  }

  /**
   * Money as JavaScript prints an amount of at most two decimals: an integer, then one decimal that is not 0 or two
   * whose last is not 0. Such a text has at most 12 significant digits, so JSON.parse gives the double nearest it,
   * which is cents / 100 (both exact integers, one correctly rounded division), and prints back as the same text.
   */
  private money(): number | undefined {
    const whole = this.digits(MAX_MONEY_INT_DIGITS)
    if (whole === undefined) return undefined
    const {text} = this
    if (text.charCodeAt(this.at) !== DOT) return whole
    const first = text.charCodeAt(this.at + 1)
    if (!(first >= ZERO && first <= NINE)) return undefined
    const second = text.charCodeAt(this.at + 2)
    if (second >= ZERO && second <= NINE) {
      if (second === ZERO) return undefined
      this.at += 3
      return (whole * 100 + (first - ZERO) * 10 + (second - ZERO)) / 100
    }
    if (first === ZERO) return undefined
    this.at += 2
    return (whole * 100 + (first - ZERO) * 10) / 100
  }

  /** Order lines as serializeEvent writes them: `[{"product_id":"…","quantity":…,"unit_price":…},…]`. */
  private items(): unknown[] | undefined {
    const {text} = this
    if (text.charCodeAt(this.at) !== OPEN_ARRAY) return undefined
    this.at++
    const lines: unknown[] = []
    for (;;) {
      if (!this.literal(ITEM_KEYS.productId)) return undefined
      const product_id = this.string()
      if (product_id === undefined || !this.literal(ITEM_KEYS.quantity)) return undefined
      const quantity = this.int()
      if (quantity === undefined || !this.literal(ITEM_KEYS.unitPrice)) return undefined
      const unit_price = this.money()
      if (unit_price === undefined || text.charCodeAt(this.at) !== CLOSE_OBJECT) return undefined
      lines.push({product_id, quantity, unit_price})
      const next = text.charCodeAt(this.at + 1)
      this.at += 2
      if (next === CLOSE_ARRAY) return lines
      if (next !== COMMA) return undefined
    }
  }
}
