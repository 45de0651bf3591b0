import {SCHEMA_VERSION} from './contract.js'
import {duplicateKey} from './duplicate-keys.js'
import {absent, device, eventId, eventTime, fail, field, ipCountry, who} from './segment-context.js'
import {
  type Build,
  type Common,
  cartChange,
  checkoutStarted,
  pageView,
  productView,
  purchase,
  refund,
  search,
} from './segment-events.js'
import {serializeEvent} from './serialize.js'
import {type EventTextVerdict, quoted, type ValidationResult, validateEvent, wellFormed} from './validate.js'

/**
 * Messages in the shape of Segment's Spec (track calls of its e-commerce events, page calls), as Segment, RudderStack
 * and other tools that follow it send them, mapped to ecap events: `ecap ingest --input segment`. A message that
 * cannot become a valid event gets a reason naming the Segment field to fix, and ends as a dead letter like any
 * rejected native event. docs/segment.md is the field-by-field reference. This module picks the mapping of each call;
 * segment-context.ts reads the fields every event takes from the envelope, segment-events.ts builds each event type
 * and segment-values.ts reads the values of properties.
 */

/**
 * The Segment e-commerce events ecap has an event type for, by their v2 names and the v1 names the spec keeps as
 * aliases. Everything else (Cart Viewed, Coupon Applied, Product List Viewed, ...) is dead-lettered as unsupported:
 * the contract has no event that says the same thing.
 */
const TRACK_EVENTS = new Map<string, Build>([
  ['Product Viewed', productView],
  ['Viewed Product', productView],
  ['Product Added', (p) => cartChange('add_to_cart', p)],
  ['Added Product', (p) => cartChange('add_to_cart', p)],
  ['Product Removed', (p) => cartChange('remove_from_cart', p)],
  ['Removed Product', (p) => cartChange('remove_from_cart', p)],
  ['Checkout Started', checkoutStarted],
  ['Started Order', checkoutStarted],
  ['Order Completed', purchase],
  ['Completed Order', purchase],
  ['Order Refunded', refund],
  ['Products Searched', search],
  ['Searched Products', search],
])

/** The v2 names, for reasons. */
const MAPPED_NAMES = [
  'Product Viewed',
  'Product Added',
  'Product Removed',
  'Checkout Started',
  'Order Completed',
  'Order Refunded',
  'Products Searched',
]

/** Calls that describe a person, a group or a screen rather than something that happened in the shop. */
const NOT_SHOP_EVENTS = new Set(['identify', 'group', 'alias', 'screen'])

/**
 * Maps one parsed Segment message to an ecap event, checked against the contract, or gives the reason it cannot be
 * one. Never throws, whatever the value.
 */
export function segmentToEvent(message: unknown): ValidationResult {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return fail('not a JSON object')
  }
  if (Array.isArray(field(message, 'batch'))) {
    return fail('a Segment batch ({"batch": [...]}) holds several messages; produce one message per Kafka record')
  }
  const type = field(message, 'type')
  let build: Build
  if (type === 'page') build = pageView
  else if (type === 'track') {
    const name = field(message, 'event')
    if (typeof name !== 'string') return fail('track call without an event name (field "event")')
    const known = TRACK_EVENTS.get(name)
    if (known === undefined) {
      return fail(`unsupported event ${quoted(name)}: ecap maps ${MAPPED_NAMES.join(', ')} and page calls`)
    }
    build = known
  } else if (typeof type === 'string' && NOT_SHOP_EVENTS.has(type)) {
    return fail(`Segment ${type} call: not a shop event (ecap maps track and page calls)`)
  } else if (absent(type)) {
    return fail('missing field "type": not a Segment message (track, page, identify, ...)')
  } else {
    return fail(`field "type" ${quoted(type)} is not a Segment call type (track, page, identify, ...)`)
  }
  const id = eventId(message)
  if (!id.ok) return id
  const time = eventTime(message)
  if (!time.ok) return time
  const person = who(message)
  if (!person.ok) return person
  const common: Common = {
    eventId: id.value,
    eventTime: time.value,
    who: person.value,
    device: device(message),
    ipCountry: ipCountry(message),
  }
  const properties = field(message, 'properties')
  if (!absent(properties) && (typeof properties !== 'object' || Array.isArray(properties))) {
    return fail('properties must be an object')
  }
  const own = build(properties ?? {}, common)
  if (!own.ok) return own
  const verdict = validateEvent({
    schema_version: SCHEMA_VERSION,
    event_id: common.eventId,
    event_type: own.value.event_type,
    event_time: common.eventTime,
    customer_id: common.who.customerId,
    session_id: common.who.sessionId,
    device: common.device,
    ip_country: common.ipCountry,
    ...own.value,
  })
  // Every field was checked on the way in, so this is a guard: a reason here is a gap in this mapper.
  return verdict.ok ? verdict : fail(`the mapped event breaks the contract: ${verdict.reason}`)
}

/**
 * Parses one message's text as a Segment message and maps it (segmentToEvent), with the reasons the native path gives
 * for text that is not JSON or names a key twice, and the event's contract-order line.
 */
export function parseSegmentText(text: string): EventTextVerdict {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return fail(`not valid JSON: ${wellFormed((error as Error).message)}`)
  }
  const duplicate = duplicateKey(text)
  if (duplicate !== undefined) return fail(`duplicate key ${quoted(duplicate)}`)
  const verdict = segmentToEvent(value)
  return verdict.ok ? {ok: true, event: verdict.event, line: serializeEvent(verdict.event)} : verdict
}
