import {readCanonicalEvent} from '../events/canonical.js'
import {parseSegmentText} from '../events/segment.js'
import type {ShopEvent} from '../events/types.js'
import {type EventTextVerdict, isPlainValidEvent, parseEventText} from '../events/validate.js'

const UTF8 = new TextDecoder('utf-8', {fatal: true})

/** What the messages of a topic are: ecap events (the contract, docs/events.md) or Segment messages (docs/segment.md). */
export type InputFormat = 'ecap' | 'segment'

export const INPUT_FORMATS: readonly InputFormat[] = ['ecap', 'segment']

/** Decides one message of a topic in one format: a valid event in contract order, or a reason for a dead letter. */
export type Judge = (value: Buffer | null) => EventTextVerdict

/** The judge of a format. */
export function judgeOf(input: InputFormat = 'ecap'): Judge {
  return input === 'segment' ? judgeSegment : judge
}

/** Decides one message: a valid event (re-serialised in contract order) or a reason for the dead-letter table. */
export function judge(value: Buffer | null): EventTextVerdict {
  const empty = emptyReason(value)
  if (empty !== undefined || value === null) return {ok: false, reason: empty as string}
  // Nearly every message of a working producer is already its own contract-order line: read straight from the bytes
  // and accepted by the validator's own fast test, it is staged as it came (its bytes are printable ASCII, so latin1
  // is their text). Anything else takes the full way below, which alone words reasons.
  const canonical = readCanonicalEvent(value)
  if (canonical !== undefined && isPlainValidEvent(canonical.event)) {
    return {ok: true, event: canonical.event as unknown as ShopEvent, line: canonical.line}
  }
  return judgeFully(value)
}

/**
 * judge without reading canonical lines from the bytes: UTF-8 decoding, JSON.parse, validation, re-serialising.
 * Exported so that a test can pin judge to it.
 */
export function judgeFully(value: Buffer): EventTextVerdict {
  const text = decode(value)
  return text === undefined ? {ok: false, reason: 'not valid UTF-8'} : parseEventText(text)
}

/**
 * Decides one Segment message (`ingest --input segment`): the same reasons as judge for empty, non-UTF-8 and non-JSON
 * messages, then the mapping of events/segment.ts. No message of that shape is already a contract-order line, so
 * there is no fast path to try first.
 */
export function judgeSegment(value: Buffer | null): EventTextVerdict {
  const empty = emptyReason(value)
  if (empty !== undefined || value === null) return {ok: false, reason: empty as string}
  const text = decode(value)
  return text === undefined ? {ok: false, reason: 'not valid UTF-8'} : parseSegmentText(text)
}

function emptyReason(value: Buffer | null): string | undefined {
  if (value === null) return 'empty message (null value)'
  if (value.length === 0) return 'empty message (zero bytes)'
  return undefined
}

function decode(value: Buffer): string | undefined {
  try {
    return UTF8.decode(value)
  } catch {
    return undefined
  }
}
