import {duplicateKey} from './duplicate-keys.js'
import {
  absent,
  device,
  eventId,
  eventTime,
  fail,
  field,
  ipCountry,
  ok,
  type Read,
  type Who,
  who,
} from './segment-context.js'
import {serializeEvent} from './serialize.js'
import type {LineItem} from './types.js'
import {
  checkField,
  type EventTextVerdict,
  quoted,
  type ValidationResult,
  validateEvent,
  wellFormed,
} from './validate.js'

/**
 * Messages in the shape of Segment's Spec (track calls of its e-commerce events, page calls), as Segment, RudderStack
 * and other tools that follow it send them, mapped to ecap events: `ecap ingest --input segment`. A message that
 * cannot become a valid event gets a reason naming the Segment field to fix, and ends as a dead letter like any
 * rejected native event. docs/segment.md is the field-by-field reference.
 */

/** The fields every ecap event takes from the message, read once before the event's own. */
interface Common {
  eventId: string
  eventTime: string
  who: Who
  device: 'desktop' | 'mobile' | 'tablet'
  ipCountry: string
}

type Build = (properties: unknown, common: Common) => Read<Record<string, unknown>>

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
    return fail(
      'a Segment batch ({"batch": [...]}) holds several messages; produce one message per Kafka record, as Segment and RudderStack destinations do',
    )
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
    schema_version: 1,
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

/** page calls: the path from properties.path (analytics.js fills it), else the path of properties.url. */
function pageView(properties: unknown): Read<Record<string, unknown>> {
  const page = pagePath(properties)
  if (!page.ok) return page
  return ok({event_type: 'page_view', page: page.value})
}

function pagePath(properties: unknown): Read<string> {
  const path = field(properties, 'path')
  const url = field(properties, 'url')
  let value: string | undefined
  let name = 'properties.path'
  if (typeof path === 'string' && path !== '') value = path
  else if (typeof url === 'string' && url !== '') {
    name = 'properties.url'
    try {
      value = new URL(url).pathname
    } catch {
      return fail(`properties.url ${quoted(url)} is not a URL`)
    }
  }
  if (value === undefined) return fail('page call without properties.path or properties.url')
  const problem = checkField('page', value)
  return problem ? fail(`${name} ${quoted(value)} cannot be ecap's page: it ${problem}`) : ok(value)
}

function productView(properties: unknown): Read<Record<string, unknown>> {
  const product = productId(properties, 'properties.')
  if (!product.ok) return product
  const category = text(properties, 'category', 'properties.category', 'category')
  if (!category.ok) return category
  const price = money(properties, 'price', 'properties.price', 'unit_price')
  if (!price.ok) return price
  const code = currency(properties)
  if (!code.ok) return code
  return ok({
    event_type: 'product_view',
    product_id: product.value,
    category: category.value,
    unit_price: price.value,
    currency: code.value,
  })
}

function cartChange(type: 'add_to_cart' | 'remove_from_cart', properties: unknown): Read<Record<string, unknown>> {
  const product = productId(properties, 'properties.')
  if (!product.ok) return product
  const units = quantity(properties, 'properties.quantity')
  if (!units.ok) return units
  const price = money(properties, 'price', 'properties.price', 'unit_price')
  if (!price.ok) return price
  const code = currency(properties)
  if (!code.ok) return code
  return ok({
    event_type: type,
    product_id: product.value,
    quantity: units.value,
    unit_price: price.value,
    currency: code.value,
  })
}

/** Checkout Started: the units and the value of the cart, from its products (the spec asks for all of them). */
function checkoutStarted(properties: unknown): Read<Record<string, unknown>> {
  const lines = orderLines(properties, 'Checkout Started')
  if (!lines.ok) return lines
  const code = currency(properties)
  if (!code.ok) return code
  const itemCount = lines.value.items.reduce((units, line) => units + line.quantity, 0)
  const problem = checkField('item_count', itemCount)
  if (problem) return fail(`the units of properties.products (${itemCount}) cannot be ecap's item_count: it ${problem}`)
  return ok({event_type: 'checkout_started', item_count: itemCount, total: lines.value.total, currency: code.value})
}

/**
 * Order Completed: the order's lines from products, and total their sum, which is what the contract's total is
 * (Segment's total, revenue and subtotal each add or leave out shipping, tax and discounts as the shop decides).
 */
function purchase(properties: unknown, common: Common): Read<Record<string, unknown>> {
  const order = orderId(properties)
  if (!order.ok) return order
  const lines = orderLines(properties, 'Order Completed')
  if (!lines.ok) return lines
  const code = currency(properties)
  if (!code.ok) return code
  const method = paymentMethod(properties)
  if (!method.ok) return method
  return ok({
    event_type: 'purchase',
    order_id: order.value,
    items: lines.value.items,
    total: lines.value.total,
    currency: code.value,
    payment_method: method.value,
    card_fingerprint: null,
    // The spec carries no address: the one country the message may say is where the visitor is.
    billing_country: common.ipCountry,
    shipping_country: common.ipCountry,
  })
}

/** Order Refunded: the amount is properties.total, else revenue, else the sum of the products refunded. */
function refund(properties: unknown): Read<Record<string, unknown>> {
  const order = orderId(properties)
  if (!order.ok) return order
  let amount: Read<number>
  if (!absent(field(properties, 'total'))) amount = money(properties, 'total', 'properties.total', 'amount')
  else if (!absent(field(properties, 'revenue'))) amount = money(properties, 'revenue', 'properties.revenue', 'amount')
  else if (!absent(field(properties, 'products'))) {
    const lines = orderLines(properties, 'Order Refunded')
    amount = lines.ok ? ok(lines.value.total) : lines
  } else amount = fail('Order Refunded without an amount: set properties.total (or the products refunded)')
  if (!amount.ok) return amount
  const code = currency(properties)
  if (!code.ok) return code
  const why = refundReason(properties)
  if (!why.ok) return why
  return ok({
    event_type: 'refund',
    order_id: order.value,
    amount: amount.value,
    currency: code.value,
    reason: why.value,
  })
}

/** Products Searched: the query, and properties.results_count, which the spec lacks and ecap's search requires. */
function search(properties: unknown): Read<Record<string, unknown>> {
  const query = text(properties, 'query', 'properties.query', 'query')
  if (!query.ok) return query
  const count = field(properties, 'results_count')
  if (absent(count)) {
    return fail(
      'Products Searched without properties.results_count: ecap records how many products a search returned; add it to the call',
    )
  }
  const problem = checkField('results_count', count)
  if (problem) return fail(`properties.results_count ${problem}`)
  return ok({event_type: 'search', query: query.value, results_count: count})
}

/** A product's id: product_id, else sku (the spec allows either to be the product's identifier). */
function productId(product: unknown, prefix: string): Read<string> {
  const hasId = !absent(field(product, 'product_id'))
  const name = hasId ? 'product_id' : 'sku'
  const value = field(product, name)
  if (absent(value)) return fail(`missing ${prefix}product_id (or ${prefix}sku)`)
  return idValue(value, `${prefix}${name}`, 'product_id')
}

function orderId(properties: unknown): Read<string> {
  const value = field(properties, 'order_id')
  if (absent(value)) return fail('missing properties.order_id')
  return idValue(value, 'properties.order_id', 'order_id')
}

/** An id a shop may send as a string or a number (database ids). */
function idValue(value: unknown, name: string, target: 'product_id' | 'order_id'): Read<string> {
  const id = typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? String(value) : value
  if (typeof id !== 'string') return fail(`${name} must be a string`)
  const problem = checkField(target, id)
  return problem ? fail(`${name} ${quoted(id)} cannot be ecap's ${target}: it ${problem}`) : ok(id)
}

function text(record: unknown, key: string, name: string, target: 'category' | 'query'): Read<string> {
  const value = field(record, key)
  if (absent(value)) return fail(`missing ${name}`)
  const problem = checkField(target, value)
  return problem ? fail(`${name} ${problem}`) : ok(value as string)
}

function money(record: unknown, key: string, name: string, target: 'unit_price' | 'amount'): Read<number> {
  const value = field(record, key)
  if (absent(value)) return fail(`missing ${name}`)
  const problem = checkField(target, value)
  return problem ? fail(`${name} ${problem}`) : ok(value as number)
}

function quantity(record: unknown, name: string): Read<number> {
  const value = field(record, 'quantity')
  if (absent(value)) return fail(`missing ${name}`)
  const problem = checkField('quantity', value)
  return problem ? fail(`${name} ${problem}`) : ok(value as number)
}

/** properties.currency, upper-cased (the spec's own example writes 'usd'); USD when absent, as the spec says. */
function currency(properties: unknown): Read<string> {
  const value = field(properties, 'currency')
  if (absent(value)) return ok('USD')
  const code = typeof value === 'string' ? value.toUpperCase() : value
  const problem = checkField('currency', code)
  return problem
    ? fail(`properties.currency ${quoted(value)} must be an ISO 4217 code such as USD`)
    : ok(code as string)
}

/** The lines of properties.products and their sum in whole cents (every price has at most two decimals). */
function orderLines(properties: unknown, event: string): Read<{items: LineItem[]; total: number}> {
  const products = field(properties, 'products')
  if (absent(products)) return fail(`${event} without properties.products`)
  if (!Array.isArray(products) || products.length === 0) return fail('properties.products must be a non-empty list')
  const items: LineItem[] = []
  let cents = 0
  for (const [i, product] of products.entries()) {
    const prefix = `properties.products[${i}].`
    if (typeof product !== 'object' || product === null || Array.isArray(product)) {
      return fail(`properties.products[${i}] must be an object`)
    }
    const id = productId(product, prefix)
    if (!id.ok) return id
    const units = quantity(product, `${prefix}quantity`)
    if (!units.ok) return units
    const price = money(product, 'price', `${prefix}price`, 'unit_price')
    if (!price.ok) return price
    items.push({product_id: id.value, quantity: units.value, unit_price: price.value})
    cents += Math.round(price.value * 100) * units.value
  }
  const total = cents / 100
  const problem = checkField('total', total)
  if (problem) return fail(`the sum of properties.products (${total.toFixed(2)}) cannot be ecap's total: it ${problem}`)
  return ok({items, total})
}

/** Spellings shops use for the payment methods the contract knows; the key is lower-case with `_` for spaces. */
const PAYMENT_METHODS = new Map<string, string>([
  ...[
    'card',
    'credit_card',
    'debit_card',
    'creditcard',
    'visa',
    'mastercard',
    'amex',
    'american_express',
    'maestro',
    'discover',
  ].map((name) => [name, 'card'] as [string, string]),
  ['paypal', 'paypal'],
  ['apple_pay', 'apple_pay'],
  ['applepay', 'apple_pay'],
  ['gift_card', 'gift_card'],
  ['giftcard', 'gift_card'],
])

function spelling(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_')
}

/**
 * properties.payment_method (a semantic property of Segment's checkout steps, which shops add to Order Completed),
 * mapped to the contract's methods; `card` when absent, as `ecap import` fills it: the contract has no "unknown".
 */
function paymentMethod(properties: unknown): Read<string> {
  const value = field(properties, 'payment_method')
  if (absent(value)) return ok('card')
  const method = typeof value === 'string' ? PAYMENT_METHODS.get(spelling(value)) : undefined
  if (method === undefined) {
    return fail(
      `properties.payment_method ${quoted(value)} is none of ecap's card, paypal, apple_pay, gift_card (or their usual spellings)`,
    )
  }
  return ok(method)
}

const REFUND_REASONS = new Set(['damaged', 'not_as_described', 'changed_mind', 'late_delivery', 'chargeback'])

/**
 * properties.reason when it names one of the contract's reasons; `changed_mind` when absent, as `ecap import` fills
 * it: the one reason that blames neither the goods, the shop nor the bank.
 */
function refundReason(properties: unknown): Read<string> {
  const value = field(properties, 'reason')
  if (absent(value)) return ok('changed_mind')
  const reason = typeof value === 'string' ? spelling(value) : undefined
  if (reason === undefined || !REFUND_REASONS.has(reason)) {
    return fail(`properties.reason ${quoted(value)} is none of ecap's ${[...REFUND_REASONS].join(', ')}`)
  }
  return ok(reason)
}
