import {absent, fail, field, ok, type Read, type Who} from './segment-context.js'
import {
  currency,
  money,
  orderId,
  orderLines,
  paymentMethod,
  productId,
  quantity,
  refundReason,
  text,
} from './segment-values.js'
import {checkField, quoted} from './validate.js'

/** One builder per ecap event type: the event's own fields from a Segment call's properties (docs/segment.md). */

/** The fields every ecap event takes from the message, read once before the event's own. */
export interface Common {
  eventId: string
  eventTime: string
  who: Who
  device: 'desktop' | 'mobile' | 'tablet'
  ipCountry: string
}

export type Build = (properties: unknown, common: Common) => Read<Record<string, unknown>>

/** page calls: the path from properties.path (analytics.js fills it), else the path of properties.url. */
export function pageView(properties: unknown): Read<Record<string, unknown>> {
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

export function productView(properties: unknown): Read<Record<string, unknown>> {
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

export function cartChange(
  type: 'add_to_cart' | 'remove_from_cart',
  properties: unknown,
): Read<Record<string, unknown>> {
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
export function checkoutStarted(properties: unknown): Read<Record<string, unknown>> {
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
export function purchase(properties: unknown, common: Common): Read<Record<string, unknown>> {
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
export function refund(properties: unknown): Read<Record<string, unknown>> {
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
export function search(properties: unknown): Read<Record<string, unknown>> {
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
