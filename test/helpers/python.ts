import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')
export const VENV = join(ROOT, '.venv')
export const PYTHON = join(VENV, 'bin', 'python')
const REQUIREMENTS = join(ROOT, 'tools', 'python', 'requirements.txt')
const STAMP = join(VENV, '.ecap-requirements')

/**
 * Makes sure the ignored virtualenv holds the Python tools the tests use (delta-rs as a real Delta reader),
 * installing them from PyPI when missing or when the requirements changed. Never skips: no reader, no test run.
 */
export function ensurePythonTools(): void {
  const wanted = readFileSync(REQUIREMENTS, 'utf8')
  if (existsSync(PYTHON) && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === wanted) return
  if (!existsSync(PYTHON)) execFileSync('python3', ['-m', 'venv', VENV], {stdio: 'inherit'})
  execFileSync(PYTHON, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS], {
    stdio: 'inherit',
  })
  writeFileSync(STAMP, wanted)
}

/** Reads a Delta table with delta-rs; see tools/python/read_delta.py for the fields. */
export function readWithDeltaRs(tablePath: string): {
  version: number
  rows: number
  files: number
  partitions: string[]
  sum_total: string
  sum_quantity: number
  distinct_event_ids: number
} {
  const out = execFileSync(PYTHON, [join(ROOT, 'tools', 'python', 'read_delta.py'), tablePath], {encoding: 'utf8'})
  return JSON.parse(out)
}

/**
 * The event_ids of a Delta table as delta-rs reads them: row count, distinct ids, and a SHA-256 of the sorted ids
 * joined by newlines (compare with `idsDigest` of the ids that were produced).
 */
export function eventIdsWithDeltaRs(tablePath: string): {rows: number; distinct: number; digest: string} {
  const script = [
    'import hashlib, json, os, sys',
    'from deltalake import DeltaTable',
    'ids = DeltaTable(sys.argv[1]).to_pyarrow_table(columns=["event_id"]).column("event_id").to_pylist()',
    'digest = hashlib.sha256("\\n".join(sorted(set(ids))).encode()).hexdigest()',
    'print(json.dumps({"rows": len(ids), "distinct": len(set(ids)), "digest": digest}), flush=True)',
    // Skip interpreter teardown, where delta-rs/Arrow threads have been seen to abort the process (see read_delta.py).
    'os._exit(0)',
  ].join('\n')
  return JSON.parse(execFileSync(PYTHON, ['-c', script, tablePath], {encoding: 'utf8'}))
}

/** SHA-256 of the distinct ids, sorted and joined by newlines, as `eventIdsWithDeltaRs` computes it. */
export function idsDigest(ids: Iterable<string>): string {
  return createHash('sha256')
    .update([...new Set(ids)].sort().join('\n'))
    .digest('hex')
}
