#!/usr/bin/env node
// Benchmarks of ecap, run as a user would run ecap: `npm run bench -- <name> [args]`. Results print as a table and are
// saved to bench/results/<name>.json. Speed is measured here, never asserted in tests.
//
// Every figure is taken ECAP_BENCH_REPEATS times (3 by default) and reported as runs, min and median, with the load
// average before each run and the peak RSS over the runs. A figure with a reference (ingest beside a bare kafkajs
// consumer on the same topic, analyze all beside the same SQL replayed in plain DuckDB) takes both in each round, one
// after the other, so the ratio compares runs under the same conditions. The machine is shared: a run under load misleads,
// so the load is printed with each run.
import {spawn, spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir, totalmem} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')
const REPEATS = Number(process.env.ECAP_BENCH_REPEATS ?? 3)

/** The 1-minute load average, printed with each run: a figure taken under load is not a figure of ecap. */
function load() {
  return Number(loadavg()[0].toFixed(2))
}

/**
 * Runs `ecap <args>` in a child process (with `env` added) and returns wall time, peak RSS and its --json result.
 * `trace` records every DuckDB statement of the run to that file (bench/sql-trace.js).
 */
function runEcap(args, env = {}, {trace} = {}) {
  const rssFile = join(tmpdir(), `ecap-bench-rss-${process.pid}-${Date.now()}`)
  const preload = ['--import', join(root, 'bench', 'max-rss.js')]
  if (trace) preload.push('--import', join(root, 'bench', 'sql-trace.js'))
  const started = process.hrtime.bigint()
  const child = spawnSync(process.execPath, [...preload, bin, ...args, '--json'], {
    env: {...process.env, ...env, ECAP_BENCH_RSS_FILE: rssFile, ...(trace ? {ECAP_BENCH_SQL_TRACE: trace} : {})},
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (child.status !== 0)
    throw new Error(`ecap ${args.join(' ')} exited ${child.status}:\n${child.stdout}\n${child.stderr}`)
  const peakRss = Number(readFileSync(rssFile, 'utf8'))
  rmSync(rssFile, {force: true})
  return {seconds, peakRss, result: JSON.parse(child.stdout).result}
}

/** Runs a bench helper script (node bench/<script> ...) that prints one JSON line last, and returns that line. */
function runScript(script, args) {
  const child = spawnSync(process.execPath, [join(root, 'bench', script), ...args], {encoding: 'utf8'})
  if (child.status !== 0) throw new Error(`${script} exited ${child.status}:\n${child.stderr}`)
  return JSON.parse(child.stdout.trim().split('\n').pop())
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const fixed = (value, digits = 2) => Number(value.toFixed(digits))
const mib = (bytes) => fixed(bytes / 2 ** 20, 1)

/**
 * One figure over several runs. `add` takes each run ({seconds, peakRss?, ...numbers to report as medians}) with the
 * load before it; `row` summarises: runs, the loads, min and median seconds, items/s at the median, peak RSS over the
 * runs, and, given the reference figure from the same rounds, the ratio of the medians (xReference: 2 is twice as slow).
 */
class Figure {
  runs = []

  constructor(name, {items, unit = 'events'} = {}) {
    this.name = name
    this.items = items
    this.unit = unit
  }

  /** Times `work` (returning {seconds, ...}) after printing the load; returns what `work` returned. */
  measure(work) {
    const before = load()
    const run = work()
    this.runs.push({...run, load: before})
    const rate = this.items ? `, ${Math.round(this.items / run.seconds).toLocaleString('en-US')} ${this.unit}/s` : ''
    console.error(`[bench] ${this.name}, run ${this.runs.length}: load ${before} -> ${fixed(run.seconds)} s${rate}`)
    return run
  }

  get medianSeconds() {
    return median(this.runs.map((r) => r.seconds))
  }

  row(reference, extra = {}) {
    const seconds = this.runs.map((r) => r.seconds)
    const row = {
      case: this.name,
      runs: this.runs.length,
      loadBefore: this.runs.map((r) => r.load).join(' '),
      minS: fixed(Math.min(...seconds)),
      medianS: fixed(this.medianSeconds),
    }
    if (this.items) row[`${this.unit}PerSecondAtMedian`] = Math.round(this.items / this.medianSeconds)
    const rss = this.runs.map((r) => r.peakRss).filter((v) => v !== undefined)
    if (rss.length) row.peakRssMiB = mib(Math.max(...rss))
    if (reference) {
      row.reference = reference.name
      row.xReference = fixed(this.medianSeconds / reference.medianSeconds)
    }
    // Every other number the runs reported, as its median (stage seconds, commits, result sizes).
    const keys = new Set(this.runs.flatMap((r) => Object.keys(r)))
    for (const key of keys) {
      if (['seconds', 'peakRss', 'load'].includes(key)) continue
      const values = this.runs.map((r) => r[key]).filter((v) => typeof v === 'number')
      if (values.length) row[key] = fixed(median(values), 3)
    }
    return {...row, ...extra}
  }
}
/** When each data file of a Delta table became visible: its commit's timestamp, by the file's path in the log. */
function commitTimes(table) {
  const times = new Map()
  const log = join(table, '_delta_log')
  for (const name of readdirSync(log)
    .filter((n) => /^\d{20}\.json$/.test(n))
    .sort()) {
    const actions = readFileSync(join(log, name), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    const committed = actions.find((a) => a.commitInfo)?.commitInfo.timestamp
    for (const a of actions) if (a.add) times.set(decodeURIComponent(a.add.path), committed)
  }
  return times
}

const benchmarks = {
  /**
   * `ecap analyze all` on a generated lake of 10M events (`npm run bench -- analyze [events] [memory-limit]`): each round
   * runs it, then replays the statements it sent to DuckDB in plain DuckDB (bench/replay-sql.js: the same SQL, no
   * ecap around it), then appends 1% more events (the next day, a nightly load) and runs it again. Wall time, peak RSS,
   * each analysis's seconds and the seconds spent inside DuckDB. The lake is generated first and not timed.
   */
  async analyze() {
    const events = Number(process.argv[3] ?? 10_000_000)
    const memoryLimit = process.argv[4] ?? '1GB'
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-analyze-'))
    const label = `${events.toLocaleString('en-US')} events, --memory-limit ${memoryLimit}`
    const full = new Figure(`analyze all, ${label}`)
    const replay = new Figure('the same SQL in plain DuckDB')
    const nightly = new Figure(`analyze all after +1% events, ${label}`)
    try {
      for (let r = 1; r <= REPEATS; r++) {
        // A fresh lake per round: the nightly run appends to it.
        const lake = join(dir, `lake-${r}`)
        runEcap(['generate', '--to', 'lake', '--lake', lake, '--events', String(events)])
        const trace = join(dir, `trace-${r}.ndjson`)
        const analyzeRun = (figure, traceFile) =>
          figure.measure(() => {
            const run = runEcap(
              ['analyze', 'all', '--lake', lake, '--memory-limit', memoryLimit],
              {},
              {trace: traceFile},
            )
            const inDuckDb = readFileSync(traceFile, 'utf8')
              .trim()
              .split('\n')
              .reduce((ms, line) => ms + JSON.parse(line).ms, 0)
            return {
              seconds: run.seconds,
              peakRss: run.peakRss,
              insideDuckDbS: fixed(inDuckDb / 1000),
              ...Object.fromEntries(run.result.runs.map((a) => [`${a.analysis}S`, a.seconds])),
            }
          })
        analyzeRun(full, trace)
        replay.measure(() => {
          const scratch = mkdtempSync(join(dir, 'replay-'))
          const result = runScript('replay-sql.js', [trace, memoryLimit, scratch])
          rmSync(scratch, {recursive: true, force: true})
          if (result.failed > 0) throw new Error(`replay: ${result.failed} statements failed: ${result.firstFailure}`)
          return {seconds: result.seconds, statements: result.statements}
        })
        // The next day's events, 1% of the lake, with a seed of their own: what a nightly run finds new.
        runEcap([
          'generate',
          '--to',
          'lake',
          '--lake',
          lake,
          '--events',
          String(Math.max(1, Math.round(events / 100))),
          '--start',
          '2027-01-01',
          '--days',
          '1',
          '--seed',
          String(1000 + r),
        ])
        analyzeRun(nightly, join(dir, `trace-nightly-${r}.ndjson`))
        rmSync(lake, {recursive: true, force: true})
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    return [full.row(replay), replay.row(), nightly.row(full)]
  },

  /**
   * `ecap analyze all` with the extract on Trino beside the same run on DuckDB, on one generated lake of 10M events
   * (`npm run bench -- engine [events] [lake]`). A local Trino 476 (src/lib/trino/local-trino.ts, -Xmx1G) reads the lake;
   * each round runs both engines one after the other. Per analysis: the seconds Trino spent before the first row
   * (query), receiving and loading the rows (transfer), and the rest of the analysis (the local model step); the
   * rows and bytes that came back; the peak RSS of ecap and of Trino. Generating the lake and starting Trino are not timed.
   */
  async engine() {
    const events = Number(process.argv[3] ?? 10_000_000)
    // A lake generated before (`ecap generate --to lake --events N`) saves its minutes on a rerun; it is not changed.
    const given = process.argv[4]
    const {startLocalTrino} = await import('../dist/lib/trino/local-trino.js')
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-engine-'))
    const lake = given ?? join(dir, 'lake')
    const label = `${events.toLocaleString('en-US')} events`
    const figures = {
      duckdb: new Figure(`analyze all --engine duckdb, ${label}`),
      trino: new Figure(`analyze all --engine trino, ${label}`),
    }
    let trino
    try {
      if (!given) runEcap(['generate', '--to', 'lake', '--lake', lake, '--events', String(events)])
      // The 1 GB heap the issue's measurements used (ECAP_BENCH_TRINO_HEAP to try another).
      trino = await startLocalTrino({
        heap: process.env.ECAP_BENCH_TRINO_HEAP ?? '1G',
        onProgress: (m) => console.error(`[bench] ${m}`),
      })
      const env = {ECAP_TRINO_URL: trino.url, ECAP_TRINO_CATALOG: trino.catalog, ECAP_TRINO_SCHEMA: 'bench'}
      runEcap(['lake', 'register', '--engine', 'trino', '--lake', lake], env)
      for (let r = 1; r <= REPEATS; r++) {
        for (const engine of ['duckdb', 'trino']) {
          figures[engine].measure(() => {
            const run = runEcap(['analyze', 'all', '--lake', lake, '--engine', engine], engine === 'trino' ? env : {})
            const split = {}
            const own = new Set()
            for (const a of run.result.runs) {
              const tables = a.extract?.tables ?? []
              for (const t of tables) own.add(t.table)
              const query = tables.reduce((s, t) => s + t.querySeconds, 0)
              const transfer = tables.reduce((s, t) => s + t.transferSeconds, 0)
              split[`${a.analysis}S`] = a.seconds
              if (engine === 'trino') {
                split[`${a.analysis}QueryS`] = fixed(query, 3)
                split[`${a.analysis}TransferS`] = fixed(transfer, 3)
                split[`${a.analysis}ModelS`] = fixed(a.seconds - query - transfer, 3)
              }
            }
            const extract = run.result.extract
            if (extract) {
              // What the shared registration fetched (the orders every analysis reads, the copies check).
              const shared = extract.tables.filter((t) => !own.has(t.table))
              split.sharedQueryS = fixed(
                shared.reduce((s, t) => s + t.querySeconds, 0),
                3,
              )
              split.sharedTransferS = fixed(
                shared.reduce((s, t) => s + t.transferSeconds, 0),
                3,
              )
              split.rowsBack = extract.rows
              split.mibBack = mib(extract.bytes)
              for (const t of extract.tables) split[`${t.table}Rows`] = t.rows
            }
            return {seconds: run.seconds, peakRss: run.peakRss, ...split}
          })
        }
      }
      const trinoPeak = trino.peakRssBytes()
      return [
        figures.duckdb.row(),
        figures.trino.row(figures.duckdb, {trinoPeakRssMiB: trinoPeak ? mib(trinoPeak) : null}),
      ]
    } finally {
      await trino?.stop()
      rmSync(dir, {recursive: true, force: true})
    }
  },

  /**
   * The lake on S3 beside the lake on local disk, in the same run and the same conditions: produce N generated events
   * to a local broker once, then, alternating local and S3 in each of `repeats` rounds, `ecap ingest
   * --until-caught-up` into an empty lake (a new consumer group each time) and `ecap analyze all` on it. The S3 side
   * is the S3-compatible test server (moto, a Python process on this machine: it measures ecap's S3 path and request
   * pattern, not AWS's network). `npm run bench -- s3 [events=10000000] [repeats=3]`.
   */
  async s3() {
    const events = Number(process.argv[3] ?? 10_000_000)
    const repeats = Number(process.argv[4] ?? 3)
    const {startLocalBroker} = await import('../dist/lib/kafka/local-broker.js')
    const {startS3Server, newBucket} = await import('./s3-server.js')
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-s3-'))
    const broker = await startLocalBroker({heap: '1g'})
    const s3 = await startS3Server(root)
    const rows = []
    try {
      const common = ['--brokers', broker.brokers, '--topic', 'bench']
      runEcap(['generate', '--to', 'kafka', ...common, '--partitions', '6', '--events', String(events)])
      for (let round = 1; round <= repeats; round++) {
        for (const kind of ['local', 's3']) {
          const lake =
            kind === 'local' ? join(dir, `lake-$round`) : `s3://${await newBucket(s3, `bench-${round}`)}/lake`
          const env = kind === 's3' ? s3.env : {}
          const loadBefore = load()
          const ingest = runEcap(
            ['ingest', ...common, '--group', `bench-${kind}-${round}`, '--lake', lake, '--until-caught-up'],
            env,
          )
          if (ingest.result.events !== events) throw new Error(`ingest landed ${ingest.result.events} of ${events}`)
          const analyze = runEcap(['analyze', 'all', '--lake', lake], env)
          rows.push({
            round,
            lake: kind,
            loadBefore,
            ingestSeconds: Number(ingest.seconds.toFixed(2)),
            ingestEventsPerSecond: Math.round(events / ingest.seconds),
            ingestPeakRssMiB: Number((ingest.peakRss / 2 ** 20).toFixed(1)),
            commits: ingest.result.commits,
            ...Object.fromEntries(Object.entries(ingest.result.stageSeconds ?? {}).map(([k, v]) => [`${k}S`, v])),
            analyzeSeconds: Number(analyze.seconds.toFixed(2)),
            analyzePeakRssMiB: Number((analyze.peakRss / 2 ** 20).toFixed(1)),
            ...Object.fromEntries(analyze.result.runs.map((r) => [r.analysis, r.seconds])),
          })
          if (kind === 'local') rmSync(lake, {recursive: true, force: true})
        }
      }
    } finally {
      await broker.stop()
      await s3.stop()
      rmSync(dir, {recursive: true, force: true})
    }
    return rows
  },

  /**
   * Kafka -> lake: each round produces 1M generated events to a new topic of a local broker (`generate --to kafka`),
   * reads the topic with a bare kafkajs consumer that does nothing (bench/kafka-ceiling.js: the client's ceiling, the
   * reference), then times `ecap ingest --until-caught-up` of it into an empty lake (events/s end to end, peak RSS,
   * seconds per stage).
   */
  async ingest() {
    const events = Number(process.argv[3] ?? 1_000_000)
    const {startLocalBroker} = await import('../dist/lib/kafka/local-broker.js')
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-ingest-'))
    const broker = await startLocalBroker({heap: '1g'})
    const count = events.toLocaleString('en-US')
    const produce = new Figure(`generate --to kafka ${count}`, {items: events})
    const bare = new Figure(`bare kafkajs consumer, ${count}`, {items: events, unit: 'messages'})
    const ingest = new Figure(`ingest --until-caught-up ${count}`, {items: events})
    try {
      for (let r = 1; r <= REPEATS; r++) {
        const common = ['--brokers', broker.brokers, '--topic', `bench-${r}`]
        produce.measure(() => {
          const run = runEcap(['generate', '--to', 'kafka', ...common, '--partitions', '6', '--events', String(events)])
          return {seconds: run.seconds, peakRss: run.peakRss}
        })
        bare.measure(() => {
          const result = runScript('kafka-ceiling.js', [broker.brokers, `bench-${r}`, 'bare'])
          // Start to exit, as ingest is timed; fromFirstBatchS leaves out starting and joining the group.
          return {seconds: result.processSeconds, peakRss: result.peakRssMiB * 2 ** 20, fromFirstBatchS: result.seconds}
        })
        const lake = join(dir, `lake-${r}`)
        ingest.measure(() => {
          const run = runEcap(['ingest', ...common, '--lake', lake, '--until-caught-up', '--flush-rows', '250000'])
          if (run.result.events !== events)
            throw new Error(`ingest landed ${run.result.events} events, expected ${events}`)
          return {
            seconds: run.seconds,
            peakRss: run.peakRss,
            commits: run.result.commits,
            // Where the time went (seconds per stage; stages overlap, since fetching goes on while a flush writes).
            ...Object.fromEntries(Object.entries(run.result.stageSeconds ?? {}).map(([k, v]) => [`${k}S`, v])),
          }
        })
        rmSync(lake, {recursive: true, force: true})
      }
    } finally {
      await broker.stop()
      rmSync(dir, {recursive: true, force: true})
    }
    return [produce.row(), bare.row(), ingest.row(bare)]
  },

  /**
   * kafkajs's own ceiling on the ingest benchmark's topic (1M generated events, 6 partitions, gzip): a bare consumer
   * that does nothing with the messages (ingest's fetch settings, then kafkajs's default fetch sizes), and one that
   * does only ingest's JavaScript work per message (UTF-8, JSON.parse, duplicate keys, validation, serialisation).
   * No ingest on kafkajs beats the first row. `npm run bench -- kafka-ceiling [brokers topic]` reuses a broker and
   * topic that already hold the events instead of starting and filling one.
   */
  async 'kafka-ceiling'() {
    let [brokers, topic] = process.argv.slice(3)
    let broker
    const rows = []
    try {
      if (!brokers) {
        const {startLocalBroker} = await import('../dist/lib/kafka/local-broker.js')
        broker = await startLocalBroker({heap: '1g'})
        brokers = broker.brokers
        topic = 'bench'
        const common = ['--brokers', brokers, '--topic', topic]
        runEcap(['generate', '--to', 'kafka', ...common, '--partitions', '6', '--events', '1000000'])
      }
      const names = {
        bare: 'kafkajs consumer, ingest fetch sizes, no work',
        'default-fetch': 'kafkajs consumer, default fetch sizes, no work',
        judge: "kafkajs consumer + ingest's per-message JS",
      }
      const figures = Object.fromEntries(
        Object.entries(names).map(([mode, name]) => [mode, new Figure(name, {items: 0, unit: 'messages'})]),
      )
      for (let r = 1; r <= REPEATS; r++) {
        for (const mode of Object.keys(names)) {
          figures[mode].measure(() => {
            const result = runScript('kafka-ceiling.js', [brokers, topic, mode])
            figures[mode].items = result.messages
            return {seconds: result.seconds, peakRss: result.peakRssMiB * 2 ** 20}
          })
        }
      }
      rows.push(figures.bare.row(), figures['default-fetch'].row(), figures.judge.row(figures.bare))
    } finally {
      await broker?.stop()
    }
    return rows
  },

  /**
   * End-to-end latency Kafka -> lake: `ecap ingest` runs (1 s flush interval) while `generate --to kafka --rate 10000`
   * streams 300,000 events stamped with the time each was sent. An event's latency is the time of the Delta commit
   * that made it visible minus its send time; the table gives p50, p99 and max.
   */
  async latency() {
    const {startLocalBroker} = await import('../dist/lib/kafka/local-broker.js')
    const {withEngine} = await import('../dist/lib/engine/engine.js')
    const {sqlString, sqlStringList} = await import('../dist/lib/engine/sql.js')
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-latency-'))
    const broker = await startLocalBroker({heap: '1g'})
    const rows = []
    try {
      const events = 300_000
      const rate = 10_000
      const common = ['--brokers', broker.brokers, '--topic', 'live']
      const lake = join(dir, 'lake')
      // The topic must exist before ingest starts; one event (not measured: it waits for ingest to start) creates it.
      runEcap(['generate', '--to', 'kafka', ...common, '--partitions', '6', '--events', '1'])
      const ingest = spawn(
        process.execPath,
        [bin, 'ingest', ...common, '--lake', lake, '--flush-interval', '1s', '--json'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      )
      let out = ''
      ingest.stdout.on('data', (chunk) => {
        out += chunk
      })
      const exited = new Promise((resolve) => ingest.on('exit', resolve))
      await new Promise((resolve) => setTimeout(resolve, 5000))
      const produce = runEcap([
        'generate',
        '--to',
        'kafka',
        ...common,
        '--events',
        String(events),
        '--rate',
        String(rate),
        '--seed',
        '7',
      ])
      // Let the last flush land, then stop ingest the way a user would.
      await new Promise((resolve) => setTimeout(resolve, 3000))
      ingest.kill('SIGINT')
      const code = await exited
      if (code !== 0) throw new Error(`ingest exited ${code}: ${out}`)
      const visibleAt = commitTimes(join(lake, 'events'))
      const stats = await withEngine(async (engine) => {
        await engine.run('CREATE TABLE commits (path VARCHAR, committed BIGINT)')
        for (const [path, time] of visibleAt) await engine.run('INSERT INTO commits VALUES (?, ?)', [path, time])
        const files = [...visibleAt.keys()].map((p) => join(lake, 'events', p))
        const [row] = await engine.rows(
          `WITH latency AS (
             SELECT c.committed - epoch_ms(e.event_time) AS ms
             FROM read_parquet(${sqlStringList(files)}, filename = true, hive_partitioning = false) e
             JOIN commits c ON e.filename = ${sqlString(`${join(lake, 'events')}/`)} || c.path
             WHERE e.event_time > now() - INTERVAL 1 HOUR)
           SELECT count(*)::INTEGER AS n, quantile_cont(ms, 0.5)::INTEGER AS p50, quantile_cont(ms, 0.99)::INTEGER AS p99,
                  max(ms)::INTEGER AS max FROM latency`,
        )
        return row
      })
      if (stats.n < events) throw new Error(`only ${stats.n} of ${events} streamed events reached the lake`)
      rows.push({
        case: `produce at ${rate}/s, ingest --flush-interval 1s`,
        events: stats.n,
        produceEventsPerSecond: Math.round(events / produce.seconds),
        p50Ms: stats.p50,
        p99Ms: stats.p99,
        maxMs: stats.max,
        commits: JSON.parse(out).result.commits,
      })
    } finally {
      await broker.stop()
      rmSync(dir, {recursive: true, force: true})
    }
    return rows
  },

  /**
   * Live fraud alert latency: `ecap ingest --score-fraud --alerts-topic` runs (1 s flush interval) while
   * `generate --to kafka --rate 10000` streams 300,000 events stamped with their send time. An alert's latency is the
   * alerts topic's message timestamp (when ecap produced it, after the lake commit) minus its purchase's event_time;
   * the lake figure is the fraud_alerts commit time minus event_time. The stream compresses the simulated months into
   * half a minute, so velocity rules fire often: many alerts, which is what a latency measurement wants.
   */
  async 'fraud-latency'() {
    const {startLocalBroker} = await import('../dist/lib/kafka/local-broker.js')
    const {withEngine} = await import('../dist/lib/engine/engine.js')
    const {Kafka, logLevel} = await import('kafkajs')
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-fraud-latency-'))
    const broker = await startLocalBroker({heap: '1g'})
    const rows = []
    try {
      const events = 300_000
      const rate = 10_000
      const common = ['--brokers', broker.brokers, '--topic', 'live']
      const lake = join(dir, 'lake')
      runEcap(['generate', '--to', 'kafka', ...common, '--partitions', '6', '--events', '1'])
      const ingest = spawn(
        process.execPath,
        [
          bin,
          'ingest',
          ...common,
          '--lake',
          lake,
          '--flush-interval',
          '1s',
          '--score-fraud',
          '--alerts-topic',
          'alerts',
          '--json',
        ],
        {stdio: ['ignore', 'pipe', 'inherit']},
      )
      let out = ''
      ingest.stdout.on('data', (chunk) => {
        out += chunk
      })
      const exited = new Promise((resolve) => ingest.on('exit', resolve))
      await new Promise((resolve) => setTimeout(resolve, 5000))
      const produce = runEcap([
        'generate',
        '--to',
        'kafka',
        ...common,
        '--events',
        String(events),
        '--rate',
        String(rate),
        '--seed',
        '7',
      ])
      await new Promise((resolve) => setTimeout(resolve, 3000))
      ingest.kill('SIGINT')
      const code = await exited
      if (code !== 0) throw new Error(`ingest exited ${code}: ${out}`)
      const result = JSON.parse(out).result

      // Every alert message of the topic, with the time Kafka stamped it (CreateTime: when ecap produced it).
      const kafka = new Kafka({clientId: 'bench', brokers: [broker.brokers], logLevel: logLevel.NOTHING})
      const admin = kafka.admin()
      await admin.connect()
      const total = (await admin.fetchTopicOffsets('alerts')).reduce((n, p) => n + Number(p.high), 0)
      await admin.disconnect()
      const consumer = kafka.consumer({groupId: 'bench-reader', maxWaitTimeInMs: 500})
      const kafkaMs = []
      await consumer.connect()
      await consumer.subscribe({topic: 'alerts', fromBeginning: true})
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 60_000)
        consumer.run({
          eachMessage: async ({message}) => {
            const alert = JSON.parse(String(message.value))
            // Only the streamed events carry send times; the one event that created the topic does not count.
            const sent = Date.parse(alert.event_time)
            if (sent > Date.now() - 3_600_000) kafkaMs.push(Number(message.timestamp) - sent)
            if (kafkaMs.length >= total) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
      })
      await consumer.disconnect()

      const visibleAt = commitTimes(join(lake, 'fraud_alerts'))
      const lakeMs = await withEngine(async (engine) => {
        const {sqlStringList} = await import('../dist/lib/engine/sql.js')
        const files = [...visibleAt.keys()].map((p) => join(lake, 'fraud_alerts', p))
        const alerts = await engine.rows(
          `SELECT parse_filename(filename) AS file, epoch_ms(event_time) AS sent
           FROM read_parquet(${sqlStringList(files)}, filename = true)
           WHERE event_time > now() - INTERVAL 1 HOUR`,
        )
        return alerts.map((a) => visibleAt.get(String(a.file)) - Number(a.sent))
      })
      const quantile = (values, q) => {
        const sorted = [...values].sort((a, b) => a - b)
        if (sorted.length === 0) return null
        const at = (sorted.length - 1) * q
        const lo = Math.floor(at)
        const hi = Math.ceil(at)
        return Math.round((sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (at - lo))
      }
      const row = (name, values) => ({
        case: `${name}, ${rate}/s, --flush-interval 1s`,
        alerts: values.length,
        p50Ms: quantile(values, 0.5),
        p99Ms: quantile(values, 0.99),
        maxMs: values.length ? Math.max(...values) : null,
      })
      rows.push({
        ...row('alert on the alerts topic', kafkaMs),
        produceEventsPerSecond: Math.round(events / produce.seconds),
        ordersScored: result.fraud.scored,
      })
      rows.push({...row('alert in <lake>/fraud_alerts', lakeMs), commits: result.commits})
    } finally {
      await broker.stop()
      rmSync(dir, {recursive: true, force: true})
    }
    return rows
  },

  /**
   * `ecap generate --to lake` of 1M and 10M events (events/s end to end, peak RSS), and the time to read the snapshot
   * of a table with 5,000 commits (checkpoints every 10), in a fresh process as a user's command would.
   */
  async lake() {
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-lake-'))
    const rows = []
    try {
      for (const events of [1_000_000, 10_000_000]) {
        const figure = new Figure(`generate --to lake ${events.toLocaleString('en-US')}`, {items: events})
        for (let r = 1; r <= REPEATS; r++) {
          const lake = join(dir, `lake-${events}`)
          figure.measure(() => {
            const run = runEcap(['generate', '--to', 'lake', '--lake', lake, '--events', String(events)])
            return {
              seconds: run.seconds,
              peakRss: run.peakRss,
              files: run.result.lake.files,
              lakeMiB: mib(run.result.lake.bytes),
            }
          })
          rmSync(lake, {recursive: true, force: true})
        }
        rows.push(figure.row())
      }
      const {commitAppend, tablePath} = await import('../dist/lib/lake/lake.js')
      const {readSnapshot} = await import('../dist/lib/lake/delta-log.js')
      const {Engine} = await import('../dist/lib/engine/engine.js')
      const lake = join(dir, 'lake-commits')
      const engine = await Engine.open()
      try {
        // Log-only commits: each adds one (fictitious) file, as a small ingest flush would.
        for (let i = 0; i < 5000; i++) {
          const add = {
            path: `event_date=2026-01-01/part-${i}.parquet`,
            partitionValues: {event_date: '2026-01-01'},
            size: 1000,
            modificationTime: Date.now(),
            dataChange: true,
            stats: JSON.stringify({numRecords: 10}),
          }
          await commitAppend(lake, [add], [{appId: 'ecap:bench:0', version: i}], {engine})
        }
      } finally {
        engine.close()
      }
      const reads = []
      const reader = await Engine.open()
      try {
        for (let i = 0; i < 5; i++) {
          const started = process.hrtime.bigint()
          const snapshot = await readSnapshot(tablePath(lake, 'events'), {engine: reader})
          reads.push(Number(process.hrtime.bigint() - started) / 1e6)
          if (snapshot.files.size !== 5000) throw new Error(`snapshot has ${snapshot.files.size} files, expected 5000`)
        }
      } finally {
        reader.close()
      }
      rows.push({
        case: 'snapshot read, 5,000 commits',
        seconds: Number((Math.min(...reads) / 1000).toFixed(3)),
        readsMs: reads.map((r) => Math.round(r)).join(' '),
      })
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    return rows
  },

  /**
   * Random kills for a set time (`npm run bench -- soak [seconds] [brokers]`, 600 s by default): rounds of
   * bench/kill-round.js (3 ingest members, one SIGKILLed and restarted at random times, then every table checked for
   * exactly once with DuckDB and delta-rs) with random seeds, until the time is up. Prints each round's seed, kills and
   * any mismatch with the exact differing ids (replay one with `node bench/kill-round.js --seed <seed>`); exits 1 on
   * a mismatch. Uses the broker of ECAP_TEST_BROKERS, or starts one.
   */
  async soak() {
    const seconds = Number(process.argv[3] ?? 600)
    const {killRound} = await import('./kill-round.js')
    let brokers = process.argv[4] ?? process.env.ECAP_TEST_BROKERS
    let broker
    if (!brokers) {
      const {startLocalBroker} = await import('../dist/lib/kafka/local-broker.js')
      broker = await startLocalBroker({heap: '1g'})
      brokers = broker.brokers
    }
    const rows = []
    const began = Date.now()
    try {
      while (rows.length === 0 || Date.now() - began < seconds * 1000) {
        const seed = Math.floor(Math.random() * 2 ** 31)
        const started = Date.now()
        const report = await killRound({brokers, seed, seconds: 60, log: (line) => console.error(`  ${line}`)})
        rows.push({
          round: rows.length + 1,
          seed,
          kills: report.kills,
          events: report.events,
          deadLetters: report.deadLetters,
          alerts: report.alerts,
          seconds: Math.round((Date.now() - started) / 1000),
          mismatch: report.ok ? '' : Object.keys(report.mismatches).join('; '),
        })
        console.error(`round ${rows.length}, seed ${seed}: ${report.kills} kills, ${report.ok ? 'ok' : 'MISMATCH'}`)
        if (!report.ok) {
          console.error(JSON.stringify(report.mismatches, null, 2))
          process.exitCode = 1
        }
      }
    } finally {
      await broker?.stop()
    }
    const kills = rows.reduce((n, r) => n + r.kills, 0)
    const mismatches = rows.filter((r) => r.mismatch).length
    console.error(`soak: ${rows.length} runs, ${kills} kills, ${mismatches} with a mismatch`)
    return rows
  },

  /**
   * Fraud scoring on shops it was not tuned on (bench/fraud-eval.js): the hand-set rules and the weights --learn fits
   * on each shop's chargebacks, both measured against the true labels on the later window the fit never saw. A quality
   * benchmark, not a timing one. `npm run bench -- fraud [tune|holdout|injected ...]` runs only those sets.
   */
  async fraud() {
    const {fraudEvaluation, FRAUD_SETS} = await import('./fraud-eval.js')
    const only = process.argv.slice(3)
    return fraudEvaluation(root, {sets: only.length ? FRAUD_SETS.filter((s) => only.includes(s.set)) : FRAUD_SETS})
  },

  /**
   * `ecap generate` of 1M and 10M events to an NDJSON file, and of 1M events to a new lake: events/s end to end (the
   * generator's own figure beside it), peak RSS.
   */
  generate() {
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-generate-'))
    const rows = []
    try {
      const cases = [
        {events: 1_000_000, to: 'ndjson'},
        {events: 10_000_000, to: 'ndjson'},
        {events: 1_000_000, to: 'lake'},
      ]
      for (const {events, to} of cases) {
        const figure = new Figure(`generate --to ${to} ${events.toLocaleString('en-US')}`, {items: events})
        let size = 0
        for (let r = 1; r <= REPEATS; r++) {
          const target = join(dir, to === 'lake' ? 'lake' : 'events.ndjson')
          figure.measure(() => {
            const output = to === 'lake' ? ['--to', 'lake', '--lake', target] : ['-o', target]
            const run = runEcap(['generate', '--events', String(events), ...output])
            return {seconds: run.seconds, peakRss: run.peakRss, generatorEventsPerSecond: run.result.eventsPerSecond}
          })
          size = to === 'lake' ? 0 : statSync(target).size
          rmSync(target, {recursive: true, force: true})
        }
        rows.push(figure.row(undefined, size ? {fileMiB: mib(size)} : {}))
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    return rows
  },
}

const name = process.argv[2]
if (!name || !(name in benchmarks)) {
  console.error(`Usage: npm run bench -- <${Object.keys(benchmarks).join('|')}>`)
  process.exit(2)
}
const rows = await benchmarks[name]()
const report = {
  benchmark: name,
  at: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  rows,
}
console.table(rows)
const resultsDir = join(root, 'bench', 'results')
mkdirSync(resultsDir, {recursive: true})
writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`)
console.log(`Saved bench/results/${name}.json`)
