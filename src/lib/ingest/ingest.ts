import {mkdirSync, rmSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {join} from 'node:path'
import {Engine} from '../engine/engine.js'
import {INGEST_FETCH, unavailable} from '../kafka/client.js'
import {kafkaClient} from '../kafka/kafkajs-client.js'
import type {GroupConsumer} from '../kafka/types.js'
import {DEAD_LETTERS_SPEC} from '../lake/dead-letters.js'
import {FRAUD_ALERTS_SPEC} from '../lake/fraud-alerts.js'
import {assertAppendable, EVENTS_SPEC, stagingPath} from '../lake/lake.js'
import {LiveFraudScorer} from './fraud-scoring.js'
import {IngestState} from './ingest-state.js'
import {IngestMetrics} from './metrics.js'
import {serveMetrics} from './metrics-server.js'
import {startingOffsets, topicPartitions} from './topic.js'
import type {IngestHooks, IngestOptions, IngestResult} from './types.js'

export type {
  IngestHooks,
  IngestOptions,
  IngestProgress,
  IngestResult,
  IngestStageSeconds,
  RetentionGap,
} from './types.js'

const INGEST_DUCKDB_MEMORY = '192MB'
const PARTITIONED_WRITE_FLUSH_ROWS = 16_384

/**
 * Streams a topic into the lake exactly once. Each flush writes the valid events to `events` and the rejects to
 * `dead_letters`, each table's commit carrying the last offset per partition as a Delta `txn`; only then are the
 * Kafka offsets committed. A restart seeks to the offsets recorded in the lake and skips what a table already holds,
 * so a crash at any instant neither loses nor duplicates a message.
 */
export async function ingest(options: IngestOptions, hooks: IngestHooks = {}): Promise<IngestResult> {
  if (!options.metrics) return runIngest(options, hooks)
  const metrics = new IngestMetrics(options.topic)
  // Listening comes first: a port that is taken fails the run before it touches Kafka or the lake.
  const server = await serveMetrics(metrics.registry, options.metrics)
  hooks.onMetricsServing?.(server.url)
  try {
    return await runIngest(options, hooks, metrics)
  } finally {
    await server.close()
  }
}

async function runIngest(options: IngestOptions, hooks: IngestHooks, metrics?: IngestMetrics): Promise<IngestResult> {
  const started = Date.now()
  const kafka = kafkaClient({...options.connection, clientId: 'ecap-ingest'})
  const admin = kafka.admin()
  // DuckDB's buffer manager keeps a flush's work (JSON read, partitioned Parquet write) within a small share of the
  // 512 MB the whole process aims at, spilling beyond it; what the JSON reader and Parquet writers allocate besides is
  // bounded by the rows and dates per COPY (copyGroups) and the partitioned-write threshold below.
  // The event loop judges every message while DuckDB writes the previous flush: DuckDB gets the other cores, which
  // also keeps its per-thread buffers few.
  // The one session a lib function opens itself: on SIGINT/SIGTERM ingest stops taking work but must still write and
  // commit what it holds, so its statements are not bound to the command's abort signal, and its settings are part of
  // its memory budget.
  const engine = await Engine.open({
    memoryLimit: INGEST_DUCKDB_MEMORY,
    threads: Math.max(1, availableParallelism() - 1),
  })
  // A partitioned COPY buffers this many rows per thread before handing them to the partitions' files (524,288 by
  // default: a whole flush, in memory, per thread). At 16,384 one date of 250,000 rows adds ~120 MB to the process
  // instead of ~210 MB, and DuckDB still writes row groups of ~50,000+ rows.
  await engine.run(`SET partitioned_write_flush_threshold = ${PARTITIONED_WRITE_FLUSH_ROWS}`)
  let consumer: GroupConsumer | undefined
  let stopping = false
  let openState: IngestState | undefined
  const staging = join(stagingPath(options.lake), `ingest-${process.pid}-${Date.now().toString(36)}`)
  mkdirSync(staging, {recursive: true})
  const fraud = options.fraud
    ? new LiveFraudScorer({
        ...options.fraud,
        lake: options.lake,
        topic: options.topic,
        group: options.group,
        connection: options.connection,
      })
    : undefined
  if (fraud && metrics) fraud.observe(metrics)
  try {
    try {
      await admin.connect()
    } catch (error) {
      throw unavailable(error, options.connection.brokers)
    }
    const partitions = await topicPartitions(admin, options.topic)
    const highWater = new Map<number, number>()
    for (const p of await admin.fetchTopicOffsets(options.topic)) highWater.set(p.partition, Number(p.high))
    // A table ecap cannot write (another schema, a newer protocol) is refused before any data file is written.
    for (const spec of [EVENTS_SPEC, DEAD_LETTERS_SPEC, ...(fraud ? [FRAUD_ALERTS_SPEC] : [])]) {
      await assertAppendable(options.lake, spec, engine)
    }
    const state = new IngestState(options, engine, staging, fraud, metrics)
    openState = state
    metrics?.watchLag({
      assigned: () => state.assignedPartitions(),
      lakeOffsets: () => state.lakeOffsets(),
      startOffsets: () => state.startOffsets(),
      logOffsets: async () =>
        (await admin.fetchTopicOffsets(options.topic)).map((p) => ({
          partition: p.partition,
          low: Number(p.low),
          high: Number(p.high),
        })),
    })
    state.lowWaterMarks = async () => {
      const lows = new Map<number, number>()
      try {
        for (const p of await admin.fetchTopicOffsets(options.topic)) lows.set(p.partition, Number(p.low))
      } catch (error) {
        throw unavailable(error, options.connection.brokers)
      }
      return lows
    }
    state.highWaterMarks = async () => {
      const highs = new Map<number, number>()
      try {
        for (const p of await admin.fetchTopicOffsets(options.topic)) highs.set(p.partition, Number(p.high))
      } catch (error) {
        throw unavailable(error, options.connection.brokers)
      }
      return highs
    }
    await state.loadLakeOffsets()
    if (options.untilCaughtUp && state.caughtUp(highWater, partitions)) {
      return state.result('caught-up', started)
    }
    const startOffsets = await startingOffsets(admin, options, partitions)

    consumer = kafka.consumer({
      groupId: options.group,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
      ...INGEST_FETCH,
      // Once the run is ending, kafkajs must not restart the consumer behind it (it would rejoin the group and hold
      // partitions in a process that is about to exit).
      restartOnFailure: async () => !stopping,
    })
    await consumer.connect()
    await consumer.subscribe({topic: options.topic, fromBeginning: options.from === 'earliest'})
    const running = consumer
    state.consumer = running
    const topic = options.topic
    running.onGroupJoin((assignment) => {
      // A rejoin while the run is ending would start lake reads on an engine about to close.
      if (stopping) return
      const assigned = assignment[topic] ?? []
      // After every (re)balance: hold fetching, re-read the lake (another member may have written these partitions
      // meanwhile), drop the buffer (everything in it will be fetched again), seek, and go on.
      running.pause([{topic}])
      state
        .rejoin(assigned, startOffsets)
        .then(() => running.resume([{topic}]))
        .catch((error) => state.onFatal?.(error))
    })

    const done = new Promise<'caught-up' | 'signal'>((resolve, reject) => {
      const onAbort = () => resolve('signal')
      if (hooks.signal?.aborted) onAbort()
      hooks.signal?.addEventListener('abort', onAbort, {once: true})
      state.onCaughtUp = () => resolve('caught-up')
      state.onFatal = reject
      running.onCrash((error, restarting) => {
        if (!restarting) reject(unavailable(error, options.connection.brokers))
      })
    })
    let ticks = 0
    const timer = setInterval(
      () => {
        if (state.flushDue() && !state.flushPending()) state.flush().catch((error) => state.onFatal?.(error))
        // Partitions other members own (or dead members still hold until their session times out) count as done
        // only once the lake shows them written: look every few seconds.
        if (options.untilCaughtUp && ++ticks % 4 === 0) state.refreshLakeProgress()
        // Partitions with nothing left to fetch never call the handler, so the timer checks too.
        if (options.untilCaughtUp && state.caughtUp(highWater, partitions)) {
          state.flush().then(() => {
            // A flush that lost a race to another member rewinds instead of writing: not caught up after all.
            if (state.lakeCaughtUp(highWater, partitions)) state.onCaughtUp?.()
          }, state.onFatal)
        }
      },
      // Fine enough that a flush starts within a quarter of the interval after it is due.
      Math.max(Math.min(options.flushIntervalMs / 4, 250), 10),
    )
    try {
      // No offset is resolved or committed but by ecap (GroupConsumer.run): take() resolves, flushes commit.
      await running.run({
        partitionsConsumedConcurrently: 1,
        eachBatch: async (payload) => {
          // A failure of ours (staging, a lake write, or Kafka failing in the middle of a flush) ends the run:
          // kafkajs would retry the batch from offsets already resolved, past what was dropped.
          const fatal = (error: unknown) => {
            state.onFatal?.(error)
            throw error
          }
          try {
            state.take(payload)
          } catch (error) {
            fatal(error)
          }
          if (state.bufferFull() || state.flushDue()) await state.startFlush(payload.heartbeat)
          // kafkajs handles its own errors here (a heartbeat refused during a rebalance, a broker restarting): it
          // rejoins or retries, and the GROUP_JOIN handler re-reads the lake.
          await payload.heartbeat()
          if (options.untilCaughtUp && state.caughtUp(highWater, partitions)) {
            await state.flush(payload.heartbeat).catch(fatal)
            if (state.lakeCaughtUp(highWater, partitions)) state.onCaughtUp?.()
          }
          hooks.onProgress?.(state.progress(started))
        },
      })
      const stoppedBy = await done
      // Stop fetching, write and commit what is buffered while still a group member, then leave the group.
      running.pause([{topic}])
      await state.flush()
      await running.stop()
      return state.result(stoppedBy, started)
    } finally {
      clearInterval(timer)
    }
  } finally {
    stopping = true
    await consumer?.stop().catch(() => {})
    await consumer?.disconnect().catch(() => {})
    await admin.disconnect().catch(() => {})
    await fraud?.close()
    // Whatever a last rebalance started on the engine (re-reading the lake) finishes before the engine closes: a
    // DuckDB query cut off by close could keep the process from exiting.
    await openState?.settled()
    engine.close()
    rmSync(staging, {recursive: true, force: true})
  }
}
