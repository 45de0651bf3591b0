import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'
import {promisify} from 'node:util'
import type {Engine} from '../../src/lib/engine/engine.js'
import {DEAD_LETTERS_TABLE} from '../../src/lib/lake/dead-letters.js'
import {FRAUD_ALERTS_TABLE} from '../../src/lib/lake/fraud-alerts.js'
import {EVENTS_TABLE, tablePath} from '../../src/lib/lake/lake.js'
import {storageAt} from '../../src/lib/lake/storage.js'
import {registerTableView} from '../../src/lib/lake/views.js'
import {PYTHON} from './python.js'

/**
 * The keys of a lake's ingest tables, one per row (so a duplicate shows twice): events by event_id, dead letters by
 * `topic:partition:offset`, fraud alerts by order_id.
 */
export interface LakeKeys {
  events: string[]
  deadLetters: string[]
  alerts: string[]
}

/** How a list of keys differs from a set that must be there exactly once each (all empty when it holds). */
export interface ExactlyOnceDiff {
  missing: string[]
  unexpected: string[]
  duplicated: string[]
}

/** Compares `actual` (one key per row) with `expected`: what is missing, what should not be there, what is there twice. */
export function diffExactlyOnce(actual: Iterable<string>, expected: Iterable<string>): ExactlyOnceDiff {
  const want = new Set(expected)
  const counts = new Map<string, number>()
  for (const key of actual) counts.set(key, (counts.get(key) ?? 0) + 1)
  return {
    missing: [...want].filter((k) => !counts.has(k)).sort(),
    unexpected: [...counts.keys()].filter((k) => !want.has(k)).sort(),
    duplicated: [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`),
  }
}

/**
 * Whether a table (a local folder or an `s3://` location) has a first commit: a writer that died before it leaves a
 * `_delta_log` with none.
 */
async function hasCommits(path: string): Promise<boolean> {
  const log = await storageAt(path).list('_delta_log')
  return log.some(({name, folder}) => !folder && /^\d{20}\.(json|checkpoint\.parquet)$/.test(name))
}

/**
 * The lake's keys as ecap's own reader (DuckDB over the Delta snapshot) sees them, for a local or an `s3://` lake. Safe
 * to call concurrently.
 */
export async function lakeKeysWithDuckDb(engine: Engine, lake: string): Promise<LakeKeys> {
  const read = async (table: string, select: string): Promise<string[]> => {
    const path = tablePath(lake, table)
    if (!(await hasCommits(path))) return []
    // A view name of its own: concurrent checks share one engine.
    const view = `keys_${table}_${randomBytes(6).toString('hex')}`
    await registerTableView(engine, view, path)
    try {
      return (await engine.rows(`SELECT ${select} AS k FROM ${view}`)).map((r) => String(r.k))
    } finally {
      await engine.run(`DROP VIEW IF EXISTS ${view}`)
    }
  }
  return {
    events: await read(EVENTS_TABLE, 'event_id'),
    deadLetters: await read(DEAD_LETTERS_TABLE, `topic || ':' || "partition" || ':' || "offset"`),
    alerts: await read(FRAUD_ALERTS_TABLE, 'order_id'),
  }
}

/** The lake's keys as delta-rs (a foreign Delta reader) sees them; see lake_sets.py. */
export async function lakeKeysWithDeltaRs(lake: string): Promise<LakeKeys> {
  const {stdout} = await promisify(execFile)(PYTHON, [join(import.meta.dirname, 'lake_sets.py'), lake], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  })
  return JSON.parse(stdout) as LakeKeys
}
