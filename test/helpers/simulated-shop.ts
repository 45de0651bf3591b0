import type {PurchaseEvent, RefundEvent, ShopEvent} from '../../src/lib/events/index.js'
import {
  type FraudLabel,
  GENERATE_DEFAULTS,
  type GenerateOptions,
  ShopSimulator,
  validateGenerateOptions,
} from '../../src/lib/generate/index.js'

/** A purchase of a simulated shop with its ground truth beside it. */
export interface SimulatedOrder {
  event: PurchaseEvent
  time: number
  fraud: FraudLabel | undefined
}

/** Every event of a simulated shop, sorted out the way the shape tests read them. */
export interface SimulatedShop {
  events: ShopEvent[]
  orders: SimulatedOrder[]
  legit: SimulatedOrder[]
  fraud: SimulatedOrder[]
  refunds: RefundEvent[]
  /** Orders of each customer in time order. */
  ordersByCustomer: Map<string, SimulatedOrder[]>
  /** Fraud orders of each incident in time order. */
  incidents: Map<number, SimulatedOrder[]>
}

/**
 * Every new legitimate habit off: the shop the generator made before issue 16 (which already put 10% of sessions on
 * a newly picked device, today's --new-device-rate default).
 */
export const NO_HABITS = {
  giftRate: 0,
  abroadRate: 0,
  multiCardRate: 0,
  householdRate: 0,
  burstRate: 0,
} as const

export function shopOptions(overrides: Partial<GenerateOptions> = {}): GenerateOptions {
  return {...GENERATE_DEFAULTS, customers: 3000, days: 365, ...overrides}
}

/** Runs the simulator in memory (no file) and indexes what it made. */
export function simulateShop(options: GenerateOptions): SimulatedShop {
  const {startMs} = validateGenerateOptions(options)
  const sim = new ShopSimulator({...options, customers: options.customers ?? 0}, startMs)
  const shop: SimulatedShop = {
    events: [],
    orders: [],
    legit: [],
    fraud: [],
    refunds: [],
    ordersByCustomer: new Map(),
    incidents: new Map(),
  }
  for (let next = sim.next(); next; next = sim.next()) {
    const e = next.event
    shop.events.push(e)
    if (e.event_type === 'refund') shop.refunds.push(e)
    if (e.event_type !== 'purchase') continue
    const order: SimulatedOrder = {event: e, time: Date.parse(e.event_time), fraud: next.fraud}
    shop.orders.push(order)
    ;(order.fraud ? shop.fraud : shop.legit).push(order)
    push(shop.ordersByCustomer, e.customer_id as string, order)
    if (order.fraud) push(shop.incidents, order.fraud.incident, order)
  }
  return shop
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

/** The value that occurs most often (first seen wins ties). */
export function mode<T>(values: readonly T[]): T | undefined {
  const counts = new Map<T, number>()
  let best: T | undefined
  let bestCount = 0
  for (const v of values) {
    const c = (counts.get(v) ?? 0) + 1
    counts.set(v, c)
    if (c > bestCount) {
      best = v
      bestCount = c
    }
  }
  return best
}

export const HOUR_MS = 3_600_000
export const DAY_MS = 86_400_000
