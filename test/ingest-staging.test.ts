import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {EachBatchPayload, KafkaMessage} from 'kafkajs'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import type {Engine} from '../src/lib/engine/engine.js'
import {LiveFraudScorer} from '../src/lib/ingest/fraud-scoring.js'
import {IngestState} from '../src/lib/ingest/ingest-state.js'
import {judge} from '../src/lib/ingest/judge.js'
import {PendingFlush} from '../src/lib/ingest/pending-flush.js'
import {copyGroups, StagingFile} from '../src/lib/ingest/staging-file.js'
import type {DeadLetterRow} from '../src/lib/lake/dead-letters.js'
import {makeEvent} from './helpers/events.js'

/**
 * Judging and staging without Kafka or a lake: the verdict on one message, the staged files of a flush, and how a
 * flush's per-date files are grouped into COPY statements.
 */

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-staging-'))
})

afterEach(() => {
  rmSync(dir, {recursive: true, force: true})
})

function message(value: Buffer | null, key: string | null = null): KafkaMessage {
  return {
    key: key === null ? null : Buffer.from(key),
    value,
    timestamp: '1772366400000',
    attributes: 0,
    offset: '0',
    headers: {},
  } as KafkaMessage
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean)
}

describe('judge', () => {
  it('accepts a valid event and gives its line in contract order', () => {
    const event = makeEvent('page_view')
    const verdict = judge(Buffer.from(JSON.stringify(event)))
    expect(verdict.ok).toBe(true)
    if (!verdict.ok) return
    expect(verdict.event.event_id).toBe(event.event_id)
    expect(JSON.parse(verdict.line)).toEqual(verdict.event)
  })

  it('names why a message is rejected', () => {
    expect(judge(null)).toEqual({ok: false, reason: 'empty message (null value)'})
    expect(judge(Buffer.alloc(0))).toEqual({ok: false, reason: 'empty message (zero bytes)'})
    expect(judge(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ok: false, reason: 'not valid UTF-8'})
    expect(judge(Buffer.from('{"event_id":'))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^not valid JSON/),
    })
    expect(judge(Buffer.from('[1, 2]'))).toEqual({ok: false, reason: 'not a JSON object'})
  })

  it('rejects a duplicate key that JSON.parse would hide', () => {
    const text = JSON.stringify(makeEvent('page_view'))
    const twice = `${text.slice(0, -1)},"device":"tablet"}`
    expect(judge(Buffer.from(twice))).toEqual({ok: false, reason: 'duplicate key "device"'})
  })
})

describe('PendingFlush', () => {
  it('stages valid events by event date and rejects as dead-letter rows, with first and last offsets', () => {
    const pending = new PendingFlush(dir, 7)
    const first = makeEvent('page_view', {event_time: '2026-03-01T23:59:59.000Z'})
    const second = makeEvent('page_view', {event_time: '2026-03-02T00:00:00.000Z'})
    const bad = Buffer.from('{"not an event": 1}')
    pending.add('t', 0, 10, message(Buffer.from(JSON.stringify(first))), false, false, undefined)
    pending.add('t', 0, 11, message(bad, 'k'), false, false, undefined)
    pending.add('t', 1, 5, message(Buffer.from(JSON.stringify(second))), false, false, undefined)
    pending.close()

    expect(pending.messages).toBe(3)
    expect(pending.events).toBe(2)
    expect(pending.deadLetters).toBe(1)
    expect(pending.duplicates).toBe(0)
    expect(pending.bytes).toBe(JSON.stringify(first).length + bad.length + JSON.stringify(second).length)
    expect([...pending.first]).toEqual([
      [0, 10],
      [1, 5],
    ])
    expect([...pending.last]).toEqual([
      [0, 11],
      [1, 5],
    ])
    expect([...pending.eventsByDate.keys()]).toEqual(['2026-03-01', '2026-03-02'])
    const day1 = pending.eventsByDate.get('2026-03-01') as StagingFile
    expect(day1.path).toBe(join(dir, 'events-7-2026-03-01.ndjson'))
    expect(lines(day1.path).map((l) => JSON.parse(l).event_id)).toEqual([first.event_id])
    expect(pending.deadFile.path).toBe(join(dir, 'dead-letters-7.ndjson'))
    const [row] = lines(pending.deadFile.path).map((l) => JSON.parse(l) as DeadLetterRow)
    expect(row).toEqual({
      topic: 't',
      partition: 0,
      offset: 11,
      kafka_timestamp: 1772366400000,
      key_b64: Buffer.from('k').toString('base64'),
      value_b64: bad.toString('base64'),
      reason: expect.stringMatching(/^event_type undefined is not one of /),
    })
    // No fraud scorer: no fresh events kept for it.
    expect(pending.fresh).toEqual([])

    pending.discard()
    expect(existsSync(day1.path)).toBe(false)
    expect(existsSync(pending.deadFile.path)).toBe(false)
  })

  it('counts what a table already holds as a duplicate and stages nothing for it', () => {
    const pending = new PendingFlush(dir, 0)
    pending.add('t', 0, 1, message(Buffer.from(JSON.stringify(makeEvent('page_view')))), true, false, undefined)
    pending.add('t', 0, 2, message(null), false, true, undefined)
    // In the events table but not in dead letters: a reject is still staged (its dead letter was never committed).
    pending.add('t', 0, 3, message(null), true, false, undefined)
    pending.close()
    expect(pending.duplicates).toBe(2)
    expect(pending.events).toBe(0)
    expect(pending.deadLetters).toBe(1)
    expect(pending.eventsByDate.size).toBe(0)
    expect(lines(pending.deadFile.path).map((l) => JSON.parse(l).offset)).toEqual([3])
  })

  it('keeps the new valid events for a fraud scorer, with their positions', () => {
    const scorer = new LiveFraudScorer({lake: dir, topic: 't', group: 'g', connection: {brokers: '127.0.0.1:1'}})
    const pending = new PendingFlush(dir, 0)
    const event = makeEvent('purchase')
    pending.add('t', 2, 9, message(Buffer.from(JSON.stringify(event))), false, false, scorer)
    pending.add('t', 2, 10, message(Buffer.from(JSON.stringify(makeEvent('purchase')))), true, false, scorer)
    expect(pending.fresh.map((f) => [f.event.event_id, f.partition, f.offset])).toEqual([[event.event_id, 2, 9]])
    pending.discard()
  })
})

describe('the byte cap', () => {
  function batch(partition: number, values: Buffer[], firstOffset: number): EachBatchPayload {
    const messages = values.map((value, i) => ({...message(value), offset: String(firstOffset + i)}))
    return {
      batch: {topic: 't', partition, messages},
      heartbeat: async () => {},
      isRunning: () => true,
      isStale: () => false,
      resolveOffset: () => {},
    } as unknown as EachBatchPayload
  }

  it('makes the buffer full at --flush-bytes of message values, whatever --flush-rows says', () => {
    const value = Buffer.from(JSON.stringify(makeEvent('page_view')))
    const options = {
      connection: {brokers: '127.0.0.1:1'},
      topic: 't',
      group: 'g',
      lake: dir,
      flushRows: 1000,
      flushIntervalMs: 60_000,
      flushBytes: 2 * value.length,
      from: 'earliest',
      untilCaughtUp: false,
    }
    // Taking messages judges and stages them on disk; the lake and its engine are not touched before a flush.
    const state = new IngestState(options, {} as Engine, dir)
    state.take(batch(0, [value], 0))
    expect(state.bufferFull()).toBe(false)
    state.take(batch(1, [value], 0))
    expect(state.bufferFull()).toBe(true)
    expect(state.flushDue()).toBe(false)
  })
})

describe('StagingFile', () => {
  it('appends lines on spill, creates the file only then, and closes once', () => {
    const file = new StagingFile(join(dir, 'a.ndjson'))
    file.add('{"a":1}')
    expect(existsSync(file.path)).toBe(false)
    file.spill()
    file.add('{"é":2}')
    file.close()
    file.add('{"late":3}')
    file.close()
    expect(lines(file.path)).toEqual(['{"a":1}', '{"é":2}'])
    expect(file.lines).toBe(3)
    expect(file.maxLineBytes).toBe('{"late":3}'.length * 3)
    file.remove()
    expect(existsSync(file.path)).toBe(false)
  })
})

describe('copyGroups', () => {
  function files(...rows: number[]): StagingFile[] {
    return rows.map((n, i) => {
      const file = new StagingFile(join(dir, `${i}.ndjson`))
      file.lines = n
      return file
    })
  }
  const sizes = (groups: StagingFile[][]) => groups.map((g) => g.map((f) => f.lines))

  it('puts at most eight dates in one COPY', () => {
    expect(sizes(copyGroups(files(...Array.from({length: 17}, () => 1))))).toEqual([
      [1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1, 1, 1],
      [1],
    ])
  })

  it('bounds the rows of a COPY, and gives a date bigger than that a COPY of its own', () => {
    expect(sizes(copyGroups(files(40_000, 25_536, 1, 100_000, 5)))).toEqual([[40_000, 25_536], [1], [100_000], [5]])
    expect(copyGroups([])).toEqual([])
  })
})
