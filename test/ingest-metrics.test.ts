import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {networkInterfaces, tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {TxnConflictError} from '../src/lib/errors.js'
import {IngestMetrics} from '../src/lib/ingest/metrics.js'
import {serveMetrics} from '../src/lib/ingest/metrics-server.js'
import {TablePositions} from '../src/lib/ingest/table-positions.js'
import {DEAD_LETTERS_SPEC, DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {FRAUD_ALERTS_TABLE} from '../src/lib/lake/fraud-alerts.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {type EcapProcess, ecap, startEcap, untilStderr} from './helpers/cli.js'
import {makeEvent} from './helpers/events.js'
import {createTopic} from './helpers/fault-input.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

/** One sample of a Prometheus text exposition. */
interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses Prometheus text format (no escaped quotes in ecap's label values: topics, partitions, table names). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`Not a Prometheus sample line: ${line}`)
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]),
    )
    samples.push({name: match[1] as string, labels, value: Number(match[3])})
  }
  return samples
}

/** The value of each partition's sample of `name` (partition number to value). */
function byPartition(samples: Sample[], name: string): Map<number, number> {
  return new Map(samples.filter((s) => s.name === name).map((s) => [Number(s.labels.partition), s.value]))
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

async function scrape(url: string): Promise<{status: number; type: string | null; samples: Sample[]}> {
  const response = await fetch(url)
  const text = await response.text()
  return {status: response.status, type: response.headers.get('content-type'), samples: parseExposition(text)}
}

/** The newest version in a table's Delta log. */
function logVersion(table: string): number {
  const versions = readdirSync(join(table, '_delta_log'))
    .filter((f) => /^\d{20}\.json$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
  return Math.max(...versions)
}

/** A port nothing listens on, held by a server the caller closes (or keeps, to make the port taken). */
async function listening(host = '127.0.0.1'): Promise<{server: Server; port: number}> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return {server, port: address.port}
}

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-metrics-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

/** Messages that must become dead letters, each with a different fault. */
const BAD = [
  Buffer.from('not json at all'),
  Buffer.from(JSON.stringify({...makeEvent('purchase'), total: 'lots'})),
  Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
]

describe('ecap ingest --metrics-port', () => {
  it('serves metrics while ingesting that match what landed in the lake, and stops serving on SIGINT', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('metrics')
    const lake = join(dir, 'lake-live')
    await createTopic(testBrokers(), topic, 3)
    // Different counts per partition, so a figure reported under the wrong partition cannot pass; partition 1 gets no
    // bad message, so a dead-letter count there must stay 0.
    const goodCounts = [120, 70, 30]
    const badByPartition = [[BAD[0], BAD[1]], [], [BAD[2]]]
    const idsByPartition = goodCounts.map(() => new Set<string>())
    const purchasesByPartition = goodCounts.map(() => 0)
    const producer = testKafka().producer()
    await producer.connect()
    // Every fifth event a purchase: with --fraud-threshold 0 each one raises an alert.
    const sendRound = async (share: number) => {
      for (const [partition, count] of goodCounts.entries()) {
        const events = Array.from({length: Math.round(count * share)}, (_, i) =>
          i % 5 === 0
            ? makeEvent('purchase', {order_id: `o${partition}-${idsByPartition[partition]?.size}-${i}`})
            : makeEvent('page_view'),
        )
        for (const e of events) {
          idsByPartition[partition]?.add(e.event_id)
          if (e.event_type === 'purchase') purchasesByPartition[partition] = (purchasesByPartition[partition] ?? 0) + 1
        }
        await producer.send({
          topic,
          messages: events.map((e) => ({partition, value: JSON.stringify(e)})),
        })
      }
    }
    await sendRound(0.5)
    for (const [partition, values] of badByPartition.entries()) {
      for (const bad of values) await producer.send({topic, messages: [{partition, value: bad ?? null}]})
    }

    const run: EcapProcess = startEcap([
      'ingest',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      uniqueName('g'),
      '--flush-interval',
      '0.3s',
      '--score-fraud',
      '--fraud-threshold',
      '0',
      '--metrics-port',
      '0',
    ])
    try {
      await untilStderr(run, 'Serving Prometheus metrics on ')
      const url = /Serving Prometheus metrics on (\S+)/.exec(run.stderr())?.[1]
      expect(url, run.stderr()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      if (url === undefined) return
      const first = await scrape(url)
      expect(first.status).toBe(200)
      expect(first.type).toContain('text/plain; version=0.0.4')
      // Not found elsewhere than /metrics, and only on loopback: an address of another interface refuses it.
      expect((await fetch(url.replace('/metrics', '/'))).status).toBe(404)
      const port = new URL(url).port
      const outside = Object.values(networkInterfaces())
        .flat()
        .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
      if (outside) await expect(fetch(`http://${outside.address}:${port}/metrics`)).rejects.toThrow()

      // The rest of the traffic arrives while ingest runs.
      await sendRound(0.5)
      await producer.disconnect()
      const goodTotal = idsByPartition.reduce((sum, ids) => sum + ids.size, 0)
      const badTotal = BAD.length
      let samples: Sample[] = []
      const landed = () =>
        [...byPartition(samples, 'ecap_ingest_events_committed_total').values()].reduce((a, b) => a + b, 0) ===
          goodTotal &&
        [...byPartition(samples, 'ecap_ingest_dead_letters_committed_total').values()].reduce((a, b) => a + b, 0) ===
          badTotal &&
        [...byPartition(samples, 'ecap_ingest_lag_messages').values()].every((lag) => lag === 0) &&
        // A flush is observed after its Kafka offset commit, a moment after its lake commit: wait for the last one too.
        value(samples, 'ecap_ingest_flush_duration_seconds_count') ===
          value(samples, 'ecap_ingest_lake_commits_total', {table: EVENTS_TABLE})
      while (run.child.exitCode === null) {
        samples = (await scrape(url)).samples
        if (landed()) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(run.child.exitCode, run.stderr()).toBeNull()

      // Events per partition: the lake's events whose ids were sent to that partition.
      await registerTableView(engine, 'events', tablePath(lake, EVENTS_TABLE))
      const inLake = new Set((await engine.rows('SELECT event_id FROM events')).map((r) => String(r.event_id)))
      expect(inLake.size).toBe(goodTotal)
      const eventsLanded = new Map(idsByPartition.map((ids, p) => [p, [...ids].filter((id) => inLake.has(id)).length]))
      expect(byPartition(samples, 'ecap_ingest_events_committed_total')).toEqual(eventsLanded)
      await registerTableView(engine, 'dead', tablePath(lake, DEAD_LETTERS_TABLE))
      const deadRows = await engine.rows('SELECT "partition" AS p, count(*) AS n FROM dead GROUP BY 1')
      const deadLanded = new Map([0, 1, 2].map((p) => [p, 0]))
      for (const r of deadRows) deadLanded.set(Number(r.p), Number(r.n))
      expect(byPartition(samples, 'ecap_ingest_dead_letters_committed_total')).toEqual(deadLanded)
      expect(deadLanded).toEqual(new Map(badByPartition.map((v, p) => [p, v.length])))
      // A fresh lake and one member: every message consumed once, each an event or a dead letter.
      expect(byPartition(samples, 'ecap_ingest_messages_consumed_total')).toEqual(
        new Map([0, 1, 2].map((p) => [p, (eventsLanded.get(p) ?? 0) + (deadLanded.get(p) ?? 0)])),
      )
      expect([...byPartition(samples, 'ecap_ingest_duplicates_skipped_total').values()]).toEqual([0, 0, 0])
      expect(byPartition(samples, 'ecap_ingest_lag_seconds')).toEqual(new Map([0, 1, 2].map((p) => [p, 0])))

      // Alerts per partition of their purchase, as the alerts table records them.
      await registerTableView(engine, 'alerts', tablePath(lake, FRAUD_ALERTS_TABLE))
      const alertRows = await engine.rows('SELECT "partition" AS p, count(*) AS n FROM alerts GROUP BY 1')
      const alertsLanded = new Map([0, 1, 2].map((p) => [p, 0]))
      for (const r of alertRows) alertsLanded.set(Number(r.p), Number(r.n))
      expect(alertsLanded).toEqual(new Map(purchasesByPartition.map((n, p) => [p, n])))
      expect(byPartition(samples, 'ecap_ingest_fraud_alerts_committed_total')).toEqual(alertsLanded)

      // The lake's own record: versions, commits (one writer, so all of them), flushes.
      for (const table of [EVENTS_TABLE, DEAD_LETTERS_TABLE, FRAUD_ALERTS_TABLE]) {
        const version = logVersion(tablePath(lake, table))
        expect(value(samples, 'ecap_ingest_lake_version', {table}), table).toBe(version)
        expect(value(samples, 'ecap_ingest_lake_commits_total', {table}), table).toBe(version + 1)
        expect(value(samples, 'ecap_ingest_commit_conflicts_total', {table, outcome: 'rewound'}), table).toBe(0)
        expect(value(samples, 'ecap_ingest_commit_conflicts_total', {table, outcome: 'retried'}), table).toBe(0)
      }
      // Every landed flush committed the events table (its offsets are the seek point of record).
      const eventsCommits = value(samples, 'ecap_ingest_lake_commits_total', {table: EVENTS_TABLE})
      expect(value(samples, 'ecap_ingest_flush_duration_seconds_count')).toBe(eventsCommits)
      expect(value(samples, 'ecap_ingest_flush_messages_sum')).toBe(goodTotal + badTotal)
      expect(value(samples, 'ecap_ingest_flush_messages_count')).toBe(eventsCommits)
      expect(value(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0)

      run.child.kill('SIGINT')
      expect((await run.exited).code, run.stderr()).toBe(0)
      // The server went with the run.
      await expect(fetch(url)).rejects.toThrow()
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL')
    }
  }, 120_000)

  it('counts messages read apart from events committed, and measures lag from the lake, not from what was read', async () => {
    const topic = uniqueName('metrics-held')
    await createTopic(testBrokers(), topic, 2)
    const sent = [40, 15]
    const producer = testKafka().producer()
    await producer.connect()
    for (const [partition, count] of sent.entries()) {
      await producer.send({
        topic,
        messages: Array.from({length: count}, () => ({partition, value: JSON.stringify(makeEvent('search'))})),
      })
    }
    await producer.disconnect()
    const lake = join(dir, 'lake-held')
    // Flush thresholds far beyond the test: everything is read, nothing is committed until the stop.
    const run = startEcap([
      'ingest',
      '--brokers',
      testBrokers(),
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      uniqueName('g'),
      '--flush-rows',
      '1000000',
      '--flush-interval',
      '600s',
      '--metrics-port',
      '0',
    ])
    try {
      await untilStderr(run, 'Serving Prometheus metrics on ')
      const url = /Serving Prometheus metrics on (\S+)/.exec(run.stderr())?.[1] as string
      const expected = new Map(sent.map((n, p) => [p, n]))
      let samples: Sample[] = []
      while (run.child.exitCode === null) {
        samples = (await scrape(url)).samples
        const consumed = byPartition(samples, 'ecap_ingest_messages_consumed_total')
        if (
          sent.every((n, p) => consumed.get(p) === n) &&
          byPartition(samples, 'ecap_ingest_lag_messages').size === 2
        ) {
          break
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(run.child.exitCode, run.stderr()).toBeNull()
      expect(byPartition(samples, 'ecap_ingest_events_committed_total')).toEqual(
        new Map([
          [0, 0],
          [1, 0],
        ]),
      )
      // Read is not landed: the lake holds none of it, so all of it is lag.
      expect(byPartition(samples, 'ecap_ingest_lag_messages')).toEqual(expected)
      // No commit yet: no age to report, rather than a made-up one.
      expect(byPartition(samples, 'ecap_ingest_lag_seconds').size).toBe(0)
      expect(samples.filter((s) => s.name === 'ecap_ingest_lake_version')).toEqual([])
      expect(value(samples, 'ecap_ingest_flush_duration_seconds_count')).toBe(0)
      expect(() => readdirSync(tablePath(lake, EVENTS_TABLE))).toThrow()
      run.child.kill('SIGTERM')
      expect((await run.exited).code, run.stderr()).toBe(0)
      expect(logVersion(tablePath(lake, EVENTS_TABLE))).toBe(0)
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL')
    }
  }, 120_000)

  it('exits by itself with --until-caught-up: the server keeps nothing alive', async () => {
    const topic = uniqueName('metrics-cron')
    await createTopic(testBrokers(), topic, 1)
    const producer = testKafka().producer()
    await producer.connect()
    await producer.send({topic, messages: [{value: JSON.stringify(makeEvent('search'))}]})
    await producer.disconnect()
    const lake = join(dir, 'lake-cron')
    const done = ecap(
      [
        'ingest',
        '--brokers',
        testBrokers(),
        '--topic',
        topic,
        '--lake',
        lake,
        '--group',
        uniqueName('g'),
        '--until-caught-up',
        '--metrics-port',
        '0',
        '--json',
      ],
      {timeoutMs: 60_000},
    )
    expect(done.status, done.stderr).toBe(0)
    expect(JSON.parse(done.stdout).result).toMatchObject({events: 1, stoppedBy: 'caught-up'})
  })

  it('refuses a port that is taken with exit 2, before touching Kafka or the lake', async () => {
    const {server, port} = await listening()
    try {
      const lake = join(dir, 'lake-taken')
      // An unreachable broker: the port check must come first (exit 2, not Kafka's exit 4).
      const taken = ecap([
        'ingest',
        '--brokers',
        '127.0.0.1:1',
        '--lake',
        lake,
        '--metrics-port',
        String(port),
        '--until-caught-up',
      ])
      expect(taken.status, taken.stderr).toBe(2)
      expect(taken.stderr).toContain('METRICS_PORT_IN_USE')
      expect(taken.stderr).toContain(`127.0.0.1:${port}`)
      expect(taken.stderr).toContain('--metrics-port')
      expect(() => readdirSync(lake)).toThrow()
      const json = ecap([
        'ingest',
        '--brokers',
        '127.0.0.1:1',
        '--lake',
        lake,
        '--metrics-port',
        String(port),
        '--json',
      ])
      expect(json.status).toBe(2)
      expect(JSON.parse(json.stdout)).toMatchObject({status: 2, error: {code: 'METRICS_PORT_IN_USE'}})
    } finally {
      server.close()
    }
  })

  it('--metrics-host needs --metrics-port', () => {
    const run = ecap(['ingest', '--metrics-host', '0.0.0.0', '--until-caught-up'])
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('--metrics-port')
  })
})

describe('the metrics server', () => {
  it('listens on the host it is given, answers only /metrics, and closes idempotently', async () => {
    const metrics = new IngestMetrics('t')
    const server = await serveMetrics(metrics.registry, {port: 0, host: '127.0.0.1'})
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const {samples} = await scrape(server.url)
    // No source of lag yet (the run has not reached Kafka): the gauges are empty, the scrape still succeeds.
    expect(samples.filter((s) => s.name.startsWith('ecap_ingest_lag_'))).toEqual([])
    expect(value(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0)
    expect((await fetch(server.url, {method: 'POST'})).status).toBe(405)
    await Promise.all([server.close(), server.close()])
    await expect(fetch(server.url)).rejects.toThrow()
  })

  it('keeps each run in a registry of its own', async () => {
    const a = new IngestMetrics('t')
    const b = new IngestMetrics('t')
    a.consumed(0, 5)
    const samples = parseExposition(await b.registry.metrics())
    expect(value(samples, 'ecap_ingest_messages_consumed_total', {partition: '0'})).toBeUndefined()
    expect(value(parseExposition(await a.registry.metrics()), 'ecap_ingest_messages_consumed_total')).toBe(5)
  })
})

describe('lake commit metrics', () => {
  it('count commits, versions and both kinds of conflict as two writers race on a real table', async () => {
    const lake = join(dir, 'lake-race')
    const metrics = new IngestMetrics('orders')
    const positions = () => {
      const table = new TablePositions(lake, 'orders', DEAD_LETTERS_SPEC)
      table.observer = metrics.commits
      return table
    }
    const mine = positions()
    const other = positions()
    await mine.read(engine)
    await other.read(engine)
    await mine.commit(engine, [], mine.moving(new Map([[0, 5]])))
    // Another partition committed by the other writer meanwhile: ours lands at a later version (retried).
    await other.read(engine)
    await other.commit(engine, [], other.moving(new Map([[1, 3]])))
    await mine.commit(engine, [], mine.moving(new Map([[0, 9]])))
    // The same partition committed by the other writer first: ours fails, nothing lands (rewound).
    await other.read(engine)
    await other.commit(engine, [], other.moving(new Map([[0, 12]])))
    await expect(mine.commit(engine, [], mine.moving(new Map([[0, 11]])))).rejects.toBeInstanceOf(TxnConflictError)

    const samples = parseExposition(await metrics.registry.metrics())
    const table = DEAD_LETTERS_TABLE
    // One registry saw both writers: four commits landed, the last at the log's newest version.
    expect(value(samples, 'ecap_ingest_lake_commits_total', {table})).toBe(4)
    expect(value(samples, 'ecap_ingest_lake_version', {table})).toBe(logVersion(tablePath(lake, table)))
    expect(value(samples, 'ecap_ingest_commit_conflicts_total', {table, outcome: 'retried'})).toBe(1)
    expect(value(samples, 'ecap_ingest_commit_conflicts_total', {table, outcome: 'rewound'})).toBe(1)
  })
})

describe('docs/grafana-ingest.json', () => {
  it('is a dashboard whose every query names metrics that ingest exports', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../docs/grafana-ingest.json', import.meta.url), 'utf8'))
    const exported = new Set<string>()
    const bases: string[] = []
    for (const {name, type} of await new IngestMetrics('t').registry.getMetricsAsJSON()) {
      bases.push(name)
      exported.add(name)
      if (String(type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name + suffix)
    }
    const queries: string[] = dashboard.panels.flatMap((p: {targets?: {expr: string}[]}) =>
      (p.targets ?? []).map((t) => t.expr),
    )
    expect(queries.length).toBeGreaterThan(5)
    const named = new Set(queries.flatMap((q) => q.match(/\b(ecap_ingest_\w+|process_\w+)/g) ?? []))
    expect([...named].filter((name) => !exported.has(name))).toEqual([])
    // Every exported metric is on the dashboard somewhere (a histogram by its buckets, sum or count).
    const shown = (name: string) => [...named].some((n) => n === name || n.startsWith(`${name}_`))
    expect(bases.filter((name) => !shown(name))).toEqual([])
  })
})
