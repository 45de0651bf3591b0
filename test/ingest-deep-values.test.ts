import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {judge, judgeFully, judgeSegment} from '../src/lib/ingest/judge.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {createTopic} from './helpers/fault-input.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'
import {page, SPEC_PROPERTIES, track} from './helpers/segment-messages.js'

/**
 * a message whose value nests deeper than the JS stack allows must become a dead letter
 * like any other bad message. A few kilobytes of `[[[[...]]]]` in any field made judge throw a RangeError out of
 * quoted()'s JSON.stringify; take() treats a throw as fatal, so ingest stopped, and stopped again on the same message
 * at every restart: one message held the whole topic.
 */

/** `[[[ ... ]]]`, `depth` arrays deep: 200 KB of text, well under Kafka's default 1 MB message limit. */
const DEEP = `${'['.repeat(100_000)}${']'.repeat(100_000)}`

/** A message's JSON text with `DEEP` put in place of one field (by a marker, so no object is ever nested). */
function withDeep(message: Record<string, unknown>, path: string[]): string {
  const marker = '"__deep_marker__"'
  const copy = structuredClone(message)
  let at: Record<string, unknown> = copy
  for (const key of path.slice(0, -1)) {
    at[key] ??= {}
    at = at[key] as Record<string, unknown>
  }
  at[path.at(-1) as string] = '__deep_marker__'
  return JSON.stringify(copy).replace(marker, DEEP)
}

const SEGMENT_FIELDS: [Record<string, unknown>, string[]][] = [
  [page(), ['type']],
  [page(), ['messageId']],
  [page(), ['timestamp']],
  [page(), ['userId']],
  [page(), ['anonymousId']],
  [page(), ['context']],
  [page(), ['context', 'sessionId']],
  [page(), ['context', 'location', 'country']],
  [page(), ['properties']],
  [page(), ['properties', 'path']],
  [track('Product Viewed', SPEC_PROPERTIES['Product Viewed']), ['event']],
  [track('Product Viewed', SPEC_PROPERTIES['Product Viewed']), ['properties', 'currency']],
  [track('Product Viewed', SPEC_PROPERTIES['Product Viewed']), ['properties', 'price']],
  [track('Product Viewed', SPEC_PROPERTIES['Product Viewed']), ['properties', 'category']],
  [track('Order Completed', SPEC_PROPERTIES['Order Completed']), ['properties', 'products']],
  [track('Order Completed', SPEC_PROPERTIES['Order Completed']), ['properties', 'payment_method']],
  [track('Order Completed', SPEC_PROPERTIES['Order Completed']), ['properties', 'order_id']],
  [track('Order Refunded', SPEC_PROPERTIES['Order Refunded']), ['properties', 'reason']],
  [track('Order Refunded', SPEC_PROPERTIES['Order Refunded']), ['properties', 'total']],
]

describe('a deeply nested value is a dead letter, never an exception', () => {
  it.each(SEGMENT_FIELDS.map(([message, path]) => [path.join('.'), message, path] as const))(
    'judgeSegment with the Segment field %s nested 100,000 deep',
    (_name, message, path) => {
      // Fields the mapping reads only when they hold what it looks for (context, a country, a path beside a url)
      // may be passed over; the rest must be refused by a reason naming them.
      const verdict = judgeSegment(Buffer.from(withDeep(message, path)))
      if (!verdict.ok) expect(verdict.reason).toContain(path.at(-1))
    },
  )

  const native = makeEvent('purchase') as unknown as Record<string, unknown>
  it.each(Object.keys(native).map((key) => [key] as const))(
    'judge (ecap events) with the field %s nested 100,000 deep',
    (key) => {
      const value = Buffer.from(withDeep(native, [key]))
      for (const verdict of [judge(value), judgeFully(value)]) {
        expect(verdict.ok).toBe(false)
        if (!verdict.ok) expect(verdict.reason).toContain(key)
      }
    },
  )
})

describe('ingest --input segment goes on past a deeply nested message', () => {
  let dir: string
  let engine: Engine

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ecap-poison-'))
    engine = await Engine.open()
  })

  afterAll(() => {
    engine.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('lands the messages around it and dead-letters it with a reason', async () => {
    const topic = uniqueName('segment-deep')
    const lake = join(dir, 'lake')
    const ids = ['022bb90c-bbac-11e4-8dfc-000000000001', '022bb90c-bbac-11e4-8dfc-000000000002']
    const poison = Buffer.from(withDeep(page({messageId: '022bb90c-bbac-11e4-8dfc-000000000003'}), ['type']))
    const values = [Buffer.from(JSON.stringify(page({messageId: ids[0]}))), poison]
    values.push(Buffer.from(JSON.stringify(page({messageId: ids[1]}))))
    await createTopic(testBrokers(), topic, 1)
    const producer = testKafka().producer()
    await producer.connect()
    try {
      await producer.send({topic, messages: values.map((value) => ({value}))})
    } finally {
      await producer.disconnect()
    }
    const run = ecap(
      [
        'ingest',
        '--input',
        'segment',
        '--brokers',
        testBrokers(),
        '--topic',
        topic,
        '--lake',
        lake,
        '--group',
        uniqueName('segment-deep-group'),
        '--until-caught-up',
        '--json',
      ],
      {timeoutMs: 120_000},
    )
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout).result).toMatchObject({events: 2, deadLetters: 1})
    await registerTableView(engine, 'deep_events', tablePath(lake, EVENTS_TABLE))
    const rows = await engine.rows('SELECT event_id FROM deep_events ORDER BY event_id')
    expect(rows.map((r) => r.event_id)).toEqual(ids)
    await registerTableView(engine, 'deep_dead', tablePath(lake, DEAD_LETTERS_TABLE))
    const letters = await engine.rows('SELECT "offset", reason, octet_length(value) AS bytes FROM deep_dead')
    expect(letters).toHaveLength(1)
    expect(Number(letters[0]?.offset)).toBe(1)
    expect(Number(letters[0]?.bytes)).toBe(poison.length)
    expect(String(letters[0]?.reason)).toContain('"type"')
  }, 180_000)
})
