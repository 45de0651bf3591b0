#!/usr/bin/env node
// One round of random kills: 3 `ecap ingest` processes in one consumer group on a 6-partition topic of valid and bad
// messages (a second wave arrives mid-round), one of them SIGKILLed at seeded times and restarted, then a final
// `--until-caught-up` run; the lake must then hold every valid event and every bad message's dead letter exactly once
// (read by DuckDB and by delta-rs), each alert once and for a purchase of the input, and the alerts topic every alert.
//
//   node bench/kill-round.js --brokers 127.0.0.1:9092 --seed 7 [--seconds 75] [--events 12000] [--dir /tmp/x] [--keep]
//
// --events is the size of each of the two waves.
//
// Prints one JSON line: {seed, kills, restarts, events, deadLetters, alerts, mismatches, ok}; exit 1 on a mismatch.
// test/ingest-kill.test.ts runs one seeded round; `npm run bench -- soak` runs rounds with random seeds.
import {execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {promisify} from 'node:util'
import {Kafka, logLevel} from 'kafkajs'
import {mulberry32} from './prng.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')
const python = join(root, '.venv', 'bin', 'python')
const PARTITIONS = 6
const MEMBERS = 3
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function cleanEnv() {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('ECAP_') && !k.startsWith('VITEST') && k !== 'NODE_ENV'),
  )
}

/** Starts `ecap <args>`, collecting its output. */
function start(args) {
  const child = spawn(process.execPath, [bin, ...args], {env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe']})
  const run = {child, stdout: '', stderr: ''}
  child.stdout.on('data', (c) => {
    run.stdout += c
  })
  child.stderr.on('data', (c) => {
    run.stderr += c
  })
  run.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({code, signal})))
  return run
}

async function ecap(args, timeoutMs = 300_000) {
  const run = start(args)
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs)
  const exit = await run.exited
  clearTimeout(timer)
  return {...exit, stdout: run.stdout, stderr: run.stderr}
}

function unique(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

/** Bad messages of several kinds, `perPartition` to each partition; returns their `topic:partition:offset` keys. */
async function produceBad(kafka, topic, perPartition, seq) {
  const producer = kafka.producer()
  await producer.connect()
  const keys = []
  try {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const messages = Array.from({length: perPartition}, (_, i) => {
        const n = seq + partition * perPartition + i
        const value = [
          `not json ${n}`,
          JSON.stringify({event_id: `bad-${n}`, event_type: 'purchase', event_time: 'yesterday'}),
          null,
        ][n % 3]
        return {key: `bad-${n}`, value, partition}
      })
      const [sent] = await producer.send({topic, acks: -1, messages})
      for (let i = 0; i < perPartition; i++) keys.push(`${topic}:${partition}:${Number(sent.baseOffset) + i}`)
    }
  } finally {
    await producer.disconnect()
  }
  return keys
}

/** The event_ids and purchase order_ids `generate` writes for these flags (it is deterministic), from an NDJSON copy. */
async function generated(dir, flags) {
  const file = join(dir, `ids-${randomBytes(4).toString('hex')}.ndjson`)
  const run = await ecap(['generate', ...flags, '-o', file, '-q'])
  if (run.code !== 0) throw new Error(`generate exited ${run.code}: ${run.stderr}`)
  const events = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line))
  return {
    ids: events.map((e) => e.event_id),
    orders: events.filter((e) => e.event_type === 'purchase').map((e) => `${e.order_id}@${Date.parse(e.event_time)}`),
  }
}

async function produceValid(brokers, topic, flags) {
  const run = await ecap(['generate', '--to', 'kafka', '--brokers', brokers, '--topic', topic, ...flags, '-q'])
  if (run.code !== 0) throw new Error(`generate --to kafka exited ${run.code}: ${run.stderr}`)
}

/** Every message key of a topic up to its current high-water mark. */
async function topicKeys(kafka, topic) {
  const admin = kafka.admin()
  await admin.connect()
  let total = 0
  try {
    if (!(await admin.listTopics()).includes(topic)) return []
    for (const p of await admin.fetchTopicOffsets(topic)) total += Number(p.high) - Number(p.low)
  } finally {
    await admin.disconnect()
  }
  if (total === 0) return []
  const keys = []
  const consumer = kafka.consumer({groupId: unique('reader'), maxWaitTimeInMs: 200})
  await consumer.connect()
  try {
    await consumer.subscribe({topic, fromBeginning: true})
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${keys.length} of ${total} messages of ${topic}`)), 60_000)
      consumer
        .run({
          eachMessage: async ({message}) => {
            // order_id@event_time: the two shops of a round reuse order ids.
            keys.push(`${message.key}@${Date.parse(JSON.parse(String(message.value)).event_time)}`)
            if (keys.length >= total) {
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
  return keys
}

/** Keys of the lake's ingest tables, one per row, with DuckDB (ecap's reader) and delta-rs. */
async function lakeKeys(lake) {
  const {Engine} = await import(pathToFileURL(join(root, 'dist/lib/engine/engine.js')).href)
  const {registerTableView} = await import(pathToFileURL(join(root, 'dist/lib/lake/views.js')).href)
  const engine = await Engine.open()
  const duckdb = {}
  try {
    for (const [name, table, select] of [
      ['events', 'events', 'event_id'],
      ['deadLetters', 'dead_letters', `topic || ':' || "partition" || ':' || "offset"`],
      ['timedAlerts', 'fraud_alerts', `order_id || '@' || epoch_ms(event_time)`],
    ]) {
      const path = join(lake, table)
      const log = join(path, '_delta_log')
      // A writer that died before a table's first commit leaves a log with no commit in it: no table yet.
      if (!existsSync(log) || !readdirSync(log).some((n) => /^\d{20}\.(json|checkpoint\.parquet)$/.test(n))) {
        duckdb[name] = []
        continue
      }
      await registerTableView(engine, `t_${table}`, path)
      duckdb[name] = (await engine.rows(`SELECT ${select} AS k FROM t_${table}`)).map((r) => String(r.k))
    }
  } finally {
    engine.close()
  }
  const {stdout} = await promisify(execFile)(python, [join(root, 'test', 'helpers', 'lake_sets.py'), lake], {
    maxBuffer: 256 << 20,
  })
  return {duckdb, deltaRs: JSON.parse(stdout)}
}

/** What differs from "every expected key exactly once"; null when nothing does. */
function diff(actual, expected) {
  const want = new Set(expected)
  const counts = new Map()
  for (const k of actual) counts.set(k, (counts.get(k) ?? 0) + 1)
  const result = {
    missing: [...want].filter((k) => !counts.has(k)).sort(),
    unexpected: [...counts.keys()].filter((k) => !want.has(k)).sort(),
    duplicated: [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`),
  }
  return result.missing.length + result.unexpected.length + result.duplicated.length === 0 ? null : result
}

/**
 * Runs one round. `seconds` is how long the 3 members run (kills fall inside it); the whole round takes longer (input,
 * reference run, the final run's wait for a killed member's session, checks).
 */
export async function killRound({
  brokers,
  seed,
  seconds = 75,
  events = 12_000,
  dir: parent,
  keep = false,
  log = () => {},
}) {
  const dir = parent ?? mkdtempSync(join(tmpdir(), 'ecap-kill-round-'))
  mkdirSync(dir, {recursive: true})
  const kafka = new Kafka({clientId: 'ecap-kill-round', brokers: [brokers], logLevel: logLevel.NOTHING})
  const rand = mulberry32(seed)
  const topic = unique(`kill-${seed}`)
  const group = unique('g-kill')
  const lake = join(dir, 'lake')
  const alertsTopic = `${topic}-alerts`
  const members = []
  const report = {seed, topic, kills: 0, restarts: 0, memberExits: [], mismatches: {}}
  try {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({topics: [{topic, numPartitions: PARTITIONS}], waitForLeaders: true})
    await admin.disconnect()
    const shop = (s, events) => [
      '--events',
      String(events),
      '--customers',
      '400',
      '--fraud-rate',
      '0.1',
      '--seed',
      String(s),
    ]
    const waves = [shop(seed * 2 + 1, events), shop(seed * 2 + 2, events)]
    const bad = await produceBad(kafka, topic, 2, 0)
    await produceValid(brokers, topic, waves[0])
    const input = [await generated(dir, waves[0]), await generated(dir, waves[1])]
    const ids = input.flatMap((w) => w.ids)
    const purchases = new Set(input.flatMap((w) => w.orders))

    const args = [
      'ingest',
      '--brokers',
      brokers,
      '--topic',
      topic,
      '--lake',
      lake,
      '--group',
      group,
      '--flush-rows',
      '500',
      '--flush-interval',
      '1s',
      '--score-fraud',
      '--alerts-topic',
      alertsTopic,
      '--json',
    ]
    log(`input ready (${ids.length / 2} events and ${bad.length} bad messages), starting ${MEMBERS} members`)
    for (let i = 0; i < MEMBERS; i++) members.push(start(args))

    // Kill times, seeded: 2 to 4 kills, at least 4 s apart, within the round, after the members had time to start.
    const kills = 2 + Math.floor(rand() * 3)
    const times = Array.from({length: kills}, () => 6 + rand() * Math.max(seconds - 16, 1)).sort((a, b) => a - b)
    for (let i = 1; i < times.length; i++) times[i] = Math.max(times[i], times[i - 1] + 4)
    while (times.length > 1 && times[times.length - 1] > seconds - 2) times.pop()
    const began = Date.now()
    // The second wave arrives while the members run (and maybe while one of them is dead).
    const secondWave = sleep((seconds / 3) * 1000).then(async () => {
      await produceValid(brokers, topic, waves[1])
      bad.push(...(await produceBad(kafka, topic, 1, 1000)))
    })
    for (const at of times) {
      await sleep(Math.max(0, began + at * 1000 - Date.now()))
      const index = Math.floor(rand() * members.length)
      const victim = members[index]
      victim.child.kill('SIGKILL')
      await victim.exited
      report.kills++
      log(`t=${at.toFixed(1)}s: killed member ${index} (pid ${victim.child.pid})`)
      await sleep(rand() * 2000)
      members[index] = start(args)
      report.restarts++
    }
    await sleep(Math.max(0, began + seconds * 1000 - Date.now()))
    await secondWave

    // The members that are running stop as a user would stop them; each must end cleanly.
    log(`t=${((Date.now() - began) / 1000).toFixed(1)}s: SIGINT to the members`)
    for (const m of members) m.child.kill('SIGINT')
    const exits = await Promise.all(
      members.map((m) => Promise.race([m.exited, sleep(120_000).then(() => ({code: 'no exit 120 s after SIGINT'}))])),
    )
    for (const [i, exit] of exits.entries()) {
      report.memberExits.push(exit.code ?? exit.signal)
      if (exit.code !== 0)
        report.mismatches[`member ${i} exit`] = `${exit.code ?? exit.signal}: ${members[i].stderr.slice(-1500)}`
    }

    // The same group finishes the topic (after the killed members' sessions expire).
    log(`t=${((Date.now() - began) / 1000).toFixed(1)}s: final --until-caught-up run`)
    const final = await ecap([...args, '--until-caught-up'])
    log(`t=${((Date.now() - began) / 1000).toFixed(1)}s: checking the lake`)
    if (final.code !== 0)
      report.mismatches.finalRun = `exit ${final.code ?? final.signal}: ${final.stderr.slice(-2000)}`

    // Live fraud scores depend on the order in which partitions arrive (two uncrashed runs differ), so alerts are not
    // compared with a reference run: each must be a purchase of the input, in the lake once, and on the alerts topic.
    const expected = {events: ids, deadLetters: bad}
    const seen = await lakeKeys(lake)
    for (const [reader, keys] of Object.entries(seen)) {
      for (const table of ['events', 'deadLetters', 'timedAlerts']) {
        const d = diff(keys[table], table === 'timedAlerts' ? keys.timedAlerts : expected[table])
        if (d) report.mismatches[`${table} (${reader})`] = d
      }
      const foreign = keys.timedAlerts.filter((k) => !purchases.has(k))
      if (foreign.length > 0) report.mismatches[`alerts of no purchase of the input (${reader})`] = foreign
    }
    const published = new Set(await topicKeys(kafka, alertsTopic))
    const unpublished = seen.duckdb.timedAlerts.filter((k) => !published.has(k))
    if (unpublished.length > 0) report.mismatches['alerts never produced to Kafka'] = unpublished
    report.events = seen.duckdb.events.length
    report.deadLetters = seen.duckdb.deadLetters.length
    report.alerts = seen.duckdb.timedAlerts.length
  } finally {
    for (const m of members) m.child.kill('SIGKILL')
    if (!keep && parent === undefined) rmSync(dir, {recursive: true, force: true})
  }
  report.ok = Object.keys(report.mismatches).length === 0
  return report
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const flag = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`)
    return i < 0 ? fallback : process.argv[i + 1]
  }
  const report = await killRound({
    brokers: flag('brokers', process.env.ECAP_TEST_BROKERS ?? '127.0.0.1:9092'),
    seed: Number(flag('seed', 1)),
    seconds: Number(flag('seconds', 75)),
    events: Number(flag('events', 12_000)),
    dir: flag('dir', undefined),
    keep: process.argv.includes('--keep'),
    log: (line) => process.stderr.write(`${line}\n`),
  })
  process.stdout.write(`${JSON.stringify(report)}\n`)
  process.exit(report.ok ? 0 : 1)
}
