// Preloaded into a benchmarked process (node --import): records every statement ecap sends to DuckDB, with its
// parameters, its connection and the milliseconds DuckDB took, one JSON line each, to $ECAP_BENCH_SQL_TRACE. The
// `analyze` benchmark replays the file in plain DuckDB (bench/replay-sql.js) to show what ecap adds to the same SQL.
import {appendFileSync} from 'node:fs'
import {DuckDBConnection} from '@duckdb/node-api'

const target = process.env.ECAP_BENCH_SQL_TRACE
if (target) {
  const connections = new WeakMap()
  let nextConnection = 0
  /** A parameter as JSON: bigints tagged so the replay binds them as bigints again. */
  const encodeValue = (v) =>
    typeof v === 'bigint' ? {bigint: String(v)} : v !== null && typeof v === 'object' ? {other: String(v)} : v
  const encode = (values) =>
    values === undefined
      ? undefined
      : Array.isArray(values)
        ? values.map(encodeValue)
        : Object.fromEntries(Object.entries(values).map(([k, v]) => [k, encodeValue(v)]))
  const run = DuckDBConnection.prototype.run
  // runAndRead, runAndReadAll and the rest call run(), so one wrapper sees every statement once.
  DuckDBConnection.prototype.run = async function (sql, values, types) {
    if (!connections.has(this)) connections.set(this, nextConnection++)
    const started = performance.now()
    try {
      return await run.call(this, sql, values, types)
    } finally {
      const line = {connection: connections.get(this), sql, values: encode(values), ms: performance.now() - started}
      appendFileSync(target, `${JSON.stringify(line)}\n`)
    }
  }
}
