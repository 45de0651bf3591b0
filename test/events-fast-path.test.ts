import {describe, expect, it} from 'vitest'
import {
  EVENT_TYPE_NAMES,
  FIELD_NAMES,
  isPlainValidEvent,
  parseEventText,
  serializeEvent,
  validateEvent,
  validateEventFully,
} from '../src/lib/events/index.js'
import {mutatedEvents} from './helpers/event-mutations.js'
import {makeEvent} from './helpers/events.js'
import {seededRandom} from './helpers/random.js'

/**
 * validateEvent first tries a fast test that may only say "valid"; anything else goes to the full walk. These tests
 * pin the fast test to the full one: it never accepts what the full walk rejects, validateEvent's verdict (and so
 * the reason a dead letter records) is the full walk's, and ordinary valid events do take the fast way.
 */

function sameVerdict(value: unknown, label: string): void {
  const full = validateEventFully(value)
  if (isPlainValidEvent(value))
    expect(full, `fast test accepted what the full walk rejects: ${label}`).toEqual({
      ok: true,
      event: value,
    })
  expect(validateEvent(value), label).toEqual(full)
}

/** Structural changes the text-level mutations rarely make: fields missing, null, of another type, or extra. */
function structuralCases(seed: number, count: number): Record<string, unknown>[] {
  const random = seededRandom(seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
  const values = [null, undefined, 0, 1, -1, 1.5, '', 'x', 'c1', true, [], {}, [1], 'EUR', '2026-03-01T14:05:09.120Z']
  const cases: Record<string, unknown>[] = []
  for (let i = 0; i < count; i++) {
    const event = {...makeEvent(pick(EVENT_TYPE_NAMES))} as Record<string, unknown>
    const changes = 1 + Math.floor(random() * 3)
    for (let c = 0; c < changes; c++) {
      const roll = random()
      const field = pick(FIELD_NAMES)
      if (roll < 0.3) delete event[pick(Object.keys(event))]
      else if (roll < 0.6) event[field] = pick(values)
      else if (roll < 0.8) event[pick(Object.keys(event))] = pick(values)
      else if (roll < 0.9) event.event_type = pick([...EVENT_TYPE_NAMES, 'toString', '__proto__', 'nope', 1])
      else event[`extra_${Math.floor(random() * 3)}`] = pick(values)
    }
    cases.push(event)
  }
  return cases
}

describe('the fast validation path', () => {
  it('accepts every event type as built by the factories, as the full walk does', () => {
    for (const type of EVENT_TYPE_NAMES) {
      const event = makeEvent(type)
      expect(isPlainValidEvent(event), type).toBe(true)
      expect(validateEventFully(event).ok, type).toBe(true)
      // Keys in another order are the same event.
      const reversed = Object.fromEntries(Object.entries(event).reverse())
      expect(isPlainValidEvent(reversed), `${type}, keys reversed`).toBe(true)
    }
  })

  it('gives the full walk verdict and reason for fuzzed event texts, and the same staged line', () => {
    let accepted = 0
    for (const seed of [1, 2, 3]) {
      for (const {text} of mutatedEvents(seed, 4000)) {
        let value: unknown
        try {
          value = JSON.parse(text)
        } catch {
          continue
        }
        sameVerdict(value, text)
        if (isPlainValidEvent(value)) accepted++
        const verdict = parseEventText(text)
        if (verdict.ok)
          expect(verdict.line).toBe(serializeEvent(validateEventFully(value).ok ? (value as never) : never()))
      }
    }
    // Most mutated cases are still valid events: the fast way must have been taken, or this test proves nothing.
    expect(accepted).toBeGreaterThan(1000)
  })

  it('gives the full walk verdict and reason for fields missing, null, mistyped, misplaced or unknown', () => {
    for (const event of structuralCases(7, 20_000)) sameVerdict(event, JSON.stringify(event))
  })

  it('leaves values that are not plain objects to the full walk', () => {
    class Shaped {}
    const inherited = Object.assign(Object.create({page: '/'}), makeEvent('page_view'))
    delete inherited.page
    for (const value of [null, 1, 'x', [], [makeEvent('page_view')], new Shaped(), inherited, Object.create(null)]) {
      expect(isPlainValidEvent(value)).toBe(false)
      expect(validateEvent(value)).toEqual(validateEventFully(value))
    }
  })
})

function never(): never {
  throw new Error('parseEventText accepted what the full walk rejects')
}
