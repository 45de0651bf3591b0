import {absent, fail, field, ok, type Read} from './segment-context.js'
import type {LineItem} from './types.js'
import {checkField, quoted} from './validate.js'

/** The values an event takes from a Segment call's properties, each checked against its contract field. */

/** A product's id: product_id, else sku (the spec allows either to be the product's identifier). */
export function productId(product: unknown, prefix: string): Read<string> {
  const hasId = !absent(field(product, 'product_id'))
  const name = hasId ? 'product_id' : 'sku'
  const value = field(product, name)
  if (absent(value)) return fail(`missing ${prefix}product_id (or ${prefix}sku)`)
  return idValue(value, `${prefix}${name}`, 'product_id')
}

export function orderId(properties: unknown): Read<string> {
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

export function text(record: unknown, key: string, name: string, target: 'category' | 'query'): Read<string> {
  const value = field(record, key)
  if (absent(value)) return fail(`missing ${name}`)
  const problem = checkField(target, value)
  return problem ? fail(`${name} ${problem}`) : ok(value as string)
}

export function money(record: unknown, key: string, name: string, target: 'unit_price' | 'amount'): Read<number> {
  const value = field(record, key)
  if (absent(value)) return fail(`missing ${name}`)
  const problem = checkField(target, value)
  return problem ? fail(`${name} ${problem}`) : ok(value as number)
}

export function quantity(record: unknown, name: string): Read<number> {
  const value = field(record, 'quantity')
  if (absent(value)) return fail(`missing ${name}`)
  const problem = checkField('quantity', value)
  return problem ? fail(`${name} ${problem}`) : ok(value as number)
}

/** properties.currency, upper-cased (the spec's own example writes 'usd'); USD when absent, as the spec says. */
export function currency(properties: unknown): Read<string> {
  const value = field(properties, 'currency')
  if (absent(value)) return ok('USD')
  const code = typeof value === 'string' ? value.toUpperCase() : value
  const problem = checkField('currency', code)
  return problem
    ? fail(`properties.currency ${quoted(value)} must be an ISO 4217 code such as USD`)
    : ok(code as string)
}

/** The lines of properties.products and their sum in whole cents (every price has at most two decimals). */
export function orderLines(properties: unknown, event: string): Read<{items: LineItem[]; total: number}> {
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
export function paymentMethod(properties: unknown): Read<string> {
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
export function refundReason(properties: unknown): Read<string> {
  const value = field(properties, 'reason')
  if (absent(value)) return ok('changed_mind')
  const reason = typeof value === 'string' ? spelling(value) : undefined
  if (reason === undefined || !REFUND_REASONS.has(reason)) {
    return fail(`properties.reason ${quoted(value)} is none of ecap's ${[...REFUND_REASONS].join(', ')}`)
  }
  return ok(reason)
}
