import type {ShopEvent} from '../../events/types.js'

/**
 * Where generated events go: an NDJSON file or stdout here; the lake and Kafka sinks plug in the same way.
 * `write` is called once per event in event-time order and stays synchronous on the fast path; it returns a
 * promise only when the destination needs the generator to wait (back-pressure).
 */
export interface EventSink {
  /** Describes the destination in summaries, e.g. a path or "stdout". */
  readonly target: string
  write(event: ShopEvent): void | Promise<void>
  /** True once the destination stopped accepting events (a closed pipe): the generator stops early and cleanly. */
  readonly closed: boolean
  /**
   * What an aborted run leaves: nothing (a file or lake commit that never happened), or the events already sent, where
   * they cannot be taken back (Kafka keeps what it acknowledged; a pipe keeps what it was given).
   */
  readonly onAbort: 'nothing-left' | 'sent-events-stay'
  /** Makes everything written durable and visible. */
  commit(): Promise<void>
  /** Removes whatever was written; idempotent, and a no-op after commit. */
  abort(): Promise<void>
}
