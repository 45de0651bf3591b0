import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {IngestStatus} from '../src/lib/ingest/status.js'
import {ecap as runEcap} from './helpers/cli.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

function ecap(args: string[]) {
  return runEcap(args, {timeoutMs: 120_000})
}

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-status-'))
})

afterAll(() => {
  rmSync(dir, {recursive: true, force: true})
})

function status(args: string[]): IngestStatus {
  const run = ecap(['ingest', 'status', ...args, '--json'])
  expect(run.status, run.stderr).toBe(0)
  return JSON.parse(run.stdout).result as IngestStatus
}

describe('ecap ingest status', () => {
  it('reports lag per partition in messages and seconds against the lake, and the lake freshness', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('status')
    const lake = join(dir, 'lake')
    const group = uniqueName('g')
    const common = ['--brokers', brokers, '--topic', topic, '--lake', lake, '--group', group]
    const produce = (events: number) => {
      const run = ecap(
        ['generate', '--to', 'kafka', '--brokers', brokers, '--topic', topic, '--partitions', '3'].concat([
          '--events',
          String(events),
          '--seed',
          String(events),
          '--json',
          '-q',
        ]),
      )
      expect(run.status, run.stderr).toBe(0)
    }
    produce(900)

    const before = status(common)
    expect(before.partitions.map((p) => p.partition)).toEqual([0, 1, 2])
    expect(before.total.lagMessages).toBe(900)
    expect(before.partitions.every((p) => p.lakeNext === null && p.groupNext === null)).toBe(true)
    expect(before.events).toMatchObject({version: -1, latestEventTime: null})

    const ingested = ecap(['ingest', ...common, '--until-caught-up', '--json'])
    expect(ingested.status, ingested.stderr).toBe(0)
    const caughtUp = status(common)
    expect(caughtUp.total).toEqual({lagMessages: 0, maxLagSeconds: 0})
    for (const p of caughtUp.partitions) {
      expect(p.lakeNext).toBe(p.logEnd)
      expect(p.groupNext).toBe(p.logEnd)
    }
    expect(caughtUp.events.version).toBeGreaterThanOrEqual(0)
    expect(caughtUp.events.latestEventTime).toMatch(/^20\d\d-/)
    expect(caughtUp.events.lastCommit).not.toBeNull()

    // Messages produced now and left waiting: lag in seconds is their age, found from Kafka's timestamps.
    const producedAt = Date.now()
    const producer = testKafka().producer()
    await producer.connect()
    await producer.send({
      topic,
      messages: [
        {partition: 1, value: 'x'},
        {partition: 1, value: 'y'},
      ],
    })
    await producer.disconnect()
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const behind = status(common)
    const waited = (Date.now() - producedAt) / 1000
    const p1 = behind.partitions.find((p) => p.partition === 1)
    expect(p1?.lagMessages).toBe(2)
    expect(p1?.lagSeconds).toBeGreaterThanOrEqual(2.8)
    expect(p1?.lagSeconds).toBeLessThanOrEqual(waited + 1)
    expect(behind.total.lagMessages).toBe(2)
    expect(behind.partitions.filter((p) => p.partition !== 1).every((p) => p.lagSeconds === 0)).toBe(true)
  })

  it('exits 2 for a missing topic, naming it', () => {
    const brokers = testBrokers()
    const missing = ecap(['ingest', 'status', '--brokers', brokers, '--topic', uniqueName('none'), '--lake', dir])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/no topic/)
  })
})

describe('ecap generate --to kafka --rate', () => {
  it('streams at the rate asked, stamping each event with the time it was sent', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('live')
    const started = Date.now()
    const run = ecap(
      ['generate', '--to', 'kafka', '--brokers', brokers, '--topic', topic, '--partitions', '1'].concat([
        '--events',
        '300',
        '--rate',
        '150',
        '--json',
        '-q',
      ]),
    )
    const ended = Date.now()
    expect(run.status, run.stderr).toBe(0)
    const consumer = testKafka().consumer({groupId: uniqueName('g')})
    await consumer.connect()
    await consumer.subscribe({topic, fromBeginning: true})
    const times: number[] = []
    await new Promise<void>((resolve) => {
      consumer.run({
        eachMessage: async ({message}) => {
          times.push(Date.parse(JSON.parse(String(message.value)).event_time))
          if (times.length === 300) resolve()
        },
      })
    })
    await consumer.disconnect()
    // In order, within the run, and spread over the 2 s that 300 events at 150/s take (pacing, not speed).
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(Math.min(...times)).toBeGreaterThanOrEqual(started)
    expect(Math.max(...times)).toBeLessThanOrEqual(ended)
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1800)
  })

  it('refuses --rate without --to kafka', () => {
    const run = ecap(['generate', '--to', 'lake', '--lake', join(dir, 'x'), '--rate', '10'])
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/--to kafka/)
    expect(run.stderr).not.toMatch(/at .*\.js/)
  })
})
