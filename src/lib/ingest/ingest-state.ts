import type {Engine} from '../engine/engine.js'
import {TxnConflictError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import type {ConsumerPositions, FetchedBatch, ReceivedRecord} from '../kafka/types.js'
import type {AddAction} from '../lake/actions.js'
import {DEAD_LETTERS_SPEC, writeDeadLetterFile} from '../lake/dead-letters.js'
import {type AppendResult, EVENTS_SPEC, EVENTS_TABLE, tablePath} from '../lake/lake.js'
import {writeEventFiles} from '../lake/parquet-files.js'
import {storageAt} from '../lake/storage.js'
import type {LiveFraudScorer} from './fraud-scoring.js'
import {type Judge, judgeOf} from './judge.js'
import {appId, lakeOffsets} from './lake-offsets.js'
import type {IngestMetrics} from './metrics.js'
import {PendingFlush} from './pending-flush.js'
import {copyGroups} from './staging-file.js'
import {type FlushCommit, TablePositions} from './table-positions.js'
import type {IngestOptions, IngestProgress, IngestResult, RetentionGap} from './types.js'

const DEFAULT_FLUSH_BYTES = 128 << 20

/**
 * A flush of a backfill spreads over every date it holds: hundreds of small files per flush, where zstd's set-up per
 * column chunk is most of DuckDB's work (snappy: -28% CPU per flush of 250,000 events over 360 dates, files +49%).
 * `ecap lake compact` rewrites them as zstd.
 */
const INGEST_CODEC = 'snappy'

/** The buffer, the lake's positions and the counters of one ingest run. */
export class IngestState {
  consumer: ConsumerPositions | undefined
  onCaughtUp?: () => void
  onFatal?: (error: unknown) => void
  /** Messages taken since the last flush started, already judged and staged on disk. */
  private pending: PendingFlush | undefined
  private flushSeq = 0
  private assigned = new Set<number>()
  /** Reads each partition's low-water mark (the first offset Kafka still holds). */
  lowWaterMarks: (() => Promise<Map<number, number>>) | undefined
  /** Reads each partition's high-water mark (the next offset Kafka will write); asked only with --from latest. */
  highWaterMarks: (() => Promise<Map<number, number>>) | undefined
  /**
   * Where this member began each assigned partition the lake has no record of (--from's position), for the lag
   * gauges: with --from latest, what the topic held before is not waiting to be read. Absent for --from earliest.
   */
  private startedAt = new Map<number, number>()
  /** Offsets lost to retention before this run could read them. */
  readonly retentionGaps: (RetentionGap & {topic: string})[] = []
  private joins = 0
  /**
   * Last offset written per partition in each table, and the table version it was read at: commits fail if another
   * writer moved the same offsets since.
   */
  private readonly eventsTable: TablePositions
  private readonly deadTable: TablePositions
  private flushing: Promise<void> = Promise.resolve()
  private queuedFlushes = 0
  private heartbeat: FetchedBatch['heartbeat'] | undefined
  private seen = new Map<number, number>()
  /** How far the lake has each partition, as last re-read; may include other members' work. */
  private lakeProgress = new Map<number, number>()
  readonly warnings: string[] = []
  readonly times = {judgeMs: 0, waitMs: 0, eventFilesMs: 0, deadLettersMs: 0, deltaCommitMs: 0, kafkaCommitMs: 0}
  private readonly flushBytes: number
  private readonly judge: Judge
  messages = 0
  events = 0
  deadLetters = 0
  duplicates = 0
  commits = 0

  constructor(
    private readonly options: IngestOptions,
    private readonly engine: Engine,
    private readonly staging: string,
    private readonly fraud?: LiveFraudScorer,
    private readonly metrics?: IngestMetrics,
  ) {
    this.flushBytes = options.flushBytes ?? DEFAULT_FLUSH_BYTES
    this.judge = judgeOf(options.input)
    this.eventsTable = new TablePositions(options.lake, options.topic, EVENTS_SPEC)
    this.deadTable = new TablePositions(options.lake, options.topic, DEAD_LETTERS_SPEC)
    this.eventsTable.observer = metrics?.commits
    this.deadTable.observer = metrics?.commits
  }

  /** The partitions this member holds now. */
  assignedPartitions(): number[] {
    return [...this.assigned]
  }

  /** Last offset the events table holds per partition, as this member last read or committed it. */
  lakeOffsets(): ReadonlyMap<number, number> {
    return this.eventsTable.offsets
  }

  /** Where this member began the partitions the lake has no record of, where --from names a position (see startedAt). */
  startOffsets(): ReadonlyMap<number, number> {
    return this.startedAt
  }

  async loadLakeOffsets(): Promise<void> {
    await this.eventsTable.read(this.engine)
    await this.deadTable.read(this.engine)
    // Live fraud scoring: the alerts table's offsets, and per-customer state restored if the events moved.
    await this.fraud?.sync(this.engine, this.eventsTable.version)
  }

  /**
   * A new assignment: after any running flush, re-read the lake's offsets, forget the buffer and what was seen (it
   * will all be fetched again from the lake's offsets), and seek each partition (see seekFromLake); `startOffsets`
   * are --from's positions for partitions the lake has never seen.
   */
  rejoin(partitions: number[], startOffsets: Map<number, number> = new Map()): Promise<void> {
    const next = this.flushing.then(async () => {
      await this.loadLakeOffsets()
      const lows = await this.readLowWaterMarks()
      // A --from latest consumer of a partition the lake has never seen starts at its end, as of about now.
      const highs = this.options.from === 'latest' && this.highWaterMarks ? await this.highWaterMarks() : new Map()
      const added = partitions.filter((p) => !this.assigned.has(p))
      this.assigned = new Set(partitions)
      this.metrics?.assigned(added)
      this.dropPending()
      this.seen = new Map([...this.eventsTable.offsets].filter(([p]) => this.assigned.has(p)))
      this.startedAt = new Map([...highs].filter(([p]) => this.assigned.has(p) && this.resumeOffset(p) === undefined))
      // The lake, not the group's Kafka offsets, says what was ingested: a partition it has no record of starts where
      // --from says, even when the group read it before (into another lake, or this one before it was rebuilt).
      const fallback = this.options.from === 'earliest' ? lows : startOffsets
      const gaps = this.seekFromLake(new Map([...fallback].filter(([p]) => this.assigned.has(p))), lows)
      await this.recordGaps(gaps)
      // A member that died after committing alerts to the lake and before producing them left them unpublished:
      // whoever takes its partitions over sends them again. The first join needs none: the start sent them all.
      await this.resendAlerts(this.joins++ > 0 ? added : [])
    })
    this.flushing = next.catch(() => {})
    return next
  }

  /** Each partition's low-water mark (the first offset Kafka still holds); none known without an admin client. */
  private async readLowWaterMarks(): Promise<Map<number, number>> {
    return this.lowWaterMarks ? await this.lowWaterMarks() : new Map()
  }

  /**
   * Seeks every assigned partition the lake has a record of to just after it, and the others to `fallback` (--from,
   * applied only to partitions the lake has never seen). Synchronous on purpose: the caller drops the buffer and
   * seeks in one tick, so no batch can be taken in between with no `seen` to judge it by. A record below the
   * partition's low-water mark means Kafka's retention deleted messages ecap never read: they are lost. Seeking there
   * would make Kafka reset the position by --from (to the end, with latest) and skip retained messages silently;
   * instead ecap resumes at the low-water mark and returns the gap, for recordGaps.
   */
  private seekFromLake(fallback: Map<number, number>, lows: Map<number, number>): RetentionGap[] {
    const gaps: RetentionGap[] = []
    for (const partition of this.assigned) {
      let offset = this.resumeOffset(partition)
      const low = lows.get(partition)
      if (offset !== undefined && low !== undefined && offset < low) {
        gaps.push({partition, firstOffset: offset, lastOffset: low - 1})
        offset = low
      }
      if (offset === undefined) {
        offset = fallback.get(partition)
        if (offset === undefined) continue
        this.startedAt.set(partition, offset)
      }
      this.seen.set(partition, offset - 1)
      this.consumer?.seek({topic: this.options.topic, partition, offset: String(offset)})
    }
    return gaps
  }

  /** Records offsets lost to retention: an events commit with no data whose txns step over them, and a warning. */
  private async recordGaps(gaps: RetentionGap[]): Promise<void> {
    if (gaps.length === 0) return
    const {topic} = this.options
    const txns = gaps.map((g) => ({appId: appId(topic, g.partition), version: g.lastOffset}))
    let committed: FlushCommit
    try {
      committed = await this.eventsTable.commit(this.engine, [], txns, {
        ecapRetentionGaps: gaps.map((g) => ({topic, ...g})),
      })
    } catch (error) {
      // Another member wrote these partitions meanwhile: its record stands, and the gap (if any is left) is measured
      // again from it.
      if (!(error instanceof TxnConflictError)) throw error
      await this.rewind()
      return
    }
    this.commits++
    for (const g of gaps) {
      this.retentionGaps.push({topic, ...g})
      this.warnings.push(
        `Partition ${g.partition}: offsets ${g.firstOffset}-${g.lastOffset} were deleted by Kafka's retention before ecap read them; they are lost. Resumed at ${g.lastOffset + 1}. Keep messages longer (retention.ms) or ingest more often.`,
      )
    }
    // Landed past other members' commits: read them rather than jump over them (see absorbOtherWriters).
    if (committed.jumped) await this.absorbOtherWriters()
  }

  /**
   * Produces again the alerts of the lake that may never have reached the alerts topic, for `added` partitions (just
   * assigned) and for assigned partitions whose alerts another member committed since this one last read them (an
   * old owner that died between its alerts commit and producing them).
   */
  private async resendAlerts(added: number[] = []): Promise<void> {
    if (!this.fraud) return
    const moved = this.fraud.takeMovedByOthers().filter((p) => this.assigned.has(p))
    const partitions = [...new Set([...added, ...moved])]
    if (partitions.length > 0) await this.fraud.resendUnconfirmed(this.engine, partitions)
  }

  /** Resolves once the flushes and lake reads queued so far have finished, whatever their outcome. */
  settled(): Promise<void> {
    return this.flushing
  }

  /** Where to resume a partition: after the last offset in the events table (the seek point of record). */
  resumeOffset(partition: number): number | undefined {
    const last = this.eventsTable.offsets.get(partition)
    return last === undefined ? undefined : last + 1
  }

  /**
   * Judges each message of a fetched batch as it arrives and stages it on disk (valid events as NDJSON, rejects as
   * dead-letter rows), so no message is held in memory until its flush: memory does not grow with --flush-rows, and
   * kafkajs's fetch buffers are released batch by batch. Whether the lake already holds an offset (a replay) is
   * decided here too: our flushes never commit offsets below the ones of the buffer that follows them, another member's
   * commits are read after each flush (absorbOtherWriters), and a rejoin or rewind drops the buffer, so the answer
   * holds until this buffer is written.
   */
  take(payload: FetchedBatch): void {
    const started = performance.now()
    this.heartbeat = payload.heartbeat
    const {batch} = payload
    const {partition} = batch
    let seen = this.seen.get(partition) ?? -1
    const inEvents = this.eventsTable.offsets.get(partition) ?? -1
    const inDead = this.deadTable.offsets.get(partition) ?? -1
    let handled: ReceivedRecord | undefined
    let taken: ReceivedRecord | undefined
    const before = this.metrics && this.pending?.counts()
    // The loop never yields, so neither a stop nor a seek can come in the middle of it: asking once is enough (kafkajs
    // answers isStale with a lookup per call).
    const messages = payload.isRunning() && !payload.isStale() ? batch.messages : []
    for (const message of messages) {
      const offset = Number(message.offset)
      // Never buffer an offset twice (a fetch that raced a seek, a redelivery): one flush must not hold duplicates.
      if (offset > seen) {
        this.pending ??= new PendingFlush(this.staging, this.flushSeq++, this.judge)
        this.pending.add(
          this.options.topic,
          partition,
          offset,
          message,
          offset <= inEvents,
          offset <= inDead,
          this.fraud,
        )
        seen = offset
        taken = message
      }
      handled = message
    }
    this.seen.set(partition, seen)
    if (this.metrics && taken && this.pending) {
      const start = before ?? {messages: 0, events: 0, deadLetters: 0, duplicates: 0}
      this.pending.tally(partition, start, Number(taken.timestamp))
      this.metrics.consumed(partition, this.pending.messages - start.messages)
    }
    // kafkajs fetches on from the last offset resolved, so resolving the last message handled resolves the ones before.
    if (handled) payload.resolveOffset(handled.offset)
    this.times.judgeMs += performance.now() - started
  }

  bufferFull(): boolean {
    const pending = this.pending
    return pending !== undefined && (pending.messages >= this.options.flushRows || pending.bytes >= this.flushBytes)
  }

  flushDue(): boolean {
    const pending = this.pending
    return pending !== undefined && Date.now() - pending.since >= this.options.flushIntervalMs
  }

  /** Forgets the messages taken since the last flush (they will be fetched again) and removes their staging files. */
  private dropPending(): void {
    this.pending?.discard()
    this.pending = undefined
  }

  /** True when the lake holds every partition up to the last offset that existed at start. */
  lakeCaughtUp(highWater: Map<number, number>, partitions: number[]): boolean {
    return partitions.every((p) => {
      const last = (highWater.get(p) ?? 0) - 1
      return last < 0 || Math.max(this.eventsTable.offsets.get(p) ?? -1, this.lakeProgress.get(p) ?? -1) >= last
    })
  }

  /** True when every partition has reached the last offset that existed at start. */
  caughtUp(highWater: Map<number, number>, partitions: number[]): boolean {
    // Every partition must be done, not only this member's: a member that got no partitions (while a killed
    // member's session has not yet expired) must not report a backlog as ingested.
    return partitions.every((p) => {
      const last = (highWater.get(p) ?? 0) - 1
      if (last < 0) return true
      const mine = this.assigned.has(p) ? (this.seen.get(p) ?? -1) : -1
      const reached = Math.max(mine, this.eventsTable.offsets.get(p) ?? -1, this.lakeProgress.get(p) ?? -1)
      return reached >= last
    })
  }

  /** Re-reads how far the lake has each partition, for caughtUp only (the offsets of record stay untouched). */
  refreshLakeProgress(): void {
    const next = this.flushing.then(async () => {
      ;({offsets: this.lakeProgress} = await lakeOffsets(
        tablePath(this.options.lake, EVENTS_TABLE),
        this.options.topic,
        this.engine,
      ))
    })
    this.flushing = next.catch(() => {})
  }

  /** Serialises flushes: a timer flush and a handler flush never overlap. */
  flush(heartbeat?: FetchedBatch['heartbeat']): Promise<void> {
    this.queuedFlushes++
    const next = this.flushing
      .then(() => this.flushNow(heartbeat ?? this.heartbeat, this.consumer))
      .finally(() => this.queuedFlushes--)
    this.flushing = next.catch(() => {})
    return next
  }

  flushPending(): boolean {
    return this.queuedFlushes > 0
  }

  /**
   * Starts a flush of the buffer and returns once the flush before it has finished, so fetching goes on into a fresh
   * buffer while this one is written: two buffers at most (back-pressure bounds memory), and Kafka fetches overlap
   * lake writes instead of waiting for them.
   */
  async startFlush(heartbeat: FetchedBatch['heartbeat']): Promise<void> {
    const previous = this.flushing
    this.flush(heartbeat).catch((error) => this.onFatal?.(error))
    const started = performance.now()
    await previous
    this.times.waitMs += performance.now() - started
  }

  private async flushNow(heartbeat: FetchedBatch['heartbeat'] | undefined, consumer: ConsumerPositions | undefined) {
    const batch = this.pending
    this.pending = undefined
    if (batch === undefined) return
    const started = performance.now()
    // Heartbeats keep the group membership alive while DuckDB writes.
    const beat = heartbeat ? setInterval(() => heartbeat().catch(() => {}), 2000) : undefined
    try {
      batch.close()
      try {
        await this.write(batch)
      } catch (error) {
        if (!(error instanceof TxnConflictError)) throw error
        await this.rewind(batch)
        return
      }
      if (consumer) {
        failpoint('ingest.kafka-commit.before')
        const committing = performance.now()
        try {
          await consumer.commitOffsets(
            [...batch.last].map(([partition, offset]) => ({
              topic: this.options.topic,
              partition,
              offset: String(offset + 1),
            })),
          )
        } catch (error) {
          // The lake holds the offsets of record; Kafka's copy (for lag tools) is committed again next flush.
          this.warnings.push(`Kafka offsets not committed this time: ${(error as Error).message}`)
        }
        this.times.kafkaCommitMs += performance.now() - committing
      }
      this.metrics?.flushed((performance.now() - started) / 1000, batch.bytes, batch.tallies)
    } finally {
      if (beat) clearInterval(beat)
      batch.discard()
    }
  }

  /**
   * Another member committed offsets of partitions this one was writing (a rebalance moved them while a flush was in
   * flight). Its events were not committed (dead letters it did commit are skipped by their txn on the way back);
   * re-read the lake, drop what is buffered, and resume every partition still assigned from the lake's record, so
   * nothing is lost or written twice.
   */
  private async rewind(failed?: PendingFlush): Promise<void> {
    this.warnings.push('Another ingest member wrote the same partitions during a rebalance; resumed from the lake.')
    await this.loadLakeOffsets()
    // Read before the buffer is dropped: from the drop to the last seek nothing may yield to the handler.
    const lows = await this.readLowWaterMarks()
    // A partition the lake has no record of was never committed by anyone: its first message in memory is where
    // this run started it, and where it must start again. Taken after the await and dropped in the same tick, so a
    // batch the handler buffered while the lake was read counts too (else its partition would get no seek, and the
    // consumer would carry on after messages that were thrown away).
    const firstInMemory = new Map<number, number>()
    for (const taken of [failed, this.pending]) {
      for (const [partition, offset] of taken?.first ?? []) {
        firstInMemory.set(partition, Math.min(firstInMemory.get(partition) ?? offset, offset))
      }
    }
    this.dropPending()
    this.seen = new Map()
    const gaps = this.seekFromLake(firstInMemory, lows)
    await this.recordGaps(gaps)
    await this.resendAlerts()
  }

  private async write(batch: PendingFlush): Promise<void> {
    const {lake} = this.options
    // Set when another writer committed to a table between our read of it and our commit (see absorbOtherWriters).
    let othersCommitted = false
    // Dead letters first: if the process dies before the events commit, the replay skips them by their txn.
    if (batch.deadLetters > 0) {
      const txns = this.deadTable.moving(batch.last)
      let started = performance.now()
      const add = await writeDeadLetterFile(this.engine, batch.deadFile.path, lake)
      this.times.deadLettersMs += performance.now() - started
      started = performance.now()
      const committed = await this.deadTable.commit(this.engine, [add], txns)
      this.noteCheckpointError(DEAD_LETTERS_SPEC.name, committed)
      this.times.deltaCommitMs += performance.now() - started
      if (committed.jumped) othersCommitted = true
      this.commits++
      this.metrics?.deadLettersCommitted(batch.tallies)
      failpoint('ingest.dead-letters.after-commit')
    }
    // Live fraud scoring: alerts commit before the events with the same offsets, so a replay skips them like dead letters.
    if (this.fraud) {
      this.commits += await this.fraud.flush(this.engine, this.staging, batch.fresh, batch.last)
      await this.resendAlerts()
    }
    const adds: AddAction[] = []
    if (batch.events > 0) {
      const started = performance.now()
      const table = tablePath(lake, EVENTS_TABLE)
      await storageAt(table).prepare()
      for (const group of copyGroups([...batch.eventsByDate.values()])) {
        const maxLineBytes = Math.max(...group.map((f) => f.maxLineBytes))
        adds.push(
          ...(await writeEventFiles(
            this.engine,
            group.map((f) => f.path),
            table,
            {maxLineBytes, codec: INGEST_CODEC},
          )),
        )
      }
      this.times.eventFilesMs += performance.now() - started
    }
    // Commit the offsets to events even with no valid row (it is the seek point of record), but only those that move
    // forward: a batch that re-read what another member already wrote must not pull its txn back.
    const txns = this.eventsTable.moving(batch.last)
    if (adds.length > 0 || txns.length > 0) {
      const started = performance.now()
      const committed = await this.eventsTable.commit(this.engine, adds, txns)
      this.noteCheckpointError(EVENTS_TABLE, committed)
      this.times.deltaCommitMs += performance.now() - started
      if (committed.jumped) othersCommitted = true
      this.fraud?.eventsCommitted(committed.version)
      this.commits++
      this.metrics?.eventsCommitted(batch.tallies, batch.lastTimestamps)
      failpoint('ingest.events.after-commit')
    }
    this.messages += batch.messages
    this.events += batch.events
    this.deadLetters += batch.deadLetters
    this.duplicates += batch.duplicates
    if (othersCommitted) await this.absorbOtherWriters()
  }

  /**
   * Another member committed between our read of a table and our commit (their partitions and ours did not overlap
   * then, or the commit would have failed). Jumping our read version over their commit unread would let a later flush
   * pass the conflict check with offsets they already wrote (a partition that moved to us in a rebalance), so their
   * txns are read now. If they reach into what is buffered, its replay decisions are stale: resume from the lake.
   */
  private async absorbOtherWriters(): Promise<void> {
    await this.loadLakeOffsets()
    const stale = [...(this.pending?.first ?? [])].some(
      ([partition, first]) =>
        (this.eventsTable.offsets.get(partition) ?? -1) >= first ||
        (this.deadTable.offsets.get(partition) ?? -1) >= first,
    )
    // A partition another member wrote past what this one has fetched: fetching on from here would only re-read what
    // the lake holds; resume it (and the rest) from the lake instead.
    const behind = [...this.assigned].some((p) => (this.eventsTable.offsets.get(p) ?? -1) > (this.seen.get(p) ?? -1))
    if (stale || behind) await this.rewind()
    else await this.resendAlerts()
  }

  /** A checkpoint that failed after a durable commit only slows readers down: a warning, not a failed flush. */
  private noteCheckpointError(table: string, committed: AppendResult): void {
    if (committed.checkpointError === undefined) return
    this.warnings.push(
      `The ${table} table's checkpoint after version ${committed.version} failed (${committed.checkpointError}); the commit stands, reads replay more of the log until the next checkpoint.`,
    )
  }

  progress(started: number): IngestProgress {
    return {
      messages: this.messages,
      events: this.events,
      deadLetters: this.deadLetters,
      commits: this.commits,
      elapsedMs: Date.now() - started,
    }
  }

  result(stoppedBy: IngestResult['stoppedBy'], started: number): IngestResult {
    const progress = this.progress(started)
    return {
      ...progress,
      warnings: [...this.warnings, ...(this.fraud?.warnings ?? [])],
      duplicatesSkipped: this.duplicates,
      retentionGaps: this.retentionGaps,
      offsets: Object.fromEntries(
        [...this.eventsTable.offsets].sort((a, b) => a[0] - b[0]).map(([p, o]) => [String(p), o]),
      ),
      stoppedBy,
      eventsPerSecond: Math.round(progress.events / Math.max(progress.elapsedMs / 1000, 0.001)),
      stageSeconds: {
        judge: seconds(this.times.judgeMs),
        waitForFlush: seconds(this.times.waitMs),
        eventFiles: seconds(this.times.eventFilesMs),
        deadLetters: seconds(this.times.deadLettersMs),
        deltaCommit: seconds(this.times.deltaCommitMs),
        kafkaCommit: seconds(this.times.kafkaCommitMs),
      },
      ...(this.fraud && {
        fraud: {
          scored: this.fraud.scored,
          alerts: this.fraud.alerts,
          published: this.fraud.published,
          resent: this.fraud.resent,
          model: this.fraud.model.kind,
          modelVersion: this.fraud.model.version,
          threshold: this.fraud.threshold,
        },
      }),
    }
  }
}

function seconds(ms: number): number {
  return Math.round(ms) / 1000
}
