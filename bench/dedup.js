#!/usr/bin/env node
// Benchmark of what counting each event_id once costs (issue 12): the shop views' registration alone (where the
// duplicate check runs) and `ecap analyze all`, on a lake without duplicates and on a copy of it where 1% of the
// events were landed a second time (a replayed batch). Run after `npm run build`:
//   node bench/dedup.js [EVENTS] [RUNS] [LAKE]   (default 10,000,000 events, 3 runs; LAKE reuses a generated lake)
// With ECAP_BENCH_BASELINE=<a built checkout of an earlier commit> (e.g. `git worktree add` of the commit before
// de-duplication, then `npm run build` there), the same runs go through that checkout too: "without de-duplication".
// Each run records the 1-minute load average before it: on a shared machine, compare runs taken under similar load.
// Results print as a table and are saved to bench/results/dedup.json. Speed is measured here, never in tests.
import {spawnSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir, totalmem} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const events = Number(process.argv[2] ?? 10_000_000)
const runs = Number(process.argv[3] ?? 3)
const given = process.argv[4]
const baseline = process.env.ECAP_BENCH_BASELINE
const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-dedup-'))

function ecap(checkout, args) {
  const started = process.hrtime.bigint()
  const child = spawnSync(process.execPath, [join(checkout, 'bin', 'run.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (child.status !== 0) throw new Error(`ecap ${args.join(' ')} exited ${child.status}:\n${child.stderr}`)
  return {seconds, stdout: child.stdout}
}

/** Seconds to register the shop views of `lake` with `checkout`'s code, in this process, `runs` times. */
async function viewSeconds(checkout, lake) {
  const {Engine} = await import(pathToFileURL(join(checkout, 'dist', 'lib', 'engine', 'engine.js')).href)
  // The views moved from lake/ to shop/; a baseline checkout built before the move has them at the old path.
  const views = ['shop/views.js', 'lake/shop-views.js'].map((p) => join(checkout, 'dist', 'lib', p)).find(existsSync)
  const {registerShopViews} = await import(pathToFileURL(views).href)
  const times = []
  const loads = []
  let duplicates
  for (let i = 0; i < runs; i++) {
    loads.push(loadavg()[0])
    const engine = await Engine.open({memoryLimit: '1GB'})
    try {
      const started = performance.now()
      duplicates = (await registerShopViews(engine, lake)).duplicateEvents
      times.push((performance.now() - started) / 1000)
    } finally {
      engine.close()
    }
  }
  return {times, loads, duplicates}
}

function analyzeSeconds(checkout, lake) {
  const times = []
  const loads = []
  let duplicates
  for (let i = 0; i < runs; i++) {
    loads.push(loadavg()[0])
    const run = ecap(checkout, ['analyze', 'all', '--lake', lake, '--json'])
    times.push(run.seconds)
    duplicates = JSON.parse(run.stdout).result.duplicateEvents
  }
  return {times, loads, duplicates}
}

function row(name, {times, loads, duplicates}) {
  const sorted = [...times].sort((a, b) => a - b)
  return {
    case: name,
    runs: times.length,
    minS: Number(sorted[0].toFixed(2)),
    medianS: Number(sorted[Math.floor(sorted.length / 2)].toFixed(2)),
    allS: times.map((t) => t.toFixed(2)).join(' '),
    load1: loads.map((l) => l.toFixed(1)).join(' '),
    duplicates: duplicates ?? '-',
  }
}

const rows = []
try {
  let lake = given
  if (!lake) {
    lake = join(dir, 'lake')
    ecap(root, ['generate', '--to', 'lake', '--lake', lake, '--events', String(events), '-q'])
  }
  const checkouts = [...(baseline ? [['without de-duplication', baseline]] : []), ['with de-duplication', root]]
  for (const [label, checkout] of checkouts) {
    rows.push(row(`shop views, no duplicates, ${label}`, await viewSeconds(checkout, lake)))
    rows.push(row(`analyze all, no duplicates, ${label}`, analyzeSeconds(checkout, lake)))
  }
  // A replayed batch: 1% of the events landed again, through the lake's own append.
  const replayed = join(dir, 'replayed')
  mkdirSync(replayed)
  cpSync(join(lake, 'events'), join(replayed, 'events'), {recursive: true})
  const copies = join(dir, 'copies.ndjson')
  ecap(root, [
    'query',
    '--lake',
    replayed,
    'SELECT * EXCLUDE (event_date) FROM events USING SAMPLE 1 PERCENT (bernoulli, 42)',
    '--format',
    'ndjson',
    '-o',
    copies,
  ])
  const {withEngine} = await import(pathToFileURL(join(root, 'dist', 'lib', 'engine', 'engine.js')).href)
  const {appendEvents} = await import(pathToFileURL(join(root, 'dist', 'lib', 'lake', 'lake.js')).href)
  await withEngine((engine) => appendEvents(engine, replayed, copies))
  rows.push(row('shop views, 1% replayed, with de-duplication', await viewSeconds(root, replayed)))
  rows.push(row('analyze all, 1% replayed, with de-duplication', analyzeSeconds(root, replayed)))
} finally {
  rmSync(dir, {recursive: true, force: true})
}

const report = {
  benchmark: 'dedup',
  at: new Date().toISOString(),
  events: given ? `lake ${given}` : events,
  machine: {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  rows,
}
console.table(rows)
mkdirSync(join(root, 'bench', 'results'), {recursive: true})
writeFileSync(join(root, 'bench', 'results', 'dedup.json'), `${JSON.stringify(report, null, 2)}\n`)
console.log('Saved bench/results/dedup.json')
