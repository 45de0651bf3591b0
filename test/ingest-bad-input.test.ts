import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {parseEventText} from '../src/lib/events/index.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {type JavaCompression, type JavaMessage, produceWithJava} from './helpers/java-producer.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'
import {eventIdsWithDeltaRs, idsDigest} from './helpers/python.js'

/**
 * A corpus of hard inputs sent through a real broker by Kafka's own Java producer, spread over every compression
 * type, and read by the real `ecap ingest --until-caught-up` (issue 12, cases 9-11): every message must end as an
 * event or as a dead letter with its reason, and produced = landed + rejected, exactly. Before, a lone surrogate
 * failed every flush (exit 1 on every rerun), any snappy/lz4/zstd batch ended the run with exit 4, and a purchase
 * whose total disagreed with its lines landed as an event.
 */

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-bad-input-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

/** A case of the corpus: the message, and the event id it must land as or the reason it must be rejected with. */
interface Case {
  name: string
  value: Buffer | null
  event?: string
  reason?: string
}

let nextId = 0
/** A fresh, deterministic event id. */
function id(): string {
  return `00000000-0000-4000-8000-${(++nextId).toString(16).padStart(12, '0')}`
}

function event(name: string, type: Parameters<typeof makeEvent>[0], fields: Record<string, unknown> = {}): Case {
  const eventId = id()
  return {name, value: Buffer.from(JSON.stringify(makeEvent(type, {event_id: eventId, ...fields}))), event: eventId}
}

/** An event whose JSON text is edited after it is written (spellings JSON.stringify never produces). */
function edited(name: string, type: Parameters<typeof makeEvent>[0], edit: (text: string) => string): Case {
  const eventId = id()
  return {name, value: Buffer.from(edit(JSON.stringify(makeEvent(type, {event_id: eventId})))), event: eventId}
}

function rejected(name: string, value: Buffer | string | null, reason?: string): Case {
  const bytes = value === null ? null : Buffer.from(value)
  // Where the case does not spell its reason out, it is the judge's own, which the lake must keep.
  if (reason === undefined && bytes !== null) {
    const verdict = parseEventText(bytes.toString('utf8'))
    if (verdict.ok) throw new Error(`case "${name}" is a valid event`)
    reason = verdict.reason
  }
  return {name, value: bytes, reason}
}

const good = makeEvent('purchase')
const json = (v: unknown) => JSON.stringify(v)
const surrogate = (field: string, unit: string, at: number) =>
  `field "${field}" holds a lone UTF-16 surrogate (\\u${unit} at character ${at}), which is not Unicode text`
const totalReason = (total: string, lines: string) =>
  `field "total" ${total} is not the sum of the items' quantity x unit_price (${lines})`

function corpus(): Case[] {
  return [
    // Hard, but valid: each lands as an event.
    event('NUL and controls in a page', 'page_view', {page: '/x\u0000\u001f\u007f'}),
    event('a surrogate pair', 'page_view', {page: '/\ud83d\ude00'}),
    event('separators and non-characters', 'search', {query: '\u2028\u2029\ufffe\uffff'}),
    event('a byte order mark starting a value', 'search', {query: '\ufeffgarden'}),
    event('unicode in a category', 'product_view', {category: 'Gärten 日本'}),
    event('the longest query, in surrogate pairs', 'search', {query: '\ud83d\ude00'.repeat(128)}),
    event('the first valid millisecond', 'search', {event_time: '2000-01-01T00:00:00.000Z'}),
    event('the last valid millisecond', 'search', {event_time: '2099-12-31T23:59:59.999Z'}),
    event('a leap day', 'search', {event_time: '2024-02-29T23:59:59.999Z'}),
    event('a total summed in binary floating point', 'purchase', {
      items: [
        {product_id: 'p00123', quantity: 3, unit_price: 0.1},
        {product_id: 'p00456', quantity: 1, unit_price: 0.2},
      ],
      total: 0.1 * 3 + 0.2,
    }),
    event('the biggest order DECIMAL(12,2) holds', 'purchase', {
      items: [{product_id: 'p00123', quantity: 10_000, unit_price: 999_999.99}],
      total: 9_999_999_900,
    }),
    edited('numbers with exponents', 'add_to_cart', (t) =>
      t.replace('"quantity":2', '"quantity":2e0').replace('"unit_price":19.99', '"unit_price":1.999E1'),
    ),
    edited('negative zero', 'search', (t) => t.replace('"results_count":42', '"results_count":-0')),
    edited('a price with many digits', 'add_to_cart', (t) =>
      t.replace('"unit_price":19.99', '"unit_price":19.990000000000000000001'),
    ),
    edited('a tiny price', 'add_to_cart', (t) => t.replace('"unit_price":19.99', '"unit_price":1e-400')),
    edited('a key spelled with escapes', 'search', (t) => t.replace('"device":', '"\\u0064evice":')),
    edited('a byte order mark before the JSON', 'search', (t) => `\ufeff${t}`),

    // Dead letters, each with its reason.
    rejected('a lone high surrogate', json(makeEvent('page_view', {page: '/x\ud800y'})), surrogate('page', 'd800', 2)),
    rejected('a lone low surrogate', json(makeEvent('search', {query: '\udc00garden'})), surrogate('query', 'dc00', 0)),
    rejected(
      'half a pair at the end',
      json(makeEvent('product_view', {category: 'garden\ud83d'})),
      surrogate('category', 'd83d', 6),
    ),
    rejected(
      'a pair in the wrong order',
      json(makeEvent('search', {query: 'a\udc00\ud800'})),
      surrogate('query', 'dc00', 1),
    ),
    // A reason names what it rejects: a lone surrogate in a key must not make the dead letter itself unloadable.
    rejected('a lone surrogate in an unknown key', '{"\\ud800":1,"event_type":"search"}', 'unknown field "\\ud800"'),
    rejected(
      'a duplicate key with a lone surrogate',
      json(good).replace('{', '{"x\\udc00":1,"x\\udc00":1,'),
      'duplicate key "x\\udc00"',
    ),
    rejected(
      'a surrogate written as UTF-8 bytes (WTF-8)',
      Buffer.concat([Buffer.from('{"page":"/'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
      'not valid UTF-8',
    ),
    rejected('a total one cent over its lines', json({...good, total: 54.98}), totalReason('54.98', '54.97')),
    rejected('a total of zero', json({...good, total: 0}), totalReason('0.00', '54.97')),
    rejected(
      'a total one cent under a big order',
      json({...good, items: [{product_id: 'p1', quantity: 10_000, unit_price: 99_999.99}], total: 999_999_899.99}),
      totalReason('999999899.99', '999999900.00'),
    ),
    rejected('a total in another unit (cents)', json({...good, total: 5497}), totalReason('5497.00', '54.97')),
    rejected('year 0', json({...good, event_time: '0000-01-01T00:00:00.000Z'})),
    rejected('year 9999', json({...good, event_time: '9999-12-31T23:59:59.999Z'})),
    rejected('a leap second', json({...good, event_time: '2016-12-31T23:59:60.000Z'})),
    rejected('a time with an offset', json({...good, event_time: '2026-03-01T14:05:09.120+01:00'})),
    rejected('a huge quantity', json(makeEvent('add_to_cart')).replace('"quantity":2', '"quantity":1e400')),
    rejected('a price with three decimals', json(makeEvent('add_to_cart', {unit_price: 19.991}))),
    rejected('unicode in an id', json({...good, customer_id: 'c日本'})),
    rejected('a query one character too long', json(makeEvent('search', {query: 'x'.repeat(257)}))),
    rejected('nesting where an order line belongs', json({...good, items: [[{product_id: 'p1'}]]})),
    rejected('a duplicate key', json(good).replace('"total":', '"total":0.01,"total":')),
    rejected('a null value', null, 'empty message (null value)'),
    rejected('an empty value', '', 'empty message (zero bytes)'),
  ]
}

const COMPRESSIONS: JavaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

describe('ecap ingest with hard input', () => {
  it('lands every message as an event or a dead letter with its reason, from topics in every compression', async () => {
    const topic = uniqueName('bad-input')
    const lake = join(dir, 'lake')
    const admin = testKafka().admin()
    await admin.connect()
    try {
      await admin.createTopics({topics: [{topic, numPartitions: 3}], waitForLeaders: true})
    } finally {
      await admin.disconnect()
    }

    // Generated traffic around the corpus, so each compressed batch holds both.
    const file = join(dir, 'traffic.ndjson')
    const generated = ecap(['generate', '--events', '1000', '--seed', '21', '-o', file, '-q'])
    expect(generated.status, generated.stderr).toBe(0)
    const traffic = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => ({
        name: 'generated',
        value: Buffer.from(line),
        event: (JSON.parse(line) as {event_id: string}).event_id,
      }))
    const cases = corpus()
    const all: Case[] = []
    for (const [i, message] of traffic.entries()) {
      all.push(message)
      if (i % 25 === 0) all.push(...cases.splice(0, 2))
    }
    all.push(...cases)
    const messages: JavaMessage[] = all.map((c, i) => ({
      topic,
      compression: COMPRESSIONS[i % COMPRESSIONS.length] as JavaCompression,
      key: `k${i % 7}`,
      value: c.value,
    }))
    await produceWithJava(testBrokers(), messages)

    const events = all.filter((c) => c.event !== undefined)
    const dead = all.filter((c) => c.reason !== undefined)
    expect(events.length + dead.length).toBe(all.length)

    const run = ecap(
      [
        'ingest',
        '--brokers',
        testBrokers(),
        '--topic',
        topic,
        '--lake',
        lake,
        '--group',
        uniqueName('bad-input-group'),
        '--from',
        'earliest',
        '--until-caught-up',
        '--json',
      ],
      {timeoutMs: 180_000},
    )
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout).result).toMatchObject({
      messages: all.length,
      events: events.length,
      deadLetters: dead.length,
    })

    const eventIds = events.map((c) => c.event as string)
    await registerTableView(engine, 'bad_input_events', tablePath(lake, EVENTS_TABLE))
    const landed = (await engine.rows('SELECT event_id FROM bad_input_events')).map((r) => String(r.event_id))
    expect(landed.length).toBe(eventIds.length)
    expect(new Set(landed)).toEqual(new Set(eventIds))
    expect(eventIdsWithDeltaRs(tablePath(lake, EVENTS_TABLE))).toEqual({
      rows: eventIds.length,
      distinct: eventIds.length,
      digest: idsDigest(eventIds),
    })

    await registerTableView(engine, 'bad_input_dead', tablePath(lake, DEAD_LETTERS_TABLE))
    const rows = await engine.rows('SELECT lower(hex(value)) AS value, reason FROM bad_input_dead')
    const key = (value: string | null, reason: string) => `${value ?? 'null'} ${reason}`
    expect(rows.map((r) => key(r.value === null ? null : String(r.value), String(r.reason))).sort()).toEqual(
      dead.map((c) => key(c.value === null ? null : c.value.toString('hex'), c.reason as string)).sort(),
    )
  }, 300_000)
})
