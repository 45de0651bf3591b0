// A writer in its own process for the concurrency test: appends one NDJSON file to a lake `count` times.
// Usage: node append-worker.mjs <lake> <ndjson> <count>
// It prints "ready" once DuckDB is open, waits for a line on stdin so that both writers start together, then prints
// one JSON line with the versions it committed.
import {createInterface} from 'node:readline'
import {withEngine} from '../../dist/lib/engine/engine.js'
import {appendEvents} from '../../dist/lib/lake/lake.js'

const [lake, ndjson, count] = process.argv.slice(2)
if (!lake || !ndjson || !count) {
  process.stderr.write('usage: append-worker.mjs <lake> <ndjson> <count>\n')
  process.exit(2)
}

await withEngine(
  async (engine) => {
    const go = new Promise((resolve) => createInterface({input: process.stdin}).once('line', resolve))
    process.stdout.write('ready\n')
    await go
    const versions = []
    for (let i = 0; i < Number(count); i++) versions.push((await appendEvents(engine, lake, ndjson)).version)
    process.stdout.write(`${JSON.stringify({versions})}\n`)
  },
  {threads: 1},
)
// The readline interface keeps stdin open; the work is done.
process.exit(0)
