import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Consumer, EachBatchPayload, KafkaMessage} from 'kafkajs'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {Engine, withEngine} from '../src/lib/engine/engine.js'
import {resetFailpoints} from '../src/lib/failpoints.js'
import {LiveFraudScorer} from '../src/lib/ingest/fraud-scoring.js'
import {IngestState} from '../src/lib/ingest/ingest-state.js'
import {lakeOffsets} from '../src/lib/ingest/lake-offsets.js'
import type {IngestOptions} from '../src/lib/ingest/types.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {listCommitVersions, readCommit} from '../src/lib/lake/delta-log.js'
import {FRAUD_ALERTS_TABLE} from '../src/lib/lake/fraud-alerts.js'
import {commitAppend, EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {makeEvent} from './helpers/events.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

/**
 * Interleavings of ingest members driven step by step against the real IngestState, the real Delta log and DuckDB:
 * each member is an IngestState with a recording stand-in for its kafkajs consumer, fed batches as kafkajs would hand
 * them over. The lake is then checked for exact sets (every input once, nothing else) and txns that never go back.
 */

const TOPIC = 'ecap-ingest-state'
let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-state-'))
  engine = await Engine.open()
})

const scorers: LiveFraudScorer[] = []

afterAll(async () => {
  for (const scorer of scorers) await scorer.close()
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

afterEach(() => {
  delete process.env.ECAP_FAILPOINTS
  resetFailpoints()
})

/** The message at (partition, offset): a purchase with its own event and order id, or a reject when `bad`. */
function message(partition: number, offset: number, bad: boolean): KafkaMessage {
  const id = (partition * 1_000_000 + offset).toString(16).padStart(12, '0')
  const value = bad
    ? Buffer.from(`{"not an event": ${partition}.${offset}}`)
    : Buffer.from(
        JSON.stringify(
          makeEvent('purchase', {
            event_id: `00000000-0000-4000-8000-${id}`,
            order_id: `o-${partition}-${offset}`,
            event_time: new Date(Date.UTC(2026, 2, 1) + offset * 60_000).toISOString(),
          }),
        ),
      )
  return {offset: String(offset), value, key: null, timestamp: '0', attributes: 0, headers: {}} as KafkaMessage
}

/** A kafkajs batch of offsets `from`..`to` of one partition; offsets in `bad` hold messages that are no event. */
function batch(partition: number, from: number, to: number, bad: Set<number> = new Set()): EachBatchPayload {
  const messages: KafkaMessage[] = []
  for (let o = from; o <= to; o++) messages.push(message(partition, o, bad.has(o)))
  return {
    batch: {topic: TOPIC, partition, messages},
    isRunning: () => true,
    isStale: () => false,
    resolveOffset: () => {},
    heartbeat: async () => {},
  } as unknown as EachBatchPayload
}

interface Member {
  state: IngestState
  seeks: {partition: number; offset: number}[]
}

let members = 0
function member(lake: string, fraud = false, alerts?: {brokers: string; topic: string}): Member {
  const options: IngestOptions = {
    connection: {brokers: alerts?.brokers ?? '127.0.0.1:1'},
    topic: TOPIC,
    group: 'g',
    lake,
    flushRows: 1_000_000,
    flushIntervalMs: 3_600_000,
    from: 'earliest',
    untilCaughtUp: false,
  }
  const staging = join(lake, '_staging', `member-${members++}`)
  mkdirSync(staging, {recursive: true})
  // threshold 0: every purchase is an alert, so the alerts table must hold each order exactly once.
  const scorer = fraud
    ? new LiveFraudScorer({
        lake,
        topic: TOPIC,
        group: alerts ? `g-${alerts.topic}` : 'g',
        threshold: 0,
        alertsTopic: alerts?.topic,
        connection: options.connection,
      })
    : undefined
  if (scorer) scorers.push(scorer)
  const state = new IngestState(options, engine, staging, scorer)
  const seeks: Member['seeks'] = []
  state.consumer = {
    seek: ({partition, offset}: {partition: number; offset: string}) => seeks.push({partition, offset: Number(offset)}),
    commitOffsets: async () => {},
  } as unknown as Consumer
  return {state, seeks}
}

/** Every value of `column` in a table of the lake, with how often it occurs. */
async function counts(lake: string, table: string, column: string): Promise<Map<string, number>> {
  await registerTableView(engine, 't', tablePath(lake, table))
  const rows = await engine.rows(`SELECT CAST(${column} AS VARCHAR) AS k, count(*)::INTEGER AS n FROM t GROUP BY 1`)
  return new Map(rows.map((r) => [String(r.k), Number(r.n)]))
}

function expectedIds(ranges: [number, number, number][], bad: Set<string> = new Set()): Map<string, number> {
  const ids = new Map<string, number>()
  for (const [partition, from, to] of ranges) {
    for (let o = from; o <= to; o++) {
      if (!bad.has(`${partition}:${o}`)) ids.set(`o-${partition}-${o}`, 1)
    }
  }
  return ids
}

/** Each partition's txn versions in commit order, over the whole log of a table. */
async function txnHistory(lake: string, table: string): Promise<Map<number, number[]>> {
  const history = new Map<number, number[]>()
  const path = tablePath(lake, table)
  for (const v of await listCommitVersions(path)) {
    for (const action of await readCommit(path, v)) {
      if (!('txn' in action)) continue
      const partition = Number(action.txn.appId.split(':').pop())
      history.set(partition, [...(history.get(partition) ?? []), action.txn.version])
    }
  }
  return history
}

function expectMonotonic(history: Map<number, number[]>): void {
  for (const [partition, versions] of history) {
    const sorted = [...versions].sort((a, b) => a - b)
    expect(versions, `txn of partition ${partition}`).toEqual(sorted)
  }
}

describe('IngestState interleavings', () => {
  it('a rebalance during another member’s flush neither pulls a txn back nor writes events, dead letters or alerts twice', async () => {
    const lake = join(dir, 'rebalance')
    const a = member(lake, true)
    const b = member(lake, true)
    const bad1 = new Set([120, 160, 205])
    await a.state.rejoin([0])
    await b.state.rejoin([1])
    b.state.take(batch(1, 0, 100))
    await b.state.flush()
    a.state.take(batch(0, 0, 9))
    await a.state.flush()

    // B has fetched 101..199 of partition 1 and is about to write them when a rebalance moves the partition to A.
    b.state.take(batch(1, 101, 199, bad1))
    await a.state.rejoin([0, 1])
    await b.state.flush()
    // A's next flush holds only partition 0 and lands after B's commit, without a conflict.
    a.state.take(batch(0, 10, 19))
    await a.state.flush()
    // Fetches A had asked for from its old position come in, then what follows.
    a.state.take(batch(1, 101, 150, bad1))
    await a.state.flush()
    a.state.take(batch(1, 151, 199, bad1))
    await a.state.flush()
    a.state.take(batch(1, 200, 210, bad1))
    await a.state.flush()

    const badKeys = new Set([...bad1].map((o) => `1:${o}`))
    const want = expectedIds(
      [
        [0, 0, 19],
        [1, 0, 210],
      ],
      badKeys,
    )
    expect(await counts(lake, EVENTS_TABLE, 'order_id')).toEqual(want)
    expect(await counts(lake, FRAUD_ALERTS_TABLE, 'order_id')).toEqual(want)
    expect(await counts(lake, DEAD_LETTERS_TABLE, `"partition" || ':' || "offset"`)).toEqual(
      new Map([...badKeys].map((k) => [k, 1])),
    )
    for (const table of [EVENTS_TABLE, DEAD_LETTERS_TABLE, FRAUD_ALERTS_TABLE])
      expectMonotonic(await txnHistory(lake, table))
  })

  it('a crash between the dead-letters and events commits does not write a dead letter twice on the replay', async () => {
    const lake = join(dir, 'dead-letters-crash')
    const first = member(lake)
    await first.state.rejoin([0, 1])
    first.state.take(batch(0, 0, 9, new Set([3])))
    first.state.take(batch(1, 0, 9, new Set([5])))
    process.env.ECAP_FAILPOINTS = 'ingest.dead-letters.after-commit=error'
    resetFailpoints()
    await expect(first.state.flush()).rejects.toThrow(/Failpoint/)
    delete process.env.ECAP_FAILPOINTS
    resetFailpoints()

    // The restarted process: the events table has nothing, the dead letters hold both partitions up to 9.
    const second = member(lake)
    await second.state.rejoin([0, 1])
    // Partition 0 comes back with a new reject (12); partition 1 comes back in a smaller first fetch.
    second.state.take(batch(0, 0, 14, new Set([3, 12])))
    second.state.take(batch(1, 0, 4, new Set([5])))
    await second.state.flush()
    second.state.take(batch(1, 5, 9, new Set([5])))
    await second.state.flush()

    expect(await counts(lake, DEAD_LETTERS_TABLE, `"partition" || ':' || "offset"`)).toEqual(
      new Map([
        ['0:3', 1],
        ['0:12', 1],
        ['1:5', 1],
      ]),
    )
    const badKeys = new Set(['0:3', '0:12', '1:5'])
    expect(await counts(lake, EVENTS_TABLE, 'order_id')).toEqual(
      expectedIds(
        [
          [0, 0, 14],
          [1, 0, 9],
        ],
        badKeys,
      ),
    )
    for (const table of [EVENTS_TABLE, DEAD_LETTERS_TABLE]) expectMonotonic(await txnHistory(lake, table))
  })

  it('resumes a partition another member wrote past from the lake, not from where it had fetched', async () => {
    const lake = join(dir, 'behind')
    const a = member(lake)
    const b = member(lake)
    await a.state.rejoin([0, 1])
    a.state.take(batch(1, 0, 9))
    await a.state.flush()
    await b.state.rejoin([1])
    b.state.take(batch(1, 10, 49))
    await b.state.flush()
    // A still holds partition 1 as far as it knows; its next flush of partition 0 lands after B's commit.
    a.state.take(batch(0, 0, 9))
    await a.state.flush()
    expect(a.seeks.filter((s) => s.partition === 1).at(-1)).toEqual({partition: 1, offset: 50})
  })

  it('--until-caught-up is not done when the last flush lost a race and rewound', async () => {
    const lake = join(dir, 'caught-up-after-rewind')
    const a = member(lake)
    const b = member(lake)
    await a.state.rejoin([0])
    await b.state.rejoin([0])
    const highWater = new Map([[0, 10]])
    a.state.take(batch(0, 0, 9))
    expect(a.state.caughtUp(highWater, [0])).toBe(true)
    // Before A writes, a member that owned the partition a moment ago commits part of it.
    b.state.take(batch(0, 0, 4))
    await b.state.flush()
    await a.state.flush()
    expect(a.state.lakeCaughtUp(highWater, [0])).toBe(false)
    expect(a.seeks.at(-1)).toEqual({partition: 0, offset: 5})
    a.state.take(batch(0, 5, 9))
    await a.state.flush()
    expect(a.state.lakeCaughtUp(highWater, [0])).toBe(true)
    expect(await counts(lake, EVENTS_TABLE, 'order_id')).toEqual(expectedIds([[0, 0, 9]]))
  })

  it('a member that takes over a partition resends the alerts its dead owner committed but never produced', async () => {
    const lake = join(dir, 'alerts-takeover')
    const kafka = {brokers: testBrokers(), topic: uniqueName('alerts')}
    await createIngestTopic()
    const survivor = member(lake, true, kafka)
    await survivor.state.rejoin([1])
    const dying = member(lake, true, kafka)
    await dying.state.rejoin([0])
    dying.state.take(batch(0, 0, 9))
    process.env.ECAP_FAILPOINTS = 'ingest.alerts.produce.before=error'
    resetFailpoints()
    await expect(dying.state.flush()).rejects.toThrow(/Failpoint/)
    delete process.env.ECAP_FAILPOINTS
    resetFailpoints()
    // The dying member's session ends; the group gives its partition to the survivor.
    await survivor.state.rejoin([0, 1])
    const want = expectedIds([[0, 0, 9]])
    expect(await alertsProduced(kafka.topic, want.keys())).toEqual(want)
  })

  it('a batch the handler takes while a rewind waits for Kafka is not buffered twice', async () => {
    const lake = join(dir, 'rewind-await')
    const a = member(lake)
    const b = member(lake)
    await a.state.rejoin([0])
    await b.state.rejoin([0])
    a.state.take(batch(0, 0, 9))
    b.state.take(batch(0, 0, 4))
    await b.state.flush()
    // A's flush conflicts and rewinds; while it asks Kafka for the low-water marks, kafkajs delivers the next fetch.
    let delivered = false
    a.state.lowWaterMarks = async () => {
      if (!delivered) {
        delivered = true
        a.state.take(batch(0, 10, 19))
      }
      return new Map([[0, 0]])
    }
    await a.state.flush()
    a.state.take(batch(0, 5, 19))
    await a.state.flush()
    expect(await counts(lake, EVENTS_TABLE, 'order_id')).toEqual(expectedIds([[0, 0, 19]]))
  })

  it('a retention-gap commit that lands past another member’s commit reads it instead of jumping over it', async () => {
    const lake = join(dir, 'gap-jump')
    const a = member(lake)
    const b = member(lake)
    await b.state.rejoin([1])
    b.state.take(batch(1, 0, 100))
    await b.state.flush()
    await a.state.rejoin([0])
    a.state.take(batch(0, 0, 9))
    await a.state.flush()
    // B's flush of partition 1 is in flight when a rebalance gives it to A; retention deleted 10..19 of partition 0.
    b.state.take(batch(1, 101, 199))
    a.state.lowWaterMarks = async () => {
      await b.state.flush()
      return new Map([
        [0, 20],
        [1, 0],
      ])
    }
    await a.state.rejoin([0, 1])
    a.state.take(batch(0, 20, 29))
    a.state.take(batch(1, 101, 199))
    await a.state.flush()
    expect(await counts(lake, EVENTS_TABLE, 'order_id')).toEqual(
      expectedIds([
        [0, 0, 9],
        [0, 20, 29],
        [1, 0, 199],
      ]),
    )
    expect(a.state.retentionGaps).toEqual([{topic: TOPIC, partition: 0, firstOffset: 10, lastOffset: 19}])
  })

  it('a retention-gap commit that loses a race measures the gap again from the winner, and --until-caught-up ends', async () => {
    const lake = join(dir, 'gap-race')
    const a = member(lake)
    const b = member(lake)
    await a.state.rejoin([0])
    a.state.take(batch(0, 0, 9))
    await a.state.flush()
    await b.state.rejoin([0])
    b.state.take(batch(0, 10, 12))
    // The old owner commits 10..12 while A asks for the low-water mark: 20, which is also the high-water mark.
    let first = true
    a.state.lowWaterMarks = async () => {
      if (first) {
        first = false
        await b.state.flush()
      }
      return new Map([[0, 20]])
    }
    await a.state.rejoin([0])
    const highWater = new Map([[0, 20]])
    expect(a.state.lakeCaughtUp(highWater, [0])).toBe(true)
    expect(a.state.retentionGaps).toEqual([{topic: TOPIC, partition: 0, firstOffset: 13, lastOffset: 19}])
    expect(await counts(lake, EVENTS_TABLE, 'order_id')).toEqual(expectedIds([[0, 0, 12]]))
  })

  it('alerts an old owner committed after the new owner joined, and never produced, are produced', async () => {
    const lake = join(dir, 'alerts-late-owner')
    const kafka = {brokers: testBrokers(), topic: uniqueName('alerts')}
    await createIngestTopic()
    const old = member(lake, true, kafka)
    const next = member(lake, true, kafka)
    await old.state.rejoin([0])
    await next.state.rejoin([1])
    old.state.take(batch(0, 0, 9))
    await old.state.flush()
    // The old owner's flush of 10..19 is in flight at the rebalance; it commits the alerts and dies before producing.
    old.state.take(batch(0, 10, 19))
    await next.state.rejoin([0, 1])
    process.env.ECAP_FAILPOINTS = 'ingest.alerts.produce.before=error'
    resetFailpoints()
    await expect(old.state.flush()).rejects.toThrow(/Failpoint/)
    delete process.env.ECAP_FAILPOINTS
    resetFailpoints()
    next.state.take(batch(0, 10, 19))
    await next.state.flush()
    next.state.take(batch(0, 10, 19))
    await next.state.flush()
    const want = [...expectedIds([[0, 0, 19]]).keys()]
    // At least once: the first ten may come twice (produced by the old owner, then resent by the new one).
    expect(new Set((await alertsProduced(kafka.topic, want)).keys())).toEqual(new Set(want))
  })

  it('a checkpoint that fails after a durable commit is a warning, and the flushes go on', async () => {
    const lake = join(dir, 'checkpoint-fails')
    const a = member(lake)
    await a.state.rejoin([0])
    process.env.ECAP_FAILPOINTS = 'lake.checkpoint.write=error'
    resetFailpoints()
    for (let o = 0; o < 12; o++) {
      a.state.take(batch(0, o, o))
      await a.state.flush()
    }
    expect(a.state.result('caught-up', Date.now()).warnings.join('\n')).toMatch(
      /events table's checkpoint after version 10 failed .*Failpoint lake.checkpoint.write/,
    )
    expect(await counts(lake, EVENTS_TABLE, 'order_id')).toEqual(expectedIds([[0, 0, 11]]))
  })

  it('reads only partitions from the txns of a topic named like another writer’s app id (import)', async () => {
    const lake = join(dir, 'topic-named-import')
    const offsets = await withEngine(async (engine) => {
      await commitAppend(
        lake,
        [],
        [
          {appId: 'ecap:import:9f86d081884c7d65', version: 1},
          {appId: 'ecap:import:2', version: 7},
        ],
        {engine},
      )
      return (await lakeOffsets(tablePath(lake, EVENTS_TABLE), 'import', engine)).offsets
    })
    expect(offsets).toEqual(new Map([[2, 7]]))
  })
})

/** The scorer asks the group's committed offsets of the ingest topic, which must exist on the broker. */
async function createIngestTopic(): Promise<void> {
  const admin = testKafka().admin()
  await admin.connect()
  try {
    await admin.createTopics({topics: [{topic: TOPIC, numPartitions: 2}], waitForLeaders: true})
  } finally {
    await admin.disconnect()
  }
}

/** Order ids of the messages on an alerts topic, with how often each came: read until every id of `expected` came (or 30 s). */
async function alertsProduced(topic: string, expected: Iterable<string>): Promise<Map<string, number>> {
  const want = new Set(expected)
  const consumer = testKafka().consumer({groupId: uniqueName('read-alerts')})
  const seen = new Map<string, number>()
  await consumer.connect()
  try {
    await consumer.subscribe({topic, fromBeginning: true})
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 30_000)
      consumer
        .run({
          eachMessage: async ({message}) => {
            const id = String(JSON.parse(String(message.value)).order_id)
            seen.set(id, (seen.get(id) ?? 0) + 1)
            if ([...want].every((w) => seen.has(w))) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return seen
}
