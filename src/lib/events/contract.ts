/**
 * The event contract: the one definition of a shop event. The TypeScript types (types.ts), the validation rules
 * (validate.ts), the DuckDB/Parquet column types (columns.ts) and docs/events.md (docs.ts) are all derived from the
 * tables below, so they cannot drift apart. Change a field here and every consumer changes with it.
 */

/** Bumped on any change that an older reader could not handle. Events carry it as `schema_version`. */
export const SCHEMA_VERSION = 1

export type FieldSpec =
  | {
      kind: 'string'
      maxLength: number
      pattern?: RegExp
      example: string
      /** The pattern admits only characters JSON never escapes, so a valid value is written without escaping. */
      plain?: true
    }
  | {kind: 'enum'; values: readonly string[]}
  | {kind: 'int'; min: number; max: number}
  | {kind: 'money'}
  | {kind: 'timestamp'}
  | {kind: 'country'}
  | {kind: 'items'}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Every column an event can have, in the order events are written. */
export const FIELDS = {
  schema_version: {
    spec: {kind: 'int', min: 1, max: SCHEMA_VERSION},
    description: 'Version of this contract the event was written against.',
  },
  event_id: {
    spec: {kind: 'string', maxLength: 36, pattern: UUID, plain: true, example: '0f8e6a3c-2b1d-4e5f-9a7b-3c2d1e0f9a8b'},
    description: 'Unique id of the event (UUID, lower-case hex); the key for de-duplication.',
  },
  event_type: {
    spec: {
      kind: 'enum',
      values: [
        'page_view',
        'product_view',
        'search',
        'add_to_cart',
        'remove_from_cart',
        'checkout_started',
        'purchase',
        'refund',
      ],
    },
    description: 'What happened; decides which of the type-specific fields are present.',
  },
  event_time: {
    spec: {kind: 'timestamp'},
    description: 'When it happened: ISO 8601 in UTC with millisecond precision, e.g. 2026-03-01T14:05:09.120Z.',
  },
  customer_id: {
    spec: {kind: 'string', maxLength: 64, pattern: /^[A-Za-z0-9_.:-]+$/, plain: true, example: 'c000042'},
    description: 'The signed-in customer, or null for anonymous traffic. The Kafka message key.',
  },
  session_id: {
    spec: {kind: 'string', maxLength: 64, pattern: /^[A-Za-z0-9_.:-]+$/, plain: true, example: 's00000001a'},
    description: 'The browsing session the event belongs to.',
  },
  device: {
    spec: {kind: 'enum', values: ['desktop', 'mobile', 'tablet']},
    description: 'Kind of device the session runs on.',
  },
  ip_country: {
    spec: {kind: 'country'},
    description: 'Country of the client IP address (ISO 3166-1 alpha-2).',
  },
  page: {
    spec: {kind: 'string', maxLength: 256, pattern: /^\//, example: '/category/garden'},
    description: 'Path of the page viewed.',
  },
  product_id: {
    spec: {kind: 'string', maxLength: 64, pattern: /^[A-Za-z0-9_.:-]+$/, plain: true, example: 'p00123'},
    description: 'Catalogue id of the product.',
  },
  category: {
    spec: {kind: 'string', maxLength: 64, example: 'garden'},
    description: 'Catalogue category of the product.',
  },
  query: {
    spec: {kind: 'string', maxLength: 256, example: 'garden hose'},
    description: 'Search text the visitor typed.',
  },
  results_count: {
    spec: {kind: 'int', min: 0, max: 1_000_000},
    description: 'Number of products the search returned.',
  },
  quantity: {
    spec: {kind: 'int', min: 1, max: 10_000},
    description: 'Units added to or removed from the cart.',
  },
  unit_price: {
    spec: {kind: 'money'},
    description: 'Price of one unit, in `currency`.',
  },
  order_id: {
    spec: {kind: 'string', maxLength: 64, pattern: /^[A-Za-z0-9_.:-]+$/, plain: true, example: 'o0000042'},
    description: 'The order a purchase creates or a refund returns money for.',
  },
  items: {
    spec: {kind: 'items'},
    description: 'Order lines: a non-empty list of {product_id, quantity, unit_price}.',
  },
  item_count: {
    spec: {kind: 'int', min: 1, max: 100_000},
    description: 'Units in the cart when checkout started.',
  },
  total: {
    spec: {kind: 'money'},
    description:
      'Cart value at checkout, or order total of a purchase: exactly the sum of quantity x unit_price over its items, to the cent (a purchase whose total differs is rejected).',
  },
  amount: {
    spec: {kind: 'money'},
    description: 'Money returned by a refund.',
  },
  currency: {
    spec: {kind: 'string', maxLength: 3, pattern: /^[A-Z]{3}$/, plain: true, example: 'EUR'},
    description: 'ISO 4217 currency code of every amount in the event.',
  },
  payment_method: {
    spec: {kind: 'enum', values: ['card', 'paypal', 'apple_pay', 'gift_card']},
    description: 'How the order was paid.',
  },
  card_fingerprint: {
    spec: {kind: 'string', maxLength: 64, pattern: /^[0-9a-f]{16,64}$/, plain: true, example: '9f86d081884c7d65'},
    description: 'Stable hash of the payment card; null when no card was used.',
  },
  billing_country: {
    spec: {kind: 'country'},
    description: 'Country of the billing address (ISO 3166-1 alpha-2).',
  },
  shipping_country: {
    spec: {kind: 'country'},
    description: 'Country the order ships to (ISO 3166-1 alpha-2).',
  },
  reason: {
    spec: {kind: 'enum', values: ['damaged', 'not_as_described', 'changed_mind', 'late_delivery', 'chargeback']},
    description: 'Why the money was returned.',
  },
} as const satisfies Record<string, {spec: FieldSpec; description: string}>

export type FieldName = keyof typeof FIELDS

/** How a field appears in an event type: always present and non-null, or present and possibly null. */
export type Presence = 'required' | 'nullable'

/** Fields every event has. */
export const COMMON_FIELDS = {
  schema_version: 'required',
  event_id: 'required',
  event_type: 'required',
  event_time: 'required',
  customer_id: 'nullable',
  session_id: 'required',
  device: 'required',
  ip_country: 'required',
} as const satisfies Partial<Record<FieldName, Presence>>

/** The event types and the fields each adds to the common ones. Fields not listed must be absent or null. */
export const EVENT_TYPES = {
  page_view: {
    description: 'A page of the shop was shown.',
    fields: {page: 'required'},
  },
  product_view: {
    description: 'A product page was shown.',
    fields: {product_id: 'required', category: 'required', unit_price: 'required', currency: 'required'},
  },
  search: {
    description: 'The visitor searched the catalogue.',
    fields: {query: 'required', results_count: 'required'},
  },
  add_to_cart: {
    description: 'Units of a product were put in the cart.',
    fields: {product_id: 'required', quantity: 'required', unit_price: 'required', currency: 'required'},
  },
  remove_from_cart: {
    description: 'Units of a product were taken out of the cart.',
    fields: {product_id: 'required', quantity: 'required', unit_price: 'required', currency: 'required'},
  },
  checkout_started: {
    description: 'The visitor opened the checkout with the cart.',
    fields: {item_count: 'required', total: 'required', currency: 'required'},
  },
  purchase: {
    description: 'An order was placed and paid: one event per order.',
    fields: {
      order_id: 'required',
      items: 'required',
      total: 'required',
      currency: 'required',
      payment_method: 'required',
      card_fingerprint: 'nullable',
      billing_country: 'required',
      shipping_country: 'required',
    },
  },
  refund: {
    description: 'Money was returned for (part of) an earlier order.',
    fields: {order_id: 'required', amount: 'required', currency: 'required', reason: 'required'},
  },
} as const satisfies Record<string, {description: string; fields: Partial<Record<FieldName, Presence>>}>

export type EventType = keyof typeof EVENT_TYPES
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[]
export const FIELD_NAMES = Object.keys(FIELDS) as FieldName[]

/** Largest money value a field accepts; matches the DECIMAL(12,2) column type. */
export const MAX_MONEY = 9_999_999_999.99

/**
 * Event times a shop can plausibly have: nothing before 2000 (a clock reset to the epoch, a mangled date) and nothing
 * past 2100 (a unit mix-up such as microseconds read as milliseconds). Fixed bounds keep validation independent of
 * the clock of the machine that validates.
 */
export const MIN_EVENT_TIME = '2000-01-01T00:00:00.000Z'
export const MAX_EVENT_TIME = '2100-01-01T00:00:00.000Z'
