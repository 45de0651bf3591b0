import {type EventTextVerdict, parseEventText} from '../events/validate.js'

const UTF8 = new TextDecoder('utf-8', {fatal: true})

/** Decides one message: a valid event (re-serialised in contract order) or a reason for the dead-letter table. */
export function judge(value: Buffer | null): EventTextVerdict {
  if (value === null) return {ok: false, reason: 'empty message (null value)'}
  if (value.length === 0) return {ok: false, reason: 'empty message (zero bytes)'}
  let text: string
  try {
    text = UTF8.decode(value)
  } catch {
    return {ok: false, reason: 'not valid UTF-8'}
  }
  return parseEventText(text)
}
