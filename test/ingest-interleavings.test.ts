import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Consumer, EachBatchPayload, KafkaMessage} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {resetFailpoints} from '../src/lib/failpoints.js'
import {LiveFraudScorer} from '../src/lib/ingest/fraud-scoring.js'
import {IngestState} from '../src/lib/ingest/ingest-state.js'
import type {IngestOptions} from '../src/lib/ingest/types.js'
import {DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {listCommitVersions, readCommit} from '../src/lib/lake/delta-log.js'
import {FRAUD_ALERTS_TABLE} from '../src/lib/lake/fraud-alerts.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {makeEvent} from './helpers/events.js'
import {seededRandom} from './helpers/random.js'

/**
 * Seeded random interleavings of ingest members, explored against the real IngestState, the real Delta log and DuckDB.
 * A small model of Kafka stands in for the broker: a log per partition, a fetch position per member and partition
 * (moved by seeks and by what the member takes), the group's committed offsets, and an assignment that rebalances
 * whose members learn of it at different steps (so old owners still fetch and flush what they held). Members crash
 * (their state is thrown away, as with SIGKILL) or fail inside a flush at a failpoint. At the end every member rejoins
 * and drains, and the lake must hold every valid message once, every reject once as a dead letter, every purchase
 * once as an alert (threshold 0), with no txn ever moving backwards.
 *
 * `npm test` runs a few seeds; `ECAP_INTERLEAVING_SEEDS=500` runs that many (a long search, as a benchmark would).
 */

const TOPIC = 'interleavings'
const PARTITIONS = 3
const LENGTH = 60
const MEMBERS = 3
const STEPS = 80
const SEEDS = Number(process.env.ECAP_INTERLEAVING_SEEDS ?? 6)
const FAILPOINTS_IN_FLUSH = [
  'lake.commit.before',
  'lake.commit.after',
  'ingest.dead-letters.after-commit',
  'ingest.events.after-commit',
  'ingest.kafka-commit.before',
]

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-interleavings-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

const isBad = (partition: number, offset: number) => (partition * 31 + offset * 17) % 11 === 0

function message(partition: number, offset: number): KafkaMessage {
  const id = (partition * 1_000_000 + offset).toString(16).padStart(12, '0')
  const value = isBad(partition, offset)
    ? Buffer.from(`not json ${partition}/${offset}`)
    : Buffer.from(
        JSON.stringify(
          makeEvent('purchase', {
            event_id: `00000000-0000-4000-8000-${id}`,
            order_id: `o-${partition}-${offset}`,
            customer_id: `c-${offset % 7}`,
            event_time: new Date(Date.UTC(2026, 2, 1) + offset * 60_000 + partition).toISOString(),
          }),
        ),
      )
  return {offset: String(offset), value, key: null, timestamp: '0', attributes: 0, headers: {}} as KafkaMessage
}

interface Member {
  state: IngestState
  /** Next offset this member's consumer fetches, per partition it fetches. */
  position: Map<number, number>
  /** Where each partition was before its last seek: a fetch sent before the seek can still deliver from there. */
  beforeSeek: Map<number, number>
  /** The partitions it believes it owns (as of its last rejoin). */
  owns: number[]
  /** Set when the group rebalanced and this member has not rejoined yet. */
  rejoinPending: boolean
}

class World {
  readonly lake: string
  readonly members: Member[] = []
  /** The group's committed Kafka offsets (next offset to read). */
  readonly committed = new Map<number, number>()
  assignment: number[][] = []
  private made = 0
  readonly log: string[] = []

  constructor(
    readonly seed: number,
    private readonly rand: () => number,
  ) {
    this.lake = join(dir, `seed-${seed}`)
    for (let m = 0; m < MEMBERS; m++) this.members.push(this.newMember())
    this.rebalance()
  }

  newMember(): Member {
    const options: IngestOptions = {
      connection: {brokers: '127.0.0.1:1'},
      topic: TOPIC,
      group: 'g',
      lake: this.lake,
      flushRows: 1_000_000,
      flushIntervalMs: 3_600_000,
      from: 'earliest',
      untilCaughtUp: false,
    }
    const staging = join(this.lake, '_staging', `m${this.made++}`)
    mkdirSync(staging, {recursive: true})
    const scorer = new LiveFraudScorer({
      lake: this.lake,
      topic: TOPIC,
      group: 'g',
      threshold: 0,
      connection: options.connection,
    })
    const state = new IngestState(options, engine, staging, scorer)
    const member: Member = {state, position: new Map(), beforeSeek: new Map(), owns: [], rejoinPending: true}
    state.consumer = {
      seek: ({partition, offset}: {partition: number; offset: string}) => {
        const before = member.position.get(partition)
        if (before !== undefined) member.beforeSeek.set(partition, before)
        member.position.set(partition, Number(offset))
      },
      commitOffsets: async (offsets: {partition: number; offset: string}[]) => {
        for (const o of offsets) this.committed.set(o.partition, Number(o.offset))
      },
    } as unknown as Consumer
    return member
  }

  /** A new assignment of the partitions over the members; each learns of it at its next rejoin. */
  rebalance(): void {
    this.assignment = Array.from({length: MEMBERS}, () => [] as number[])
    for (let p = 0; p < PARTITIONS; p++) this.assignment[Math.floor(this.rand() * MEMBERS)]?.push(p)
    for (const m of this.members) m.rejoinPending = true
    this.log.push(`rebalance ${JSON.stringify(this.assignment)}`)
  }

  async rejoin(index: number): Promise<void> {
    const member = this.members[index] as Member
    const owns = this.assignment[index] as number[]
    // Fetches of the old generation never reach the handler after a rejoin.
    member.beforeSeek = new Map()
    member.position = new Map()
    await member.state.rejoin(owns)
    member.beforeSeek = new Map()
    // A partition the member did not seek starts where the group committed, else at the beginning (earliest).
    for (const p of owns) if (!member.position.has(p)) member.position.set(p, this.committed.get(p) ?? 0)
    member.owns = owns
    member.rejoinPending = false
    this.log.push(`rejoin m${index} ${JSON.stringify(owns)}`)
  }

  /** kafkajs hands the member a batch of one partition it fetches, from its position. */
  fetch(index: number, max: number): boolean {
    const member = this.members[index] as Member
    const fetching = [...member.position.keys()].filter((p) => (member.position.get(p) ?? 0) < LENGTH)
    if (fetching.length === 0) return false
    const partition = fetching[Math.floor(this.rand() * fetching.length)] as number
    // Now and then a fetch that was on its way when the partition was sought delivers from the old position. kafkajs
    // marks such a batch stale (isStale) when the seek skipped part of the log before it; one that only repeats what
    // the member already took is not flagged, and ingest must not buffer its messages twice.
    const late = this.rand() < 0.15 ? member.beforeSeek.get(partition) : undefined
    member.beforeSeek.delete(partition)
    const position = member.position.get(partition) as number
    const from = late ?? position
    const stale = late !== undefined && late > position
    const to = Math.min(LENGTH - 1, from + Math.max(1, Math.floor(this.rand() * max)))
    const messages: KafkaMessage[] = []
    for (let o = from; o <= to; o++) messages.push(message(partition, o))
    member.state.take({
      batch: {topic: TOPIC, partition, messages},
      isRunning: () => true,
      isStale: () => stale,
      resolveOffset: () => {},
      heartbeat: async () => {},
    } as unknown as EachBatchPayload)
    if (late === undefined) member.position.set(partition, to + 1)
    const note = late === undefined ? '' : stale ? ' (sent before a seek, stale)' : ' (sent before a seek)'
    this.log.push(`fetch m${index} p${partition} ${from}..${to}${note}`)
    return true
  }

  async flush(index: number, failAt?: string): Promise<void> {
    const member = this.members[index] as Member
    if (failAt) {
      process.env.ECAP_FAILPOINTS = `${failAt}=error`
      resetFailpoints()
    }
    try {
      await member.state.flush()
      this.log.push(`flush m${index}`)
    } catch (error) {
      if (!failAt) throw error
      // The process died there: its memory is gone, a new one takes its place and must rejoin.
      this.log.push(`flush m${index} failed at ${failAt}`)
      this.crash(index)
    } finally {
      delete process.env.ECAP_FAILPOINTS
      resetFailpoints()
    }
  }

  crash(index: number): void {
    this.members[index] = this.newMember()
    this.log.push(`crash m${index}`)
  }

  /** Everyone rejoins the last assignment and drains the topic. */
  async drain(): Promise<void> {
    for (let m = 0; m < MEMBERS; m++) await this.rejoin(m)
    for (let round = 0; round < 50; round++) {
      let took = false
      for (let m = 0; m < MEMBERS; m++) {
        while (this.fetch(m, LENGTH)) took = true
        await this.members[m]?.state.flush()
      }
      if (!took) return
    }
  }
}

async function counts(lake: string, table: string, column: string): Promise<Map<string, number>> {
  await registerTableView(engine, 't', tablePath(lake, table))
  const rows = await engine.rows(`SELECT CAST(${column} AS VARCHAR) AS k, count(*)::INTEGER AS n FROM t GROUP BY 1`)
  return new Map(rows.map((r) => [String(r.k), Number(r.n)]))
}

async function txnsGoForward(lake: string, table: string): Promise<boolean> {
  const path = tablePath(lake, table)
  const last = new Map<string, number>()
  for (const v of await listCommitVersions(path)) {
    for (const action of await readCommit(path, v)) {
      if (!('txn' in action)) continue
      if (action.txn.version < (last.get(action.txn.appId) ?? -1)) return false
      last.set(action.txn.appId, action.txn.version)
    }
  }
  return true
}

async function explore(seed: number): Promise<World> {
  const rand = seededRandom(seed)
  const world = new World(seed, rand)
  let m = 0
  for (let step = 0; step < STEPS; step++) {
    // Runs of steps by one member (it fetches and flushes a few times while the others wait) reach the races between
    // members far more often than a fair pick each step.
    if (rand() < 0.4) m = Math.floor(rand() * MEMBERS)
    const r = rand()
    const member = world.members[m] as Member
    // Members learn of a rebalance late, so old owners go on fetching and flushing what they hold.
    if (member.rejoinPending && r < 0.2) await world.rejoin(m)
    else if (r < 0.27) world.rebalance()
    else if (r < 0.3) world.crash(m)
    else if (r < 0.35) {
      const point = FAILPOINTS_IN_FLUSH[Math.floor(rand() * FAILPOINTS_IN_FLUSH.length)] as string
      if (world.fetch(m, 15)) await world.flush(m, point)
    } else if (r < 0.65) world.fetch(m, 15)
    else if (r < 0.87) {
      world.fetch(m, 15)
      await world.flush(m)
    } else await world.flush(m)
  }
  await world.drain()
  return world
}

describe('ingest members under seeded random interleavings, crashes and failpoints', () => {
  const seeds = Array.from({length: SEEDS}, (_, i) => 1000 + i)
  it.each(seeds)('seed %i: every message lands once in its table, and no txn goes back', async (seed) => {
    const world = await explore(seed)
    const history = `seed ${seed}:\n${world.log.join('\n')}`
    const events = new Map<string, number>()
    const dead = new Map<string, number>()
    for (let p = 0; p < PARTITIONS; p++) {
      for (let o = 0; o < LENGTH; o++) {
        if (isBad(p, o)) dead.set(`${p}:${o}`, 1)
        else events.set(`o-${p}-${o}`, 1)
      }
    }
    expect(await counts(world.lake, EVENTS_TABLE, 'order_id'), history).toEqual(events)
    expect(await counts(world.lake, DEAD_LETTERS_TABLE, `"partition" || ':' || "offset"`), history).toEqual(dead)
    expect(await counts(world.lake, FRAUD_ALERTS_TABLE, 'order_id'), history).toEqual(events)
    for (const table of [EVENTS_TABLE, DEAD_LETTERS_TABLE, FRAUD_ALERTS_TABLE]) {
      expect(await txnsGoForward(world.lake, table), `${table}: ${history}`).toBe(true)
    }
  })
})
