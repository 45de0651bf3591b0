import type {COMMON_FIELDS, EVENT_TYPES, EventType, FIELDS, FieldSpec, Presence} from './contract.js'

/** One order line of a purchase. */
export interface LineItem {
  product_id: string
  quantity: number
  unit_price: number
}

/** The TypeScript value type of a field spec. */
type ValueOf<S extends FieldSpec> = S extends {kind: 'enum'; values: readonly (infer V)[]}
  ? V
  : S extends {kind: 'int'} | {kind: 'money'}
    ? number
    : S extends {kind: 'items'}
      ? LineItem[]
      : string

type FieldValue<K extends keyof typeof FIELDS, P extends Presence> =
  | ValueOf<(typeof FIELDS)[K]['spec']>
  | (P extends 'nullable' ? null : never)

type FieldsOf<M extends Partial<Record<keyof typeof FIELDS, Presence>>> = {
  -readonly [K in keyof M & keyof typeof FIELDS]: FieldValue<K, NonNullable<M[K]>>
}

/** Fields every event carries. */
export type CommonEventFields = FieldsOf<typeof COMMON_FIELDS>

/** The event of one type: the common fields, its own fields, and `event_type` narrowed to it. */
export type EventOf<T extends EventType> = Omit<CommonEventFields, 'event_type'> & {event_type: T} & FieldsOf<
    (typeof EVENT_TYPES)[T]['fields']
  >

/** Any shop event, discriminated by `event_type`. */
export type ShopEvent = {[T in EventType]: EventOf<T>}[EventType]

export type PurchaseEvent = EventOf<'purchase'>
export type RefundEvent = EventOf<'refund'>
