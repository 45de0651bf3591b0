import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {GENERATE_DEFAULTS, type GenerateOptions, generateShop, NdjsonSink} from '../../src/lib/generate/index.js'

/** What the tests compare a lake against, computed from the NDJSON input alone (no DuckDB). */
export interface NdjsonTruth {
  path: string
  lines: number
  /** Sum of `total` over checkout_started and purchase events, in cents. */
  totalCents: bigint
  /** Sum of the top-level `quantity` (add_to_cart, remove_from_cart). */
  quantity: number
  /** Sum of the quantities of all order lines (`items`). */
  itemQuantity: number
  /** Sum of quantity × unit_price over all order lines, in cents. */
  itemValueCents: bigint
  /** event_id → event_time as written. */
  eventTimes: Map<string, string>
  /** UTC dates (YYYY-MM-DD) that have events. */
  dates: Set<string>
}

/** Money as exact cents from its decimal text ("12.3", "-0.05", "7"), so sums never meet binary floating point. */
export function cents(text: string | number): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(text))
  if (!match) throw new Error(`Not a money amount with at most two decimals: ${text}`)
  const value = BigInt(match[2] as string) * 100n + BigInt((match[3] ?? '').padEnd(2, '0'))
  return match[1] === '-' ? -value : value
}

/** A small seeded shop as NDJSON in `dir`, with the sums the lake must reproduce. */
export async function shopNdjson(
  dir: string,
  name: string,
  overrides: Partial<GenerateOptions> = {},
): Promise<NdjsonTruth> {
  const path = join(dir, name)
  await generateShop({...GENERATE_DEFAULTS, customers: 300, days: 30, ...overrides}, {events: NdjsonSink.toFile(path)})
  return ndjsonTruth(path)
}

export async function ndjsonTruth(path: string): Promise<NdjsonTruth> {
  const text = await readFile(path, 'utf8')
  const truth: NdjsonTruth = {
    path,
    lines: 0,
    totalCents: 0n,
    quantity: 0,
    itemQuantity: 0,
    itemValueCents: 0n,
    eventTimes: new Map(),
    dates: new Set(),
  }
  for (const line of text.split('\n')) {
    if (line === '') continue
    truth.lines++
    const event = JSON.parse(line) as {
      event_id: string
      event_time: string
      total?: number
      quantity?: number
      items?: {quantity: number; unit_price: number}[]
    }
    truth.eventTimes.set(event.event_id, event.event_time)
    truth.dates.add(event.event_time.slice(0, 10))
    if (event.total !== undefined) truth.totalCents += cents(event.total)
    if (event.quantity !== undefined) truth.quantity += event.quantity
    for (const item of event.items ?? []) {
      truth.itemQuantity += item.quantity
      truth.itemValueCents += BigInt(item.quantity) * cents(item.unit_price)
    }
  }
  return truth
}
