import {createHash} from 'node:crypto'
import {MAX_EVENT_TIME, MIN_EVENT_TIME} from './contract.js'
import {checkField, quoted} from './validate.js'

/**
 * The parts of a Segment message that every ecap event needs (docs/segment.md, "Every event"): the event id, the time,
 * who and which session, the device and the country. Each reader returns the value or a reason naming the Segment
 * field it came from, so a dead letter says what to fix in the tracking code.
 */

export type Read<T> = {ok: true; value: T} | {ok: false; reason: string}

export const ok = <T>(value: T): Read<T> => ({ok: true, value})
export const fail = (reason: string): {ok: false; reason: string} => ({ok: false, reason})

/** An own property of a parsed JSON object, or undefined (inherited names such as "toString" are not fields). */
export function field(record: unknown, name: string): unknown {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined
  return Object.hasOwn(record, name) ? (record as Record<string, unknown>)[name] : undefined
}

/** An absent value: left out or null, which JSON producers use interchangeably. */
export const absent = (value: unknown): value is undefined | null => value === undefined || value === null

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Namespace of the name-based ids of Segment messages whose messageId is not a UUID (RFC 9562 version 5). Fixed
 * forever: changing it would give a replayed message another event_id, and the lake would count it twice.
 */
const MESSAGE_ID_NAMESPACE = Buffer.from('5b0e3c1e7a0f4d6b9c2e8f1a4d3b6c70', 'hex')

/**
 * event_id from messageId, the id Segment and RudderStack give each message and keep on every retry: a UUID is kept
 * (lower-cased), anything else becomes the version-5 UUID of its text, so a resent message has the same event_id
 * and is counted once (docs/duplicates.md).
 */
export function eventId(message: unknown): Read<string> {
  const id = field(message, 'messageId')
  if (absent(id)) return fail('missing messageId (ecap keys each event on it to count a resent message once)')
  if (typeof id !== 'string' || id.length === 0) return fail('messageId must be a non-empty string')
  if (UUID.test(id)) return ok(id.toLowerCase())
  const hash = createHash('sha1').update(MESSAGE_ID_NAMESPACE).update(id, 'utf8').digest()
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return ok(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`)
}

const MIN_MS = Date.parse(MIN_EVENT_TIME)
const MAX_MS = Date.parse(MAX_EVENT_TIME)

/**
 * What follows the seconds of an ISO 8601 time with a zone: any number of fraction digits, then Z or an offset.
 * Segment's timestamps are such strings; the date and time before it are read digit by digit (fixedDigits).
 */
const ZONED_TAIL = /^(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})$/

/** `YYYY-MM-DDTHH:MM:SS`: where each separator sits and what it is. */
const SEPARATORS: [number, string][] = [
  [4, '-'],
  [7, '-'],
  [10, 'T'],
  [13, ':'],
  [16, ':'],
]

/**
 * event_time from `timestamp` (Segment's time of the event, corrected for the device's clock skew), else
 * `originalTimestamp` (the device's own clock, all a message has before Segment or RudderStack stamps it). sentAt and
 * receivedAt say when the message travelled, not when the event happened, and are never used. A time without a
 * zone is refused: it could be any of 26 hours.
 */
export function eventTime(message: unknown): Read<string> {
  const name = absent(field(message, 'timestamp')) ? 'originalTimestamp' : 'timestamp'
  const value = field(message, name)
  if (absent(value)) return fail('missing timestamp (and originalTimestamp)')
  const tail = typeof value === 'string' && isDateTime(value) ? ZONED_TAIL.exec(value.slice(19)) : null
  if (typeof value !== 'string' || tail === null) {
    return fail(`${name} ${quoted(value)} must be an ISO 8601 time with a zone, like 2026-03-01T14:05:09.120Z`)
  }
  const year = fixedDigits(value, 0, 4)
  const month = fixedDigits(value, 5, 2)
  const day = fixedDigits(value, 8, 2)
  const hour = fixedDigits(value, 11, 2)
  const minute = fixedDigits(value, 14, 2)
  const second = fixedDigits(value, 17, 2)
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return fail(`${name} ${quoted(value)} is not a real calendar time`)
  }
  // Only milliseconds matter: the contract keeps no finer. The zone's offset is subtracted to get UTC.
  const fraction = tail[1] ?? ''
  const millis = Number(fraction.slice(0, 3).padEnd(3, '0'))
  const zone = tail[2] as string
  const offset = zone === 'Z' ? 0 : zoneMinutes(zone)
  if (offset === undefined) return fail(`${name} ${quoted(value)} has a zone offset beyond ±23:59`)
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset * 60_000
  // Date.UTC reads years 0-99 as 1900-1999: those fall below the bound too, as they should.
  if (ms < MIN_MS || ms >= MAX_MS) {
    return fail(`${name} ${quoted(value)} must fall between ${MIN_EVENT_TIME} and ${MAX_EVENT_TIME}`)
  }
  // Most messages carry the contract's own spelling (UTC, three fraction digits): it is already the event_time.
  return ok(zone === 'Z' && fraction.length === 3 ? value : new Date(ms).toISOString())
}

/** Whether the text starts `DDDD-DD-DDTDD:DD:DD` (D a digit). */
function isDateTime(text: string): boolean {
  if (text.length < 20) return false
  for (const [at, separator] of SEPARATORS) if (text[at] !== separator) return false
  for (let i = 0; i < 19; i++) {
    if (i === 4 || i === 7 || i === 10 || i === 13 || i === 16) continue
    const c = text.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/** The number written by `count` digits at `start` (already checked to be digits). */
function fixedDigits(text: string, start: number, count: number): number {
  let n = 0
  for (let i = start; i < start + count; i++) n = n * 10 + (text.charCodeAt(i) - 48)
  return n
}

/** Minutes east of UTC of a zone written +hh:mm, +hhmm or -hh:mm. */
function zoneMinutes(zone: string): number | undefined {
  const digits = zone.replace(':', '')
  const hours = Number(digits.slice(1, 3))
  const minutes = Number(digits.slice(3, 5))
  if (hours > 23 || minutes > 59) return undefined
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes)
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** A Segment id (userId, anonymousId, sessionId): a string, or a number, which some libraries send. */
function idText(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return undefined
}

/** An id checked against an ecap id field (customer_id, session_id), the reason naming the Segment field. */
function idField(name: string, value: unknown, target: 'customer_id' | 'session_id'): Read<string> {
  const text = idText(value)
  if (text === undefined) return fail(`${name} must be a non-empty string`)
  const problem = checkField(target, text)
  return problem ? fail(`${name} ${quoted(text)} cannot be ecap's ${target}: it ${problem}`) : ok(text)
}

export interface Who {
  customerId: string | null
  sessionId: string
}

/**
 * customer_id is userId (null without one: anonymous traffic). session_id is the session id RudderStack's SDKs send
 * (`context.sessionId`), else the anonymousId (one browser or app install: its visits read as one long session),
 * else the userId (server-side calls carry nothing else).
 */
export function who(message: unknown): Read<Who> {
  const userId = field(message, 'userId')
  const anonymousId = field(message, 'anonymousId')
  if (absent(userId) && absent(anonymousId)) {
    return fail('neither userId nor anonymousId is set (Segment requires one of them)')
  }
  let customerId: string | null = null
  if (!absent(userId)) {
    const read = idField('userId', userId, 'customer_id')
    if (!read.ok) return read
    customerId = read.value
  }
  const sessionId = field(field(message, 'context'), 'sessionId')
  const session = !absent(sessionId)
    ? idField('context.sessionId', sessionId, 'session_id')
    : !absent(anonymousId)
      ? idField('anonymousId', anonymousId, 'session_id')
      : idField('userId', userId, 'session_id')
  if (!session.ok) return session
  return ok({customerId, sessionId: session.value})
}

type Device = 'desktop' | 'mobile' | 'tablet'

const TABLET_AGENT = /iPad|Tablet|Kindle|Silk|PlayBook|Nexus (?:7|9|10)/i
const MOBILE_AGENT = /Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry|Opera Mini/i

/**
 * device from what the message says of it: `context.device.type` when it is one of ecap's kinds, or a phone OS
 * (ios, android: mobile); else the user agent (analytics.js sends it); else desktop, as for a server-side call,
 * which says nothing of the visitor's device (the same constant `ecap import` uses).
 */
export function device(message: unknown): Device {
  const context = field(message, 'context')
  const type = field(field(context, 'device'), 'type')
  if (typeof type === 'string') {
    const kind = type.toLowerCase()
    if (kind === 'desktop' || kind === 'mobile' || kind === 'tablet') return kind
    if (kind === 'ipados') return 'tablet'
    if (kind === 'ios' || kind === 'android') {
      const model = field(field(context, 'device'), 'model')
      return typeof model === 'string' && /iPad|Tab/i.test(model) ? 'tablet' : 'mobile'
    }
  }
  const agent = field(context, 'userAgent')
  if (typeof agent === 'string') {
    // Android tablets leave "Mobile" out of their user agent; phones put it in.
    if (TABLET_AGENT.test(agent) || (/Android/i.test(agent) && !/Mobile/i.test(agent))) return 'tablet'
    if (MOBILE_AGENT.test(agent)) return 'mobile'
    return 'desktop'
  }
  if (field(field(context, 'userAgentData'), 'mobile') === true) return 'mobile'
  return 'desktop'
}

/** Common spellings that are not CLDR's English names; UK is reserved in ISO 3166-1, the code is GB. */
const ALIASES = new Map([
  ['UK', 'GB'],
  ['USA', 'US'],
  ['GREAT BRITAIN', 'GB'],
])

/** English names of ISO 3166-1 regions, upper-cased, to their codes: what `context.location.country` holds. */
let countryCodes: Map<string, string> | undefined

function codesByName(): Map<string, string> {
  if (countryCodes) return countryCodes
  const names = new Intl.DisplayNames(['en'], {type: 'region'})
  const map = new Map<string, string>()
  for (let a = 65; a <= 90; a++) {
    for (let b = 65; b <= 90; b++) {
      const code = String.fromCharCode(a, b)
      const name = names.of(code)
      // DisplayNames echoes a code it has no name for.
      if (name !== undefined && name !== code && code !== 'ZZ') map.set(name.toUpperCase(), code)
    }
  }
  for (const [name, code] of ALIASES) map.set(name, code)
  countryCodes = map
  return map
}

/** `ZZ`: "unknown region" in Unicode CLDR, as `ecap import` writes for a country it cannot name. */
export const UNKNOWN_COUNTRY = 'ZZ'

/**
 * ip_country from `context.location.country`, a two-letter code or an English name ("United States", as in
 * the spec's example), which no Segment library fills by itself: a geo-enriching step of the pipeline or the shop's
 * code does; else ZZ. The locale (`en-US`) is not used: it is the
 * language setting of the device, not where the visitor is, and fraud scoring compares ip_country with the
 * billing and shipping countries.
 */
export function ipCountry(message: unknown): string {
  const country = field(field(field(message, 'context'), 'location'), 'country')
  if (typeof country !== 'string') return UNKNOWN_COUNTRY
  const text = country.trim().toUpperCase()
  const alias = ALIASES.get(text)
  if (alias !== undefined) return alias
  if (/^[A-Z]{2}$/.test(text)) return text
  return codesByName().get(text) ?? UNKNOWN_COUNTRY
}
