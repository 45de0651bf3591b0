import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {withEngine} from '../../src/lib/engine/engine.js'
import type {EventType, LineItem, ShopEvent} from '../../src/lib/events/index.js'
import {appendEvents} from '../../src/lib/lake/lake.js'
import {makeEvent} from './events.js'

/** Temp folders of one test file, removed by `removeTempDirs` in its afterAll. */
const dirs: string[] = []

export async function tempDir(prefix = 'ecap-analytics-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, {recursive: true, force: true})))
}

/** A lake at `<dir>/lake` whose events table holds exactly `events` (one append, through the real writer). */
export async function lakeOf(events: readonly ShopEvent[], dir?: string): Promise<string> {
  const root = dir ?? (await tempDir())
  const ndjson = join(root, 'events.ndjson')
  await writeFile(ndjson, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`)
  const lake = join(root, 'lake')
  await withEngine((engine) => appendEvents(engine, lake, ndjson))
  return lake
}

/** Where and who a hand-made session is. */
export interface SessionSpec {
  customer: string | null
  session: string
  device?: 'desktop' | 'mobile' | 'tablet'
  country?: string
}

/** Builds the events of hand-made sessions, each at an exact time, with the visitor of its session. */
export class ShopBuilder {
  readonly events: ShopEvent[] = []

  /** Any event of `type` at `time` (ISO) in session `s`, with `fields` on top of makeEvent's example. */
  add<T extends EventType>(type: T, s: SessionSpec, time: string, fields: Record<string, unknown> = {}): this {
    this.events.push(
      makeEvent(type, {
        customer_id: s.customer,
        session_id: s.session,
        device: s.device ?? 'desktop',
        ip_country: s.country ?? 'DE',
        event_time: time,
        ...fields,
      } as never) as unknown as ShopEvent,
    )
    return this
  }

  /** A purchase whose total is the sum of its lines (the contract's rule). */
  purchase(s: SessionSpec, time: string, orderId: string, items: LineItem[]): this {
    const cents = items.reduce((sum, i) => sum + i.quantity * Math.round(i.unit_price * 100), 0)
    return this.add('purchase', s, time, {order_id: orderId, items, total: cents / 100})
  }

  /** A refund from the back office: a one-event session of its own, as the simulator issues them. */
  refund(customer: string | null, time: string, orderId: string, amount: number): this {
    return this.add('refund', {customer, session: `refund-${orderId}-${time.slice(0, 10)}`}, time, {
      order_id: orderId,
      amount,
    })
  }
}

/** A day as an ISO time at `hh:mm` UTC. */
export function at(day: string, time = '12:00'): string {
  return `${day}T${time}:00.000Z`
}

/** The day `days` before `day` (YYYY-MM-DD). */
export function daysBefore(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10)
}
