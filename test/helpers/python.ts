import {execFileSync} from 'node:child_process'
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
