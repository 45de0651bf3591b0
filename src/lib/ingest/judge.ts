import {readCanonicalEvent} from '../events/canonical.js'
import type {ShopEvent} from '../events/types.js'
import {type EventTextVerdict, isPlainValidEvent, parseEventText} from '../events/validate.js'

const UTF8 = new TextDecoder('utf-8', {fatal: true})

/** Decides one message: a valid event (re-serialised in contract order) or a reason for the dead-letter table. */
export function judge(value: Buffer | null): EventTextVerdict {
  if (value === null) return {ok: false, reason: 'empty message (null value)'}
  if (value.length === 0) return {ok: false, reason: 'empty message (zero bytes)'}
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
  let text: string
  try {
    text = UTF8.decode(value)
  } catch {
    return {ok: false, reason: 'not valid UTF-8'}
  }
  return parseEventText(text)
}
