#!/usr/bin/env node
// Benchmark of `ecap export`: 1M generated events exported in every format, to a file and to stdout (read by a pipe
// and discarded), with wall time, rows/s and the export process's peak RSS. Run after `npm run build`:
//   node bench/export.js [LAKE]    (LAKE: reuse a lake that has an events table; default: generate one in a temp dir)
// Results print as a table and are saved to bench/results/export.json. Speed is measured here, never in tests.
import {spawn, spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {cpus, tmpdir, totalmem} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const bin = join(here, '..', 'bin', 'run.js')
const maxRss = join(here, 'max-rss.js')
const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-export-'))

/** Runs ecap with its peak RSS recorded; stdout is counted and dropped. */
function measure(args) {
  const rssFile = join(dir, 'rss')
  const started = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', maxRss, bin, ...args], {
      env: {...process.env, ECAP_BENCH_RSS_FILE: rssFile},
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let bytes = 0
    child.stdout.on('data', (chunk) => {
      bytes += chunk.length
    })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`ecap ${args.join(' ')} exited ${code}`))
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      resolve({seconds, stdoutBytes: bytes, peakRss: Number(readFileSync(rssFile, 'utf8'))})
    })
  })
}

try {
  let lake = process.argv[2]
  if (!lake) {
    lake = join(dir, 'lake')
    const generate = spawnSync(
      process.execPath,
      [bin, 'generate', '--to', 'lake', '--lake', lake, '--events', '1000000', '--customers', '50000', '--days', '120'],
      {stdio: 'inherit'},
    )
    if (generate.status !== 0) throw new Error('generate failed')
  }
  const rows = []
  for (const format of ['parquet', 'csv', 'ndjson', 'json', 'arrow']) {
    for (const target of ['file', 'stdout']) {
      const output = target === 'file' ? join(dir, `events.${format}`) : '-'
      const m = await measure(['export', 'events', '--format', format, '-o', output, '--lake', lake])
      const bytes = target === 'file' ? statSync(output).size : m.stdoutBytes
      if (target === 'file') rmSync(output)
      rows.push({
        format,
        target,
        seconds: Number(m.seconds.toFixed(1)),
        'MB out': Number((bytes / 1e6).toFixed(0)),
        'MB/s': Number((bytes / 1e6 / m.seconds).toFixed(1)),
        'peak RSS MB': Number((m.peakRss / 1e6).toFixed(0)),
      })
      console.error(JSON.stringify(rows.at(-1)))
    }
  }
  console.table(rows)
  mkdirSync(join(here, 'results'), {recursive: true})
  writeFileSync(
    join(here, 'results', 'export.json'),
    `${JSON.stringify({machine: {cpus: cpus().length, memory: totalmem()}, lake, rows}, null, 2)}\n`,
  )
} finally {
  rmSync(dir, {recursive: true, force: true})
}
