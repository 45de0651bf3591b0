#!/usr/bin/env node
// Replays a statement trace (bench/sql-trace.js) in plain DuckDB: the same statements, parameters and connections,
// in the same order, with no ecap code around them. Statements that wrote files write them under a scratch folder
// instead, so the replay leaves the lake as ecap left it.
//
//   node bench/replay-sql.js <trace.ndjson> <memory-limit> <scratch-dir>
//
// Prints one JSON line: statements, failed (with the first failure), seconds.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {DuckDBInstance} from '@duckdb/node-api'

const [tracePath, memoryLimit = '1GB', scratch] = process.argv.slice(2)
const statements = readFileSync(tracePath, 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line))
const decode = (v) => (v !== null && typeof v === 'object' ? ('bigint' in v ? BigInt(v.bigint) : v.other) : v)

const instance = await DuckDBInstance.create(':memory:', {
  memory_limit: memoryLimit,
  temp_directory: join(scratch, 'spill'),
})
const connections = new Map()
let failed = 0
let firstFailure
let written = 0
const started = performance.now()
for (const {connection, sql, values} of statements) {
  if (!connections.has(connection)) connections.set(connection, await instance.connect())
  // A COPY ... TO '<file>' writes into a scratch file of its own instead of the lake.
  const text = sql.replace(/(\)\s*TO\s*)'([^']*)'/gi, (_, to) => `${to}'${join(scratch, `copy-${written++}`)}'`)
  try {
    const bound = Array.isArray(values) ? values.map(decode) : values
    await connections.get(connection).run(text, bound)
  } catch (error) {
    failed++
    firstFailure ??= `${String(error.message).split('\n')[0]} in: ${text.slice(0, 200)}`
  }
}
const seconds = (performance.now() - started) / 1000
for (const c of connections.values()) c.closeSync()
instance.closeSync()
console.log(JSON.stringify({statements: statements.length, failed, firstFailure, seconds: Number(seconds.toFixed(2))}))
