import type {ShopEvent} from '../../events/types.js'
import type {EventSink} from './sink.js'

/** A sink that can send what it holds now, because the writer is about to wait (a paced, live stream). */
export interface DrainableSink extends EventSink {
  drain(): Promise<void>
}

/** Longest a live stream holds events in the producer's batch. */
const MAX_HOLD_MS = 50

/**
 * Turns a generated shop into a live stream: events go to the inner sink at `rate` events per second, each stamped
 * with the wall-clock time it is sent (so consumers see current timestamps and can measure latency), keeping the
 * simulator's order. Before each wait the inner sink drains, so a batching producer never sits on events.
 */
export class PacedSink implements EventSink {
  private started: number | undefined
  private sent = 0
  private lastStamp = 0
  private lastDrain = 0

  constructor(
    private readonly inner: DrainableSink,
    private readonly rate: number,
  ) {}

  get target(): string {
    return this.inner.target
  }

  get onAbort(): 'nothing-left' | 'sent-events-stay' {
    return this.inner.onAbort
  }

  get closed(): boolean {
    return this.inner.closed
  }

  write(event: ShopEvent): void | Promise<void> {
    const now = Date.now()
    this.started ??= now
    const due = this.started + (this.sent / this.rate) * 1000
    // Waits shorter than a few milliseconds are not worth a timer: the stream catches up on the next one.
    if (due - now > 5) return this.waitAndWrite(event, due)
    // A stream that never gets ahead of its schedule still sends at least every MAX_HOLD_MS, so a batching producer
    // adds little to the latency consumers see.
    if (now - this.lastDrain > MAX_HOLD_MS) return this.drainAndSend(event, now)
    return this.send(event, now)
  }

  private async drainAndSend(event: ShopEvent, now: number): Promise<void> {
    this.lastDrain = now
    await this.inner.drain()
    await this.send(event, Date.now())
  }

  private async waitAndWrite(event: ShopEvent, due: number): Promise<void> {
    this.lastDrain = Date.now()
    await this.inner.drain()
    const wait = due - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    await this.send(event, Date.now())
  }

  private send(event: ShopEvent, now: number): void | Promise<void> {
    // Never let a clock step backwards reorder the stream.
    this.lastStamp = Math.max(this.lastStamp, now)
    this.sent++
    return this.inner.write({...event, event_time: new Date(this.lastStamp).toISOString()})
  }

  commit(): Promise<void> {
    return this.inner.commit()
  }

  abort(): Promise<void> {
    return this.inner.abort()
  }
}
