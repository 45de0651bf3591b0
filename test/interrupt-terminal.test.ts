import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cleanEnv, RUN} from './helpers/cli.js'

// Ctrl-C as a user at a terminal presses it: on a pseudo-terminal, where ecap draws a spinner. A pipe (what the other
// interruption tests use) never shows a spinner, so it cannot catch a spinner that swallows Ctrl-C.
const CTRL_C = fileURLToPath(new URL('./helpers/ctrl-c-on-terminal.py', import.meta.url))

interface Ended {
  exit: number | null
  signal: number | null
  pressed: boolean
  timedOut: boolean
  output: string
}

let root: string

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ecap-ctrl-c-'))
})

afterAll(() => {
  if (root) rmSync(root, {recursive: true, force: true})
})

/** Runs `ecap <args>` on a terminal, presses Ctrl-C once `marker` shows, and says how it ended. */
function ctrlC(marker: string, args: string[]): Ended {
  // No CI variable: a user's terminal has none, and with it ecap prints plain lines instead of a spinner.
  const {CI: _ci, ...env} = cleanEnv()
  const run = spawnSync('python3', [CTRL_C, marker, '30', process.execPath, RUN, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: {...env, TERM: 'xterm-256color'},
    timeout: 120_000,
  })
  expect(run.status, run.stderr).toBe(0)
  return JSON.parse(run.stdout) as Ended
}

describe('one Ctrl-C at a terminal', () => {
  it('stops a command while its spinner spins: exit 130, nothing left behind', () => {
    const ended = ctrlC('Generating events', [
      'generate',
      '--to',
      'ndjson',
      '-o',
      join(root, 'events.ndjson'),
      '--events',
      '100000000',
    ])
    const tail = ended.output.slice(-400)
    expect(ended.pressed, tail).toBe(true)
    // Still running 30 s after Ctrl-C means it was ignored (the whole run takes minutes).
    expect(ended.timedOut, tail).toBe(false)
    expect(ended.exit, tail).toBe(130)
    expect(ended.output).toContain('Interrupted by SIGINT')
    expect(readdirSync(root)).toEqual([])
  })
})
