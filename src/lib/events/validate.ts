import {
  COMMON_FIELDS,
  EVENT_TYPES,
  type EventType,
  FIELDS,
  type FieldName,
  type FieldSpec,
  MAX_EVENT_TIME,
  MAX_MONEY,
  MIN_EVENT_TIME,
  type Presence,
  SCHEMA_VERSION,
} from './contract.js'
import {duplicateKey} from './duplicate-keys.js'
import {serializeEvent} from './serialize.js'

import type {LineItem, ShopEvent} from './types.js'

export type ValidationResult = {ok: true; event: ShopEvent} | {ok: false; reason: string}

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const COUNTRY = /^[A-Z]{2}$/

/** The fields each event type may carry, with their presence: the common fields plus its own. */
const ALLOWED: Record<EventType, Map<FieldName, Presence>> = Object.fromEntries(
  Object.entries(EVENT_TYPES).map(([type, def]) => [
    type,
    new Map([...Object.entries(COMMON_FIELDS), ...Object.entries(def.fields)] as [FieldName, Presence][]),
  ]),
) as Record<EventType, Map<FieldName, Presence>>

/**
 * Checks one decoded JSON value against the contract. Returns the first problem as a reason a person can act on
 * (it is what dead letters record), or the value typed as a ShopEvent.
 */
export function validateEvent(value: unknown): ValidationResult {
  // Almost every event of a working producer is valid: the fast test accepts those, and anything it does not accept
  // gets the full walk, which alone words reasons. The fast test accepts only what the full walk accepts.
  if (isPlainValidEvent(value)) return {ok: true, event: value as ShopEvent}
  return validateEventFully(value)
}

/** One field of an event type, as the fast test checks it. */
interface FastField {
  name: FieldName
  required: boolean
  /** True when a non-null value passes checkValue. */
  passes: (value: unknown) => boolean
}

/** Per event type: its fields (common and own) with their checks, and how many there are. */
const FAST_PLANS = new Map<string, {fields: FastField[]; count: number}>(
  Object.entries(ALLOWED).map(([type, allowed]) => {
    const fields = [...allowed].map(([name, presence]) => ({
      name,
      required: presence === 'required',
      passes: fastCheck(FIELDS[name].spec),
    }))
    return [type, {fields, count: fields.length}]
  }),
)

/** checkValue(spec, value) === undefined, without building a reason, for the kinds worth specialising. */
function fastCheck(spec: FieldSpec): (value: unknown) => boolean {
  switch (spec.kind) {
    case 'string': {
      const {maxLength, pattern} = spec
      // A plain pattern admits only ASCII that JSON never escapes, so it never matches a lone surrogate.
      if (pattern && spec.plain) {
        return (v) => typeof v === 'string' && v.length > 0 && v.length <= maxLength && pattern.test(v)
      }
      return (v) => checkValue(spec, v) === undefined
    }
    case 'enum': {
      const values = new Set<unknown>(spec.values)
      return (v) => values.has(v)
    }
    case 'int': {
      const {min, max} = spec
      return (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
    }
    case 'country':
      return (v) => typeof v === 'string' && COUNTRY.test(v)
    default:
      return (v) => checkValue(spec, v) === undefined
  }
}

/**
 * True only for a value validateEventFully accepts: a plain object whose keys are exactly its type's fields (in any
 * order), every value passing its check and nulls only where the field is nullable. False means "not decided here",
 * never "invalid". Exported so that a test can pin it to validateEventFully.
 */
export function isPlainValidEvent(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false
  const record = value as Record<string, unknown>
  const plan = FAST_PLANS.get(record.event_type as string)
  if (plan === undefined) return false
  // JSON.parse gives each key once, so as many own keys as fields, each field present, means these keys exactly.
  if (Object.keys(record).length !== plan.count) return false
  for (const field of plan.fields) {
    const v = record[field.name]
    if (v === undefined) return false
    if (v === null) {
      if (field.required) return false
    } else if (!field.passes(v)) return false
  }
  return (
    record.event_type !== 'purchase' || checkTotal(record.total as number, record.items as LineItem[]) === undefined
  )
}

/** validateEvent without the fast test: every check, in the order that decides which reason is given. */
export function validateEventFully(value: unknown): ValidationResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {ok: false, reason: 'not a JSON object'}
  }
  const record = value as Record<string, unknown>
  const version = record.schema_version
  if (typeof version === 'number' && Number.isInteger(version) && version > SCHEMA_VERSION) {
    return {ok: false, reason: `schema_version ${version} is newer than this ecap understands (${SCHEMA_VERSION})`}
  }
  const type = record.event_type
  if (typeof type !== 'string' || !Object.hasOwn(EVENT_TYPES, type)) {
    return {
      ok: false,
      reason: `event_type ${quoted(type)} is not one of ${Object.keys(EVENT_TYPES).join(', ')}`,
    }
  }
  const allowed = ALLOWED[type as EventType]
  for (const key of Object.keys(record)) {
    // hasOwn: `"toString": null` is not a field just because every object inherits one.
    if (!Object.hasOwn(FIELDS, key)) return {ok: false, reason: `unknown field ${quoted(key)}`}
    if (!allowed.has(key as FieldName) && record[key] !== null) {
      return {ok: false, reason: `field "${key}" does not belong to a ${type} event`}
    }
  }
  for (const [name, presence] of allowed) {
    const field = record[name]
    if (field === undefined || field === null) {
      if (presence === 'required') return {ok: false, reason: `missing required field "${name}"`}
      if (field === undefined) return {ok: false, reason: `missing field "${name}" (use null when unknown)`}
      continue
    }
    const problem = checkValue(FIELDS[name].spec, field)
    if (problem) return {ok: false, reason: `field "${name}" ${problem}`}
  }
  if (type === 'purchase') {
    const problem = checkTotal(record.total as number, record.items as LineItem[])
    if (problem) return {ok: false, reason: problem}
  }
  return {ok: true, event: record as unknown as ShopEvent}
}

// With the u flag a surrogate pair is one code point, so only a surrogate without its partner matches.
const LONE_SURROGATE = /\p{Cs}/u
const LONE_SURROGATES = /\p{Cs}/gu

/** How much of a value a reason quotes: enough to recognise it, while a dead letter's reason stays small. */
const QUOTED_CHARS = 64

/**
 * A value from the message, quoted for a reason: cut short, and in JSON's spelling, so a lone surrogate in a key
 * reads `\ud800` instead of being stored as one. A reason is text of the dead-letter table, which must load.
 */
export function quoted(value: unknown): string {
  if (typeof value !== 'string') return cut(stringified(value))
  return JSON.stringify(cut(value))
}

/**
 * JSON.stringify recurses: a value nested deeper than the stack (a few kilobytes of `[[[[...`, which JSON.parse reads
 * without recursing) makes it throw a RangeError, which would escape judge and stop ingest at the same message on
 * every restart. Such a value is named by its kind instead.
 */
function stringified(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    return Array.isArray(value) ? '[an array nested too deeply to quote]' : '{an object nested too deeply to quote}'
  }
}

/** The first QUOTED_CHARS characters and an ellipsis, never ending in the first half of a surrogate pair. */
function cut(text: string): string {
  if (text.length <= QUOTED_CHARS) return text
  const end = isHighSurrogate(text.charCodeAt(QUOTED_CHARS - 1)) ? QUOTED_CHARS - 1 : QUOTED_CHARS
  return `${text.slice(0, end)}…`
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff
}

/** Text with each lone surrogate spelled as a JSON escape, so that it has a UTF-8 form. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATES, (unit) => `\\u${unit.charCodeAt(0).toString(16)}`)
}

/**
 * JSON can spell a lone UTF-16 surrogate (`"\ud800"`) and JSON.parse accepts it, but such a string is not Unicode
 * text: it has no UTF-8 form, so DuckDB's JSON reader refuses the staged line and Parquet could not hold it anyway.
 */
function loneSurrogate(value: string): string | undefined {
  const found = LONE_SURROGATE.exec(value)
  if (!found) return undefined
  const unit = value.charCodeAt(found.index).toString(16)
  return `holds a lone UTF-16 surrogate (\\u${unit} at character ${found.index}), which is not Unicode text`
}

/**
 * A purchase's total is the sum of its lines, quantity times unit price. Every amount was checked to have at most two
 * decimals, so both sides are whole cents and compare exactly; a total that is off by any cent is a producer's bug
 * (revenue is read from total, product figures from the lines, and they must agree).
 */
function checkTotal(total: number, items: LineItem[]): string | undefined {
  let lineCents = 0
  for (const line of items) lineCents += Math.round(line.unit_price * 100) * line.quantity
  const totalCents = Math.round(total * 100)
  if (totalCents === lineCents) return undefined
  return `field "total" ${formatCents(totalCents)} is not the sum of the items' quantity x unit_price (${formatCents(lineCents)})`
}

function formatCents(cents: number): string {
  return (cents / 100).toFixed(2)
}

/**
 * What is wrong with a non-null value for one field of the contract, as the end of a reason ("must be a string"), or
 * undefined when it is fine. For mappers of other formats (segment.ts), which word the reason with their own field.
 */
export function checkField(name: FieldName, value: unknown): string | undefined {
  return checkValue(FIELDS[name].spec, value)
}

function checkValue(spec: FieldSpec, value: unknown): string | undefined {
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') return 'must be a string'
      if (value.length === 0) return 'must not be empty'
      if (value.length > spec.maxLength) return `is longer than ${spec.maxLength} characters`
      if (spec.pattern && !spec.pattern.test(value)) return `does not match ${spec.pattern}`
      return loneSurrogate(value)
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value)
        ? undefined
        : `must be one of ${spec.values.join(', ')}`
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer'
      return value < spec.min || value > spec.max ? `must be between ${spec.min} and ${spec.max}` : undefined
    case 'money':
      return checkMoney(value)
    case 'timestamp':
      if (typeof value !== 'string' || !ISO_UTC_MS.test(value)) {
        return 'must be an ISO 8601 UTC time with milliseconds, like 2026-03-01T14:05:09.120Z'
      }
      if (!isRealTime(value)) return 'is not a real calendar time'
      // ISO strings of one format compare in time order.
      return value < MIN_EVENT_TIME || value >= MAX_EVENT_TIME
        ? `must be between ${MIN_EVENT_TIME} and ${MAX_EVENT_TIME}`
        : undefined
    case 'country':
      return typeof value === 'string' && COUNTRY.test(value) ? undefined : 'must be an ISO 3166-1 alpha-2 code'
    case 'items':
      return checkItems(value)
  }
}

/**
 * Whether a string of ISO_UTC_MS's shape names a real time: what `new Date(value).toISOString() === value` says
 * (Date.parse rolls impossible days over, 2026-02-30 becoming 2026-03-02, and hour 24 over to the next day), from
 * the digits alone, several times faster.
 */
function isRealTime(value: string): boolean {
  const year = digits(value, 0, 4)
  const month = digits(value, 5, 2)
  const day = digits(value, 8, 2)
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    digits(value, 11, 2) <= 23 &&
    digits(value, 14, 2) <= 59 &&
    digits(value, 17, 2) <= 59
  )
}

function digits(text: string, start: number, count: number): number {
  let n = 0
  for (let i = start; i < start + count; i++) n = n * 10 + (text.charCodeAt(i) - 48)
  return n
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

function checkMoney(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number'
  if (value < 0 || value > MAX_MONEY) return `must be between 0 and ${MAX_MONEY}`
  // Money has at most two decimals; compare in cents to tolerate binary floating point. The tolerance grows with
  // the amount because a double's rounding error does (1234567890.12 * 100 is off by ~1.5e-5).
  const cents = value * 100
  const tolerance = Math.max(1e-6, Math.abs(cents) * 4 * Number.EPSILON)
  return Math.abs(cents - Math.round(cents)) > tolerance ? 'must have at most two decimals' : undefined
}

function checkItems(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return 'must be a non-empty list of order lines'
  for (const [i, line] of value.entries()) {
    if (typeof line !== 'object' || line === null) return `[${i}] must be an object`
    const keys = Object.keys(line)
    const extra = keys.find((k) => k !== 'product_id' && k !== 'quantity' && k !== 'unit_price')
    if (extra) return `[${i}] has unknown field ${quoted(extra)}`
    const {product_id, quantity, unit_price} = line as Record<string, unknown>
    const problem =
      checkValue(FIELDS.product_id.spec, product_id) ??
      checkValue(FIELDS.quantity.spec, quantity) ??
      checkValue(FIELDS.unit_price.spec, unit_price)
    if (problem) return `[${i}] ${problem}`
  }
  return undefined
}

/** Parses one NDJSON line and validates it. */
export function parseEventLine(line: string): ValidationResult {
  const verdict = parseEventText(line)
  return verdict.ok ? {ok: true, event: verdict.event} : verdict
}

/** A valid event with its contract-order JSON line, or the reason it is not one. */
export type EventTextVerdict = {ok: true; event: ShopEvent; line: string} | {ok: false; reason: string}

/**
 * Parses one JSON text and validates it (as parseEventLine, with the same reasons), and gives a valid event's line in
 * contract order (serializeEvent). The scan for duplicate keys, which JSON.parse hides, is skipped when the text is
 * that line already, as every message of a producer that writes events in contract order is: such a text names each
 * key once.
 */
export function parseEventText(text: string): EventTextVerdict {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return {ok: false, reason: `not valid JSON: ${wellFormed((error as Error).message)}`}
  }
  const verdict = validateEvent(value)
  const line = verdict.ok ? serializeEvent(verdict.event) : undefined
  if (line !== text) {
    // A duplicate key is the reason of record even when the value also breaks the contract.
    const duplicate = duplicateKey(text)
    if (duplicate !== undefined) return {ok: false, reason: `duplicate key ${quoted(duplicate)}`}
  }
  return verdict.ok ? {ok: true, event: verdict.event, line: line as string} : verdict
}
