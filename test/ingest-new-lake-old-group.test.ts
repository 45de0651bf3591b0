import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ecap} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {createTopic} from './helpers/fault-input.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

/**
 * The lake is the record of what was ingested, yet a partition the
 * lake had no record of was left where the consumer group's Kafka offsets pointed. A second lake fed by the same
 * group (a lake rebuilt from the topic, staging beside production, the default group name) got nothing of what the
 * group had read before, and `--until-caught-up` waited for it forever.
 */

describe('a new lake read by a group that committed offsets before', () => {
  let dir: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ecap-group-'))
  })

  afterAll(() => {
    rmSync(dir, {recursive: true, force: true})
  })

  it('gets every event of the topic with --from earliest', async () => {
    const topic = uniqueName('new-lake')
    const group = uniqueName('g')
    await createTopic(testBrokers(), topic, 2)
    const producer = testKafka().producer()
    await producer.connect()
    const events = Array.from({length: 40}, (_, i) => ({partition: i % 2, event: makeEvent('page_view')}))
    await producer.send({
      topic,
      messages: events.map((e) => ({partition: e.partition, value: JSON.stringify(e.event)})),
    })
    await producer.disconnect()
    const ingest = (lake: string) =>
      ecap(
        [
          'ingest',
          '--brokers',
          testBrokers(),
          '--topic',
          topic,
          '--lake',
          join(dir, lake),
          '--group',
          group,
          '--from',
          'earliest',
          '--until-caught-up',
          '--json',
        ],
        // A guard against the hang this test is about, not a measure of speed.
        {timeoutMs: 60_000},
      )
    const first = ingest('lake-a')
    expect(first.status, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout).result.events).toBe(events.length)
    const second = ingest('lake-b')
    expect(second.status, second.stderr).toBe(0)
    expect(JSON.parse(second.stdout).result.events).toBe(events.length)
  }, 180_000)
})
