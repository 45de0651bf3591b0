import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {afterAll, describe, expect, it} from 'vitest'
import {
  EVENT_TYPE_NAMES,
  FIELD_NAMES,
  MAX_MONEY,
  type ShopEvent,
  serializeEvent,
  writeEventBytes,
} from '../src/lib/events/index.js'
import {GENERATE_DEFAULTS, type GenerateOptions, NdjsonSink} from '../src/lib/generate/index.js'
import {ShopSimulator} from '../src/lib/generate/simulator.js'
import {mutatedEvents} from './helpers/event-mutations.js'
import {makeEvent} from './helpers/events.js'
import {seededRandom} from './helpers/random.js'

/**
 * writeEventBytes must write exactly the UTF-8 bytes of serializeEvent's line, or give up (-1) so the caller takes
 * the string path: the generator's byte-identical output per seed rests on it. These tests pin it to serializeEvent
 * on generated events, on hand-made hard values and on fuzzed ones.
 */

const scratch = Buffer.alloc(1 << 20)

/** The bytes the writer gives, or undefined when it gives up; undefined also when serializeEvent itself throws. */
function written(event: unknown): Buffer | undefined {
  const end = writeEventBytes(event as ShopEvent, scratch, 0)
  return end < 0 ? undefined : Buffer.from(scratch.subarray(0, end))
}

function expected(event: unknown): Buffer | 'throws' {
  try {
    return Buffer.from(serializeEvent(event as ShopEvent), 'utf8')
  } catch {
    return 'throws'
  }
}

/** The writer's bytes equal serializeEvent's, or it gave up; it never writes an event serializeEvent refuses. */
function agrees(event: unknown, label: string): boolean {
  const bytes = written(event)
  const want = expected(event)
  if (want === 'throws') {
    expect(bytes, `${label}: serializeEvent throws, the writer must give up`).toBeUndefined()
    return false
  }
  if (bytes !== undefined) expect(bytes.toString('latin1'), label).toBe(want.toString('latin1'))
  return bytes !== undefined
}

function simulated(seed: number, count: number, options: Partial<GenerateOptions> = {}): ShopEvent[] {
  const sim = new ShopSimulator(
    {...GENERATE_DEFAULTS, ...options, seed, customers: 3000},
    Date.parse(options.start ?? GENERATE_DEFAULTS.start),
    true,
  )
  const events: ShopEvent[] = []
  for (let i = 0; i < count; i++) events.push((sim.next() as {event: ShopEvent}).event)
  return events
}

/** Values that are hard to write as JSON: characters JSON escapes, non-ASCII, surrogates, odd numbers and types. */
const HARD_STRINGS = [
  'é',
  'ß',
  '日本',
  '\ud83d\ude00',
  '\ud800',
  '\udc00x',
  '"',
  '\\',
  '\n',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u0080',
  '\u00ff',
  '\u0100',
  '\u0141',
  '\u2028',
  '\ufeff',
  '',
  ' ',
  '/',
  '~',
]
const HARD_NUMBERS = [
  0,
  -0,
  1,
  9,
  10,
  99,
  100,
  123456789,
  999_999_999,
  1e9,
  0.05,
  0.1,
  0.5,
  10.1,
  10.01,
  10.5,
  100.05,
  4.35,
  1e12 - 0.01,
  1e12,
  1e12 + 0.01,
  123456789.01,
  2 ** 31,
  2 ** 32 + 1,
  -1,
  -12.5,
  0.01,
  0.1 + 0.2,
  1.005,
  19.99,
  1e-7,
  5e-324,
  MAX_MONEY,
  1e21,
  1.5e300,
  Number.MAX_SAFE_INTEGER,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
]
const OTHER_VALUES = [null, undefined, true, {}, [], [1], '5', 5, {toString: () => 'x'}]

describe('writeEventBytes', () => {
  it('writes every generated event, byte for byte as serializeEvent, without giving up', () => {
    const events = [
      ...simulated(1, 20_000),
      ...simulated(2, 20_000, {fraudRate: 0.2, refundRate: 0.3}),
      ...simulated(3, 5000, {currency: 'USD', seasonality: false, start: '2031-12-30'}),
    ]
    const types = new Set<string>()
    let gaveUp = 0
    for (const [i, event] of events.entries()) {
      types.add(event.event_type)
      if (!agrees(event, `event ${i}`)) gaveUp++
    }
    expect([...types].sort()).toEqual([...EVENT_TYPE_NAMES].sort())
    expect(gaveUp).toBe(0)
  })

  it('gives up on every string value JSON escapes or writes in more than one byte, and writes the rest exactly', () => {
    for (const type of EVENT_TYPE_NAMES) {
      const fields = Object.keys(makeEvent(type)).filter(
        (f) => f !== 'event_type' && typeof (makeEvent(type) as never)[f] === 'string',
      )
      for (const field of fields) {
        for (const hard of HARD_STRINGS) {
          const event = {...makeEvent(type), [field]: `a${hard}b`} as ShopEvent
          const writes = agrees(event, `${type}.${field} = ${JSON.stringify(hard)}`)
          const plain = /^[\x20-\x7e]*$/.test(hard) && hard !== '"' && hard !== '\\'
          expect(writes, `${type}.${field} = ${JSON.stringify(hard)}`).toBe(plain)
        }
      }
    }
  })

  it('writes numbers as JavaScript formats them, in every numeric field and order line', () => {
    for (const type of EVENT_TYPE_NAMES) {
      const fields = Object.keys(makeEvent(type)).filter((f) => typeof (makeEvent(type) as never)[f] === 'number')
      for (const field of fields) {
        for (const n of [...HARD_NUMBERS, ...HARD_NUMBERS.map((x) => -x)]) {
          expect(agrees({...makeEvent(type), [field]: n}, `${type}.${field} = ${n}`)).toBe(true)
        }
      }
    }
    const random = seededRandom(15)
    for (let i = 0; i < 40_000; i++) {
      // Whole cents up to 1e13 (across the writer's 1e12 bound for writing cents itself), and any doubles.
      const cents = Math.floor(random() * 10 ** Math.floor(random() * 16))
      const n = random() < 0.5 ? cents / 100 : random() * 10 ** Math.floor(random() * 30 - 10)
      const event = makeEvent('purchase', {total: n})
      event.items[0] = {product_id: 'p1', quantity: Math.floor(random() * 2 ** 34), unit_price: n}
      expect(agrees(event, `money ${n}`)).toBe(true)
    }
  })

  it('writes null where serializeEvent writes null, and gives up on values of other types', () => {
    for (const type of EVENT_TYPE_NAMES) {
      for (const field of Object.keys(makeEvent(type))) {
        for (const value of OTHER_VALUES) agrees({...makeEvent(type), [field]: value}, `${type}.${field}`)
      }
    }
    const customer = written(makeEvent('page_view', {customer_id: null}))
    expect(customer?.toString()).toContain('"customer_id":null,')
    const lines = [null, undefined, 5, 'x', {product_id: 1, quantity: 1, unit_price: 1}, {product_id: 'p1'}]
    for (const line of lines) agrees(makeEvent('purchase', {items: [line as never]}), `items [${String(line)}]`)
    agrees(makeEvent('purchase', {items: {length: 1, 0: {}} as never}), 'items not an array')
    agrees(makeEvent('purchase', {items: []}), 'no items')
  })

  it('agrees with serializeEvent on fuzzed events, fields missing, extra or of other types', () => {
    const random = seededRandom(77)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
    let checked = 0
    for (const {text} of mutatedEvents(2024, 6000)) {
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        continue
      }
      if (typeof value !== 'object' || value === null) continue
      agrees(value, text)
      checked++
    }
    for (let i = 0; i < 4000; i++) {
      const event = {...makeEvent(pick(EVENT_TYPE_NAMES))} as Record<string, unknown>
      const roll = random()
      if (roll < 0.3) delete event[pick(Object.keys(event))]
      else if (roll < 0.6) event[pick(FIELD_NAMES)] = pick([...OTHER_VALUES, ...HARD_STRINGS, ...HARD_NUMBERS])
      else if (roll < 0.8) event.event_type = pick(['toString', '__proto__', 'constructor', 'nope', 1, null])
      else event[`extra_${i % 3}`] = pick(HARD_STRINGS)
      agrees(event, JSON.stringify(event))
      checked++
    }
    expect(checked).toBeGreaterThan(8000)
  })
})

describe('NdjsonSink', () => {
  const dirs: string[] = []
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, {recursive: true, force: true})))
  })

  /** Generated events with hard ones mixed in: non-ASCII and escaped text, and lines far larger than the buffer. */
  function mixedEvents(): ShopEvent[] {
    const events = simulated(9, 30_000)
    events.splice(5, 0, makeEvent('search', {query: 'crème brûlée "deluxe"\n'}))
    events.splice(100, 0, makeEvent('page_view', {page: `/${'a'.repeat(3 << 20)}`}))
    events.splice(101, 0, makeEvent('page_view', {page: `/${'é'.repeat(70_000)}`}))
    for (let i = 1000; i < 30_000; i += 997) events.splice(i, 0, makeEvent('search', {query: `日本 ${i}`}))
    events.push(makeEvent('page_view', {page: `/${'b'.repeat(200_000)}`}))
    return events
  }

  const want = (events: ShopEvent[]): Buffer =>
    Buffer.from(events.map((e) => `${serializeEvent(e)}\n`).join(''), 'utf8')

  it('writes a file byte for byte as serializeEvent lines, whichever path each event takes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecap-ndjson-'))
    dirs.push(dir)
    const events = mixedEvents()
    const sink = NdjsonSink.toFile(join(dir, 'e.ndjson'))
    for (const event of events) await sink.write(event)
    await sink.commit()
    expect((await readFile(join(dir, 'e.ndjson'))).equals(want(events))).toBe(true)
  })

  it('leaves nothing behind when aborted while its chunks are written in the background', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecap-ndjson-'))
    dirs.push(dir)
    const sink = NdjsonSink.toFile(join(dir, 'e.ndjson'))
    for (const event of simulated(4, 20_000)) await sink.write(event)
    await sink.abort()
    await sink.abort()
    expect(await readdir(dir)).toEqual([])
  })

  it('writes the same bytes to a slow stream, waiting when it asks to', async () => {
    const events = mixedEvents()
    const stream = new PassThrough({highWaterMark: 1024})
    const received: Buffer[] = []
    let waits = 0
    const sink = NdjsonSink.toStream(stream)
    const reading = (async () => {
      for await (const chunk of stream) {
        received.push(chunk as Buffer)
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    for (const event of events) {
      const pending = sink.write(event)
      if (pending) {
        waits++
        await pending
      }
    }
    await sink.commit()
    stream.end()
    await reading
    expect(waits).toBeGreaterThan(0)
    expect(Buffer.concat(received).equals(want(events))).toBe(true)
  })
})
