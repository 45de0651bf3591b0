import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Kafka, logLevel} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type LocalBroker, startLocalBroker} from '../src/lib/kafka/local-broker.js'
import {type EcapProcess, startEcap, untilStderr} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {createTopic} from './helpers/fault-input.js'
import {uniqueName} from './helpers/kafka.js'

/**
 * a scrape asks the brokers for the lag gauges. With a broker that takes connections
 * but does not answer (a network partition, a JVM paused by the kernel or a long GC; here the test's own broker,
 * SIGSTOPped), kafkajs retried for 24-30 s per scrape, past Prometheus's default 10 s scrape_timeout: the target was
 * marked down and every counter lost, just when lag alerts matter.
 */

/** Prometheus's default scrape_timeout: a scrape that takes longer is a failed scrape. */
const PROMETHEUS_SCRAPE_TIMEOUT_MS = 10_000

/** The pids of the broker's JVM: the process whose command line names the broker's folder. */
function brokerPids(broker: LocalBroker): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmdline.includes('kafka') && cmdline.includes(broker.dir)) pids.push(Number(entry))
    } catch {
      // A process that ended while the list was read.
    }
  }
  return pids
}

function sample(text: string, name: string, partition: number): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`partition="${partition}"`))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

describe('ecap ingest --metrics-port with a broker that stops answering', () => {
  let dir: string
  let broker: LocalBroker

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ecap-metrics-'))
    broker = await startLocalBroker()
  }, 180_000)

  afterAll(async () => {
    for (const pid of brokerPids(broker)) process.kill(pid, 'SIGCONT')
    await broker?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('still answers a scrape within Prometheus timeout, with every counter', async () => {
    const topic = uniqueName('stalled')
    const kafka = new Kafka({clientId: 'ecap-test', brokers: [broker.brokers], logLevel: logLevel.NOTHING})
    await createTopic(broker.brokers, topic, 1)
    const producer = kafka.producer()
    await producer.connect()
    const events = Array.from({length: 50}, () => makeEvent('page_view'))
    await producer.send({topic, messages: events.map((e) => ({partition: 0, value: JSON.stringify(e)}))})
    await producer.disconnect()

    const run: EcapProcess = startEcap([
      'ingest',
      '--brokers',
      broker.brokers,
      '--topic',
      topic,
      '--lake',
      join(dir, 'lake'),
      '--group',
      uniqueName('g'),
      '--flush-interval',
      '1s',
      '--metrics-port',
      '0',
    ])
    try {
      await untilStderr(run, 'Serving Prometheus metrics on ')
      const url = /Serving Prometheus metrics on (\S+)/.exec(run.stderr())?.[1] as string
      let text = ''
      while (sample(text, 'ecap_ingest_lag_messages', 0) !== 0) {
        expect(run.child.exitCode, run.stderr()).toBeNull()
        text = await (await fetch(url)).text()
      }
      expect(sample(text, 'ecap_ingest_events_committed_total', 0)).toBe(events.length)

      const pids = brokerPids(broker)
      expect(pids.length).toBeGreaterThan(0)
      for (const pid of pids) process.kill(pid, 'SIGSTOP')
      try {
        // A scrape reuses a broker read of the last second (both lag gauges share it): let the last one age.
        await new Promise((resolve) => setTimeout(resolve, 1500))
        // Two scrapes in a row: the second must not wait behind the first one's unanswered broker read either.
        for (let i = 0; i < 2; i++) {
          const response = await fetch(url, {signal: AbortSignal.timeout(PROMETHEUS_SCRAPE_TIMEOUT_MS)})
          expect(response.status).toBe(200)
          const stalled = await response.text()
          expect(sample(stalled, 'ecap_ingest_events_committed_total', 0)).toBe(events.length)
          // Lag is unknown while the broker does not answer: left out, never a made-up figure.
          expect(sample(stalled, 'ecap_ingest_lag_messages', 0)).toBeUndefined()
        }
      } finally {
        for (const pid of pids) process.kill(pid, 'SIGCONT')
      }
      expect(run.child.exitCode, run.stderr()).toBeNull()
    } finally {
      run.child.kill('SIGINT')
      await run.exited
    }
  }, 240_000)
})
