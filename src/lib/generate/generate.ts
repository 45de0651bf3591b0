import {AtomicFile} from '../atomic-file.js'
import {EVENT_TYPE_NAMES, type EventType, SCHEMA_VERSION} from '../events/contract.js'
import type {ShopEvent} from '../events/types.js'
import {
  type BgNbdParameters,
  FRAUD_PATTERNS,
  type FraudPattern,
  type FraudVariant,
  type GammaGammaParameters,
  type GenerateOptions,
  validateGenerateOptions,
} from './options.js'
import {type FraudLabel, ShopSimulator} from './simulator.js'
import type {EventSink} from './sinks/sink.js'

export interface GenerateOutputs {
  events: EventSink
  /** Ground-truth fraud labels, one NDJSON line per fraudulent order (with its pattern and incident). */
  labelsPath?: string
  /** The true model parameters of the run, as JSON. */
  truthPath?: string
}

export interface GenerateProgress {
  events: number
  /** Event time the stream has reached. */
  eventTime: string
  elapsedMs: number
}

export interface GenerateHooks {
  onProgress?: (progress: GenerateProgress) => void
  signal?: AbortSignal
}

export interface GenerateResult {
  output: string
  /** True when the reader of the output went away before the end (e.g. `| head`); not an error. */
  outputClosed: boolean
  seed: number
  events: number
  eventsByType: Record<EventType, number>
  customers: number
  sessions: number
  anonymousSessions: number
  orders: number
  revenue: number
  refunds: number
  refundedAmount: number
  fraudOrders: number
  fraudOrdersByPattern: Record<FraudPattern, number>
  currency: string
  firstEventTime: string | null
  lastEventTime: string | null
  labels: string | null
  truth: string | null
  elapsedMs: number
  eventsPerSecond: number
}

/** What `--truth` writes: everything the analytics need to check that fitting recovers the simulator's story. */
export interface ShopTruth {
  generator: 'ecap generate'
  schema_version: number
  seed: number
  start: string
  days: number
  customers: number
  products: number
  currency: string
  fraud_rate: number
  fraud_patterns: readonly FraudPattern[]
  fraud_variant: FraudVariant
  refund_rate: number
  /** Shares of the legitimate habits that look odd to a fraud scorer. */
  legit: {
    gift_rate: number
    abroad_rate: number
    multi_card_rate: number
    household_rate: number
    burst_rate: number
    new_device_rate: number
  }
  seasonality: boolean
  /** Unit of BG/NBD's alpha and of purchase rates. */
  time_unit: 'day'
  bgnbd: BgNbdParameters
  gamma_gamma: GammaGammaParameters
}

const PROGRESS_EVERY = 1 << 16
/** Customers simulated to learn how many events one customer makes, when sizing by `--events`. */
const PILOT_CUSTOMERS = 1000

/**
 * Generates a shop's events in event-time order into a sink, with labels and truth files beside it. Files appear only
 * when the run completes; on error or interrupt everything written so far is removed.
 */
export async function generateShop(
  options: GenerateOptions,
  outputs: GenerateOutputs,
  hooks: GenerateHooks = {},
): Promise<GenerateResult> {
  const started = Date.now()
  let labelsFile: AtomicFile | undefined
  let truthFile: AtomicFile | undefined
  try {
    const {startMs} = validateGenerateOptions(options)
    labelsFile = outputs.labelsPath ? new AtomicFile(outputs.labelsPath, '--labels') : undefined
    truthFile = outputs.truthPath ? new AtomicFile(outputs.truthPath, '--truth') : undefined
    const customers = options.customers ?? estimateCustomers(options, startMs)
    const sim = new ShopSimulator({...options, customers}, startMs, options.events !== undefined)
    const tally = new Tally()
    const limit = options.events ?? Number.POSITIVE_INFINITY
    const sink = outputs.events
    let labelLines = ''
    while (tally.events < limit && !sink.closed) {
      const next = sim.next()
      if (!next) break
      tally.add(next.event, next.fraud)
      const pending = sink.write(next.event)
      if (pending) await pending
      if (next.fraud && labelsFile) {
        const e = next.event as ShopEvent & {order_id: string}
        labelLines += `${JSON.stringify({order_id: e.order_id, event_id: e.event_id, event_time: e.event_time, customer_id: e.customer_id, pattern: next.fraud.pattern, incident: next.fraud.incident})}\n`
        if (labelLines.length > 1 << 16) {
          labelsFile.write(labelLines)
          labelLines = ''
        }
      }
      if ((tally.events & (PROGRESS_EVERY - 1)) === 0) {
        if (hooks.signal?.aborted) throw hooks.signal.reason
        hooks.onProgress?.({events: tally.events, eventTime: next.event.event_time, elapsedMs: Date.now() - started})
        // Let signals and stream events through on long runs.
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    }
    if (hooks.signal?.aborted) throw hooks.signal.reason
    labelsFile?.write(labelLines)
    truthFile?.write(`${JSON.stringify(truthOf(options, customers), null, 2)}\n`)
    await sink.commit()
    labelsFile?.commit()
    truthFile?.commit()
    const elapsedMs = Date.now() - started
    return {
      output: sink.target,
      outputClosed: sink.closed,
      seed: options.seed,
      ...tally.summary(),
      customers: sim.stats.customersSeen,
      sessions: sim.stats.sessions,
      anonymousSessions: sim.stats.anonymousSessions,
      currency: options.currency,
      labels: outputs.labelsPath ?? null,
      truth: outputs.truthPath ?? null,
      elapsedMs,
      eventsPerSecond: Math.round(tally.events / Math.max(elapsedMs / 1000, 1e-3)),
    }
  } catch (error) {
    await outputs.events.abort()
    labelsFile?.abort()
    truthFile?.abort()
    throw error
  }
}

function truthOf(options: GenerateOptions, customers: number): ShopTruth {
  return {
    generator: 'ecap generate',
    schema_version: SCHEMA_VERSION,
    seed: options.seed,
    start: options.start,
    days: options.days,
    customers,
    products: options.products,
    currency: options.currency,
    fraud_rate: options.fraudRate,
    fraud_patterns: FRAUD_PATTERNS.filter((p) => options.fraudPatterns.includes(p)),
    fraud_variant: options.fraudVariant,
    refund_rate: options.refundRate,
    legit: {
      gift_rate: options.giftRate,
      abroad_rate: options.abroadRate,
      multi_card_rate: options.multiCardRate,
      household_rate: options.householdRate,
      burst_rate: options.burstRate,
      new_device_rate: options.newDeviceRate,
    },
    seasonality: options.seasonality,
    time_unit: 'day',
    bgnbd: options.bgnbd,
    gamma_gamma: options.gammaGamma,
  }
}

/**
 * Sizing by `--events N`: a small pilot shop with the same parameters tells how many events one customer brings
 * over the period, and the real run acquires enough customers to reach N within about `--days`.
 */
function estimateCustomers(options: GenerateOptions, startMs: number): number {
  const target = options.events ?? 0
  const pilot = new ShopSimulator({...options, customers: PILOT_CUSTOMERS, seed: options.seed ^ 0x9e37}, startMs)
  let events = 0
  while (sim(pilot)) events++
  const perCustomer = Math.max(events / PILOT_CUSTOMERS, 1)
  return Math.max(1, Math.ceil(target / perCustomer))
}

function sim(simulator: ShopSimulator): boolean {
  return simulator.next() !== undefined
}

/** Running counts for the summary. */
class Tally {
  events = 0
  readonly byType = Object.fromEntries(EVENT_TYPE_NAMES.map((t) => [t, 0])) as Record<EventType, number>
  readonly fraudByPattern = Object.fromEntries(FRAUD_PATTERNS.map((p) => [p, 0])) as Record<FraudPattern, number>
  private revenueCents = 0
  private refundedCents = 0
  private first: string | null = null
  private last: string | null = null

  add(event: ShopEvent, fraud: FraudLabel | undefined): void {
    this.events++
    this.byType[event.event_type]++
    if (this.first === null) this.first = event.event_time
    this.last = event.event_time
    if (event.event_type === 'purchase') {
      this.revenueCents += Math.round(event.total * 100)
      if (fraud) this.fraudByPattern[fraud.pattern]++
    } else if (event.event_type === 'refund') {
      this.refundedCents += Math.round(event.amount * 100)
    }
  }

  summary() {
    const fraudOrders = Object.values(this.fraudByPattern).reduce((a, b) => a + b, 0)
    return {
      events: this.events,
      eventsByType: this.byType,
      orders: this.byType.purchase,
      revenue: this.revenueCents / 100,
      refunds: this.byType.refund,
      refundedAmount: this.refundedCents / 100,
      fraudOrders,
      fraudOrdersByPattern: this.fraudByPattern,
      firstEventTime: this.first,
      lastEventTime: this.last,
    }
  }
}
