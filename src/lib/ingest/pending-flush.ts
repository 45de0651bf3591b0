import {join} from 'node:path'
import type {ReceivedRecord} from '../kafka/types.js'
import type {DeadLetterRow} from '../lake/dead-letters.js'
import type {FreshEvent, LiveFraudScorer} from './fraud-scoring.js'
import {type Judge, judge as judgeEcap} from './judge.js'
import type {PartitionTally} from './metrics.js'
import {StagingFile} from './staging-file.js'

/** How much staged text a flush keeps in memory before appending it to the staging files. */
const STAGING_UNWRITTEN_CHARS = 4 << 20

/**
 * The messages taken since the last flush, judged and staged: valid events as NDJSON, one file per event_date (written a
 * few dates per COPY, see copyGroups, so DuckDB's memory does not grow with the number of dates a flush spans), rejects
 * in another file (as DeadLetterRow), and per partition the first and last offset taken.
 */
export class PendingFlush {
  /** Staged events by event_date (YYYY-MM-DD). */
  readonly eventsByDate = new Map<string, StagingFile>()
  readonly deadFile: StagingFile
  /** When the first message was taken: a flush is due one interval after it. */
  readonly since = Date.now()
  readonly first = new Map<number, number>()
  readonly last = new Map<number, number>()
  /** With live fraud scoring: the new valid events, for the scorer. */
  readonly fresh: FreshEvent[] = []
  messages = 0
  events = 0
  deadLetters = 0
  duplicates = 0
  /** Bytes of message values taken. */
  bytes = 0
  /** Per partition: what was taken (for metrics; tallied once per fetched batch, see tally). */
  readonly tallies = new Map<number, PartitionTally>()
  /** Per partition: the Kafka timestamp (ms) of the last message taken. */
  readonly lastTimestamps = new Map<number, number>()
  /** UTF-16 units of lines not yet written to their files, over all files. */
  private unwritten = 0

  constructor(
    private readonly dir: string,
    private readonly seq: number,
    /** How a message becomes an event or a reason: the topic's input format (ingest --input). */
    private readonly judge: Judge = judgeEcap,
  ) {
    this.deadFile = new StagingFile(join(dir, `dead-letters-${seq}.ndjson`))
  }

  add(
    topic: string,
    partition: number,
    offset: number,
    message: ReceivedRecord,
    inEvents: boolean,
    inDead: boolean,
    fraud: LiveFraudScorer | undefined,
  ): void {
    if (!this.first.has(partition)) this.first.set(partition, offset)
    this.last.set(partition, offset)
    this.messages++
    const {value} = message
    this.bytes += value?.length ?? 0
    const verdict = this.judge(value)
    if (verdict.ok) {
      if (inEvents) this.duplicates++
      else {
        // A valid event_time is ISO 8601 UTC, so its first ten characters are its UTC date: the partition.
        const date = verdict.event.event_time.slice(0, 10)
        let file = this.eventsByDate.get(date)
        if (file === undefined) {
          file = new StagingFile(join(this.dir, `events-${this.seq}-${date}.ndjson`))
          this.eventsByDate.set(date, file)
        }
        this.stage(file, verdict.line)
        this.events++
        if (fraud) this.fresh.push({event: verdict.event, partition, offset})
      }
    } else if (inDead) {
      this.duplicates++
    } else {
      const row: DeadLetterRow = {
        topic,
        partition,
        offset,
        kafka_timestamp: Number(message.timestamp),
        key_b64: message.key ? message.key.toString('base64') : null,
        value_b64: value ? value.toString('base64') : null,
        reason: verdict.reason,
      }
      this.stage(this.deadFile, JSON.stringify(row))
      this.deadLetters++
    }
  }

  /** The totals so far, to tally a batch by difference (see tally). */
  counts(): PartitionTally {
    return {messages: this.messages, events: this.events, deadLetters: this.deadLetters, duplicates: this.duplicates}
  }

  /**
   * Adds to `partition`'s tally what was taken since `before` (counts() ahead of the batch): one map update per
   * fetched batch instead of one per message. `lastTimestamp` is the batch's last message's Kafka time.
   */
  tally(partition: number, before: PartitionTally, lastTimestamp: number): void {
    const tally = this.tallies.get(partition) ?? {messages: 0, events: 0, deadLetters: 0, duplicates: 0}
    tally.messages += this.messages - before.messages
    tally.events += this.events - before.events
    tally.deadLetters += this.deadLetters - before.deadLetters
    tally.duplicates += this.duplicates - before.duplicates
    this.tallies.set(partition, tally)
    this.lastTimestamps.set(partition, lastTimestamp)
  }

  /** Writes out what is still in memory; the files are then complete for DuckDB. */
  close(): void {
    for (const file of this.files()) file.close()
  }

  discard(): void {
    for (const file of this.files()) file.remove()
  }

  private stage(file: StagingFile, line: string): void {
    file.add(line)
    this.unwritten += line.length
    if (this.unwritten >= STAGING_UNWRITTEN_CHARS) {
      for (const f of this.files()) f.spill()
      this.unwritten = 0
    }
  }

  private files(): StagingFile[] {
    return [...this.eventsByDate.values(), this.deadFile]
  }
}
