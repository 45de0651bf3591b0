import {Counter, Gauge, Histogram, Registry} from 'prom-client'
import type {CommitObserver, FlushCommit} from './table-positions.js'

/** What one flush took, per partition: the counts its commits turn into metrics. */
export interface PartitionTally {
  messages: number
  events: number
  deadLetters: number
  duplicates: number
}

/** Where a partition stands, for the lag gauges: its log's first and next offsets. */
export interface PartitionLog {
  partition: number
  low: number
  high: number
}

/** What the lag gauges read at scrape time, from the run that owns them. */
export interface LagSources {
  /** The partitions this member is assigned (each partition's lag is exported by its owner only). */
  assigned(): number[]
  /** Last offset the events table holds per partition, as this member last read or committed it. */
  lakeOffsets(): ReadonlyMap<number, number>
  /** Where this member began the partitions the lake has no record of, when --from names a position (not earliest). */
  startOffsets(): ReadonlyMap<number, number>
  /** Each partition's low- and high-water marks, asked of the brokers. */
  logOffsets(): Promise<PartitionLog[]>
}

/** A scrape asks for both lag gauges at once: they share one broker round trip if it is this recent. */
const LAG_READ_REUSE_MS = 1000

/**
 * How long a scrape waits for the brokers' offsets. kafkajs retries a broker that does not answer for half a minute
 * or more, and Prometheus gives up on a scrape after 10 s by default, marking the target down and dropping every
 * metric: the counters must still come back when Kafka is the thing that is wrong, with the lag gauges left out.
 */
const LAG_READ_TIMEOUT_MS = 2000

/**
 * The Prometheus metrics of one ingest run, in a registry of its own (never prom-client's global one), so runs in one
 * process and tests do not share counters. Counters move when the lake commit that holds what they count has landed,
 * not when a message is read, except `messages_consumed_total`, which says so: a scrape never reports as ingested
 * what a crash could still take back.
 */
export class IngestMetrics {
  readonly registry = new Registry()
  private readonly consumedTotal: Counter<'topic' | 'partition'>
  private readonly eventsTotal: Counter<'topic' | 'partition'>
  private readonly deadLettersTotal: Counter<'topic' | 'partition'>
  private readonly alertsTotal: Counter<'topic' | 'partition'>
  private readonly duplicatesTotal: Counter<'topic' | 'partition'>
  private readonly commitsTotal: Counter<'table'>
  private readonly conflictsTotal: Counter<'table' | 'outcome'>
  private readonly bytesTotal: Counter<'table'>
  private readonly lakeVersion: Gauge<'table'>
  private readonly lastCommit: Gauge<'table'>
  private readonly flushSeconds: Histogram
  private readonly flushMessages: Histogram
  private readonly flushBytes: Histogram
  /** Kafka timestamp (ms) of the last message of each partition this run committed to the events table. */
  private readonly committedTimestamps = new Map<number, number>()
  private lagSources: LagSources | undefined
  private lagRead: {at: number; done: boolean; logs: Promise<PartitionLog[]>} | undefined

  constructor(private readonly topic: string) {
    const registers = [this.registry]
    const byPartition = ['topic', 'partition'] as const
    this.consumedTotal = new Counter({
      name: 'ecap_ingest_messages_consumed_total',
      help: 'Messages fetched from Kafka and judged. Counted when read, before any commit: messages fetched again after a rebalance or a lost commit race count again.',
      labelNames: byPartition,
      registers,
    })
    this.eventsTotal = new Counter({
      name: 'ecap_ingest_events_committed_total',
      help: 'Valid events this process committed to the events table (each event once: replays of events the lake already held are in duplicates_skipped_total).',
      labelNames: byPartition,
      registers,
    })
    this.deadLettersTotal = new Counter({
      name: 'ecap_ingest_dead_letters_committed_total',
      help: 'Rejected messages this process committed to the dead_letters table.',
      labelNames: byPartition,
      registers,
    })
    this.alertsTotal = new Counter({
      name: 'ecap_ingest_fraud_alerts_committed_total',
      help: 'Fraud alerts this process committed to the fraud_alerts table (--score-fraud), by the partition of the purchase.',
      labelNames: byPartition,
      registers,
    })
    this.duplicatesTotal = new Counter({
      name: 'ecap_ingest_duplicates_skipped_total',
      help: 'Messages skipped because the lake already held them (a replay after a crash or a rebalance).',
      labelNames: byPartition,
      registers,
    })
    this.commitsTotal = new Counter({
      name: 'ecap_ingest_lake_commits_total',
      help: 'Delta commits this process made, by table.',
      labelNames: ['table'],
      registers,
    })
    this.conflictsTotal = new Counter({
      name: 'ecap_ingest_commit_conflicts_total',
      help: 'Commits that met another writer. outcome="retried": its commit took the version first (other partitions), ours landed at a later one. outcome="rewound": it had committed the same partitions first; nothing of ours landed and ingest resumed from the lake.',
      labelNames: ['table', 'outcome'],
      registers,
    })
    this.bytesTotal = new Counter({
      name: 'ecap_ingest_lake_written_bytes_total',
      help: 'Bytes of Parquet data files this process committed, by table.',
      labelNames: ['table'],
      registers,
    })
    this.lakeVersion = new Gauge({
      name: 'ecap_ingest_lake_version',
      help: 'Delta version of the last commit this process made, by table.',
      labelNames: ['table'],
      registers,
    })
    this.lastCommit = new Gauge({
      name: 'ecap_ingest_last_commit_timestamp_seconds',
      help: 'Unix time of the last commit this process made, by table.',
      labelNames: ['table'],
      registers,
    })
    this.flushSeconds = new Histogram({
      name: 'ecap_ingest_flush_duration_seconds',
      help: 'Time from a flush starting to write to its Kafka offset commit, for flushes that landed.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    })
    this.flushMessages = new Histogram({
      name: 'ecap_ingest_flush_messages',
      help: 'Messages per landed flush (events, dead letters and skipped duplicates).',
      buckets: [10, 100, 1000, 10_000, 50_000, 100_000, 250_000, 1_000_000],
      registers,
    })
    this.flushBytes = new Histogram({
      name: 'ecap_ingest_flush_bytes',
      help: 'Bytes of Kafka message values per landed flush.',
      buckets: [1 << 10, 16 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 128 << 20, 256 << 20],
      registers,
    })
    const lagMessages: Gauge<'topic' | 'partition'> = new Gauge({
      name: 'ecap_ingest_lag_messages',
      help: 'Messages in the partition not yet in the lake: high-water mark minus the next offset of the events table (or the first retained offset, if later). Exported by the member assigned the partition.',
      labelNames: byPartition,
      registers,
      collect: () => this.collectLag(lagMessages, 'messages'),
    })
    const lagSeconds: Gauge<'topic' | 'partition'> = new Gauge({
      name: 'ecap_ingest_lag_seconds',
      help: 'While lag_messages > 0: seconds since the Kafka timestamp of the last message this process committed of the partition (an upper bound on the age of the oldest waiting message); 0 when caught up; absent until this process has committed the partition.',
      labelNames: byPartition,
      registers,
      collect: () => this.collectLag(lagSeconds, 'seconds'),
    })
    // Read at scrape time from the process itself: prom-client's default metrics would add timers and a GC
    // observer to the ingest loop for figures a scrape can read in one call.
    const rss: Gauge = new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes.',
      registers,
      collect: () => rss.set(process.memoryUsage.rss()),
    })
    new Gauge({
      name: 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
      registers,
    }).set(Math.round(Date.now() / 1000 - process.uptime()))
  }

  /** Where the lag gauges read positions and the log's offsets; none before the run has a Kafka admin client. */
  watchLag(sources: LagSources): void {
    this.lagSources = sources
  }

  /** Starts the counters of newly assigned partitions at 0, so the first increase after an assignment is seen. */
  assigned(partitions: number[]): void {
    for (const partition of partitions) {
      const labels = this.labels(partition)
      for (const counter of [
        this.consumedTotal,
        this.eventsTotal,
        this.deadLettersTotal,
        this.alertsTotal,
        this.duplicatesTotal,
      ]) {
        counter.inc(labels, 0)
      }
    }
  }

  /** Messages of one fetched batch taken into the buffer (once per batch, not per message). */
  consumed(partition: number, messages: number): void {
    if (messages > 0) this.consumedTotal.inc(this.labels(partition), messages)
  }

  /** The events of a flush landed in the events table; `timestamps` are the last message's Kafka times. */
  eventsCommitted(tallies: ReadonlyMap<number, PartitionTally>, timestamps: ReadonlyMap<number, number>): void {
    for (const [partition, tally] of tallies) {
      if (tally.events > 0) this.eventsTotal.inc(this.labels(partition), tally.events)
    }
    for (const [partition, time] of timestamps) this.committedTimestamps.set(partition, time)
  }

  /** The dead letters of a flush landed in the dead_letters table. */
  deadLettersCommitted(tallies: ReadonlyMap<number, PartitionTally>): void {
    for (const [partition, tally] of tallies) {
      if (tally.deadLetters > 0) this.deadLettersTotal.inc(this.labels(partition), tally.deadLetters)
    }
  }

  /** Alerts landed in the fraud_alerts table, counted per partition of their purchase. */
  alertsCommitted(partitions: Iterable<number>): void {
    for (const partition of partitions) this.alertsTotal.inc(this.labels(partition))
  }

  /** A flush landed: its duration, size, and the duplicates it skipped. */
  flushed(seconds: number, bytes: number, tallies: ReadonlyMap<number, PartitionTally>): void {
    let messages = 0
    for (const [partition, tally] of tallies) {
      messages += tally.messages
      if (tally.duplicates > 0) this.duplicatesTotal.inc(this.labels(partition), tally.duplicates)
    }
    this.flushSeconds.observe(seconds)
    this.flushMessages.observe(messages)
    this.flushBytes.observe(bytes)
  }

  /** The observer of each table's commits (TablePositions). */
  readonly commits: CommitObserver = {
    committed: (table: string, commit: FlushCommit) => {
      this.commitsTotal.inc({table})
      // Both outcomes are exported from a table's first commit on, at 0 until they happen, so increase() sees the first.
      this.conflictsTotal.inc({table, outcome: 'retried'}, commit.jumped ? 1 : 0)
      this.conflictsTotal.inc({table, outcome: 'rewound'}, 0)
      if (commit.bytes > 0) this.bytesTotal.inc({table}, commit.bytes)
      this.lakeVersion.set({table}, commit.version)
      this.lastCommit.set({table}, Date.now() / 1000)
    },
    conflicted: (table: string) => {
      this.conflictsTotal.inc({table, outcome: 'rewound'})
    },
  }

  private labels(partition: number): {topic: string; partition: string} {
    return {topic: this.topic, partition: String(partition)}
  }

  /** Sets one lag gauge for the assigned partitions; a broker that does not answer leaves it empty this scrape. */
  private async collectLag(gauge: Gauge<'topic' | 'partition'>, unit: 'messages' | 'seconds'): Promise<void> {
    gauge.reset()
    const sources = this.lagSources
    if (!sources) return
    let logs: PartitionLog[] | undefined
    try {
      logs = await withinTimeout(this.readLogs(sources), LAG_READ_TIMEOUT_MS)
    } catch {
      return
    }
    if (logs === undefined) return
    const assigned = new Set(sources.assigned())
    const lake = sources.lakeOffsets()
    const started = sources.startOffsets()
    const now = Date.now()
    for (const log of [...logs].sort((a, b) => a.partition - b.partition)) {
      if (!assigned.has(log.partition)) continue
      const written = lake.get(log.partition)
      // A partition the lake has never seen is read from where --from put it (its first retained offset with
      // earliest); one whose retention passed the lake's record resumes there too (the gap is recorded, not waited for).
      const next = Math.max(written === undefined ? (started.get(log.partition) ?? log.low) : written + 1, log.low)
      const lag = Math.max(log.high - next, 0)
      if (unit === 'messages') {
        gauge.set(this.labels(log.partition), lag)
        continue
      }
      const committedAt = this.committedTimestamps.get(log.partition)
      if (lag === 0) gauge.set(this.labels(log.partition), 0)
      else if (committedAt !== undefined) gauge.set(this.labels(log.partition), Math.max(0, (now - committedAt) / 1000))
    }
  }

  /** One broker read at a time: scrapes that come while one is unanswered wait for it rather than pile up more. */
  private readLogs(sources: LagSources): Promise<PartitionLog[]> {
    const now = Date.now()
    let read = this.lagRead
    if (read === undefined || (read.done && now - read.at > LAG_READ_REUSE_MS)) {
      const fresh = {at: now, done: false, logs: sources.logOffsets()}
      const finish = () => {
        fresh.done = true
      }
      fresh.logs.then(finish, finish)
      read = fresh
      this.lagRead = fresh
    }
    return read.logs
  }
}

/** `promise`'s value, or undefined once `ms` have passed without one (the timer never holds the process). */
async function withinTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
    timer.unref()
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}
