#!/usr/bin/env node
// Checks that two builds of ecap save the same analyses: `ecap analyze all` runs with each checkout on its own copy of
// a lake's events (once with the default as-of day and once per --as-of given), then every table under analytics/ is
// read back and compared row by row in its saved order, exactly (floats to the last bit: DuckDB's DOUBLE reaches
// JavaScript unchanged and JSON writes the shortest text that reads back as the same number), with its column names
// and types and the run description each result carries (less the time it ran). For changes that must not move a
// single figure, e.g. a faster plan for the same SQL:
//   node bench/compare-results.js <lake> <checkout A> <checkout B> [YYYY-MM-DD ...]
// Both checkouts must be built (npm run build). Prints one line per table and exits 1 on any difference.
import {spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

const [lake, checkoutA, checkoutB, ...asOfDays] = process.argv.slice(2)
if (!checkoutB) {
  console.error('usage: node bench/compare-results.js <lake> <checkout A> <checkout B> [YYYY-MM-DD ...]')
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'ecap-compare-results-'))
const {Engine} = await import(pathToFileURL(join(checkoutA, 'dist', 'lib', 'engine', 'engine.js')).href)
const {registerTableView} = await import(pathToFileURL(join(checkoutA, 'dist', 'lib', 'lake', 'views.js')).href)
const {readRun} = await import(pathToFileURL(join(checkoutA, 'dist', 'lib', 'lake', 'result-table.js')).href)

/** Runs analyze all with `checkout` on a fresh copy of the lake's events; returns the copy and the --json result. */
function analyzeAll(checkout, name, asOf) {
  const copy = join(dir, name)
  cpSync(join(lake, 'events'), join(copy, 'events'), {recursive: true})
  const args = ['analyze', 'all', '--lake', copy, '--json', ...(asOf ? ['--as-of', asOf] : [])]
  const child = spawnSync(process.execPath, [join(checkout, 'bin', 'run.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  if (child.status !== 0)
    throw new Error(`${checkout}: ecap ${args.join(' ')} exited ${child.status}:\n${child.stderr}`)
  return {lake: copy, result: JSON.parse(child.stdout).result}
}

/** The rows of a saved result in their stored order, each as one line of JSON, with its columns and run description. */
async function readResult(engine, path) {
  const view = `t_${Math.random().toString(36).slice(2)}`
  await registerTableView(engine, view, path)
  const columns = await engine.rows(`SELECT column_name, column_type FROM (DESCRIBE ${view})`)
  const rows = (await engine.rows(`SELECT * FROM ${view}`)).map((r) => JSON.stringify(r))
  const {ranAt: _ranAt, ...run} = (await readRun(path, engine)) ?? {}
  return {columns: JSON.stringify(columns), rows, run: JSON.stringify(run)}
}

let differences = 0
const cases = [undefined, ...asOfDays]
for (const [i, asOf] of cases.entries()) {
  const a = analyzeAll(checkoutA, `a-${i}`, asOf)
  const b = analyzeAll(checkoutB, `b-${i}`, asOf)
  const label = asOf ? `as of ${asOf}` : 'default as-of'
  const summaries = (r) =>
    JSON.stringify({...r, lake: undefined, seconds: undefined, runs: r.runs.map((x) => ({...x, seconds: undefined}))})
  if (summaries(a.result) !== summaries(b.result)) {
    differences++
    console.log(`${label}: the --json results differ`)
  }
  const tables = readdirSync(join(a.lake, 'analytics')).sort()
  const tablesB = readdirSync(join(b.lake, 'analytics')).sort()
  if (tables.join() !== tablesB.join()) {
    differences++
    console.log(`${label}: tables differ: ${tables.join(', ')} vs ${tablesB.join(', ')}`)
  }
  const engine = await Engine.open({memoryLimit: '1GB'})
  try {
    for (const table of tables) {
      const ra = await readResult(engine, join(a.lake, 'analytics', table))
      const rb = await readResult(engine, join(b.lake, 'analytics', table))
      const problems = []
      if (ra.columns !== rb.columns) problems.push(`columns ${ra.columns} vs ${rb.columns}`)
      if (ra.run !== rb.run) problems.push(`run description ${ra.run} vs ${rb.run}`)
      if (ra.rows.length !== rb.rows.length) problems.push(`${ra.rows.length} rows vs ${rb.rows.length}`)
      const first = ra.rows.findIndex((row, j) => row !== rb.rows[j])
      if (first >= 0) problems.push(`row ${first} differs: ${ra.rows[first]} vs ${rb.rows[first]}`)
      if (problems.length > 0) differences++
      console.log(
        `${label} ${table}: ${ra.rows.length} rows, ${problems.length === 0 ? 'identical' : problems.join('; ')}`,
      )
    }
  } finally {
    engine.close()
  }
}
rmSync(dir, {recursive: true, force: true})
console.log(differences === 0 ? 'identical' : `${differences} difference(s)`)
process.exit(differences === 0 ? 0 : 1)
