import type {EventOf, EventType} from '../../src/lib/events/index.js'

/**
 * One well-formed event of every type. Typed as a mapped type over EventType, so adding an event type to the
 * contract fails the typecheck until it has an example here.
 */
const EXAMPLES: {[T in EventType]: Omit<EventOf<T>, 'event_id' | 'event_time'>} = {
  page_view: {...common('page_view'), page: '/category/garden'},
  product_view: {
    ...common('product_view'),
    product_id: 'p00123',
    category: 'garden',
    unit_price: 19.99,
    currency: 'EUR',
  },
  search: {...common('search'), query: 'garden hose', results_count: 42},
  add_to_cart: {...common('add_to_cart'), product_id: 'p00123', quantity: 2, unit_price: 19.99, currency: 'EUR'},
  remove_from_cart: {
    ...common('remove_from_cart'),
    product_id: 'p00123',
    quantity: 1,
    unit_price: 19.99,
    currency: 'EUR',
  },
  checkout_started: {...common('checkout_started'), item_count: 3, total: 54.97, currency: 'EUR'},
  purchase: {
    ...common('purchase'),
    order_id: 'o0000042',
    items: [
      {product_id: 'p00123', quantity: 2, unit_price: 19.99},
      {product_id: 'p00456', quantity: 1, unit_price: 14.99},
    ],
    total: 54.97,
    currency: 'EUR',
    payment_method: 'card',
    card_fingerprint: '9f86d081884c7d65',
    billing_country: 'DE',
    shipping_country: 'DE',
  },
  refund: {...common('refund'), order_id: 'o0000042', amount: 14.99, currency: 'EUR', reason: 'damaged'},
}

function common<T extends EventType>(type: T) {
  return {
    schema_version: 1,
    event_type: type,
    customer_id: 'c000042',
    session_id: 's00000001a',
    device: 'desktop',
    ip_country: 'DE',
  } as const
}

let sequence = 0

/**
 * A valid event of `type`, with `overrides` applied. Each call gets a fresh, deterministic event_id and an
 * event_time one second after the previous call's, so events from one test run are distinct but reproducible.
 */
export function makeEvent<T extends EventType>(type: T, overrides: Partial<EventOf<T>> = {}): EventOf<T> {
  sequence += 1
  const example = structuredClone(EXAMPLES[type])
  return {
    event_id: `00000000-0000-4000-8000-${sequence.toString(16).padStart(12, '0')}`,
    event_time: new Date(Date.UTC(2026, 2, 1, 12, 0, 0) + sequence * 1000).toISOString(),
    ...example,
    ...overrides,
  } as EventOf<T>
}

/** A copy of `event` without `field`, for testing what a missing field does. */
export function withoutField(event: object, field: string): Record<string, unknown> {
  const copy: Record<string, unknown> = {...event}
  delete copy[field]
  return copy
}
