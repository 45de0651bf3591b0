import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type EcapProcess, startEcap, untilStderr} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {createTopic} from './helpers/fault-input.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

/**
 * with `--from latest`, ingest skips what the topic held before it started, yet
 * `ecap_ingest_lag_messages` of a partition the lake had no record of counted from the first retained offset. A partition that got no new message reported its whole backlog as lag for as long
 * as ingest ran, and the documented EcapIngestNotCommitting alert fired on an ingest that was caught up.
 */

function sample(text: string, name: string, partition: number): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`partition="${partition}"`))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

describe('lag with --from latest', () => {
  let dir: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ecap-latest-'))
  })

  afterAll(() => {
    rmSync(dir, {recursive: true, force: true})
  })

  it('is 0 for a partition that got nothing since ingest started', async () => {
    const topic = uniqueName('latest-lag')
    await createTopic(testBrokers(), topic, 2)
    const producer = testKafka().producer()
    await producer.connect()
    const backlog = 30
    for (const partition of [0, 1]) {
      const events = Array.from({length: backlog}, () => makeEvent('page_view'))
      await producer.send({topic, messages: events.map((e) => ({partition, value: JSON.stringify(e)}))})
    }
    const run: EcapProcess = startEcap([
      'ingest',
      '--brokers',
      testBrokers(),
      '--topic',
      topic,
      '--lake',
      join(dir, 'lake'),
      '--group',
      uniqueName('g'),
      '--from',
      'latest',
      '--flush-interval',
      '1s',
      '--metrics-port',
      '0',
    ])
    try {
      await untilStderr(run, 'Serving Prometheus metrics on ')
      const url = /Serving Prometheus metrics on (\S+)/.exec(run.stderr())?.[1] as string
      // Where a --from latest consumer starts is fixed by its first fetch: send until one event has landed.
      let text = ''
      while ((sample(text, 'ecap_ingest_events_committed_total', 0) ?? 0) === 0) {
        expect(run.child.exitCode, run.stderr()).toBeNull()
        await producer.send({topic, messages: [{partition: 0, value: JSON.stringify(makeEvent('page_view'))}]})
        await new Promise((resolve) => setTimeout(resolve, 500))
        text = await (await fetch(url)).text()
      }
      while (sample(text, 'ecap_ingest_lag_messages', 0) !== 0) {
        expect(run.child.exitCode, run.stderr()).toBeNull()
        text = await (await fetch(url)).text()
      }
      // Partition 1 got nothing after the start: ingest has all it will ever read of it.
      expect(sample(text, 'ecap_ingest_lag_messages', 1)).toBe(0)
    } finally {
      await producer.disconnect()
      run.child.kill('SIGINT')
      await run.exited
    }
  }, 180_000)
})
