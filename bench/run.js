#!/usr/bin/env node
// Benchmarks of ecap, run as a user would run ecap: `npm run bench -- <name>`. Results print as a table and are
// saved to bench/results/<name>.json. Speed is measured here, never asserted in tests.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {cpus, tmpdir, totalmem} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')

/** Runs `ecap <args>` in a child process and returns wall time, peak RSS and its --json result. */
function runEcap(args) {
  const rssFile = join(tmpdir(), `ecap-bench-rss-${process.pid}-${Date.now()}`)
  const started = process.hrtime.bigint()
  const child = spawnSync(process.execPath, ['--import', join(root, 'bench', 'max-rss.js'), bin, ...args, '--json'], {
    env: {...process.env, ECAP_BENCH_RSS_FILE: rssFile},
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

const benchmarks = {
  /** `ecap generate` of 1M and 10M events to an NDJSON file: events/s end to end and peak RSS. */
  generate() {
    const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-generate-'))
    const rows = []
    try {
      for (const events of [1_000_000, 10_000_000]) {
        const file = join(dir, 'events.ndjson')
        const run = runEcap(['generate', '--events', String(events), '-o', file])
        rows.push({
          events,
          seconds: Number(run.seconds.toFixed(2)),
          eventsPerSecond: Math.round(events / run.seconds),
          generatorEventsPerSecond: run.result.eventsPerSecond,
          peakRssMiB: Number((run.peakRss / 2 ** 20).toFixed(1)),
          fileMiB: Number((statSync(file).size / 2 ** 20).toFixed(1)),
        })
        rmSync(file, {force: true})
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
const rows = benchmarks[name]()
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
