import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {cleanEnv, RUN} from './cli.js'

const ROOT = join(import.meta.dirname, '..', '..')
const CACHE = join(ROOT, '.cache', 'strace')

function works(command: string, env?: NodeJS.ProcessEnv): boolean {
  return spawnSync(command, ['-V'], {env: {...process.env, ...env}, stdio: 'ignore'}).status === 0
}

/**
 * strace, to watch the system calls ecap makes: the machine's own, or else Debian's package unpacked with `dpkg -x`
 * into the ignored .cache/strace (no root, no system change, as scripts/install-chromium.sh does for Chromium).
 * Never skips: a machine that cannot provide it fails the test that needs it.
 */
export function ensureStrace(): {command: string; env: NodeJS.ProcessEnv} {
  if (works('strace')) return {command: 'strace', env: {}}
  const command = join(CACHE, 'root', 'usr', 'bin', 'strace')
  const env = {LD_LIBRARY_PATH: join(CACHE, 'root', 'usr', 'lib', 'x86_64-linux-gnu')}
  if (existsSync(command) && works(command, env)) return {command, env}
  rmSync(CACHE, {recursive: true, force: true})
  mkdirSync(join(CACHE, 'debs'), {recursive: true})
  const download = () =>
    spawnSync('apt-get', ['download', '-q', 'strace', 'libunwind8'], {cwd: join(CACHE, 'debs'), stdio: 'ignore'})
      .status === 0
  // Package lists older than the archive name versions no longer served: refresh them once (as root) and retry.
  if (!download()) {
    if (process.getuid?.() === 0) execFileSync('apt-get', ['update', '-qq'], {stdio: 'ignore'})
    if (!download()) throw new Error('strace is not installed and apt-get download strace failed')
  }
  for (const deb of readdirSync(join(CACHE, 'debs'))) {
    execFileSync('dpkg', ['-x', join(CACHE, 'debs', deb), join(CACHE, 'root')])
  }
  if (!works(command, env)) throw new Error(`${command} does not run`)
  return {command, env}
}

/** One traced system call: where it began and ended in the trace (calls of other threads may come between). */
export interface Syscall {
  name: string
  /** For fsync: the path of the file descriptor (strace -y); for link and rename: source and target. */
  path?: string
  from?: string
  to?: string
  start: number
  end: number
  ok: boolean
}

/** The calls the durability tests watch. */
export const TRACED = ['fsync', 'fdatasync', 'link', 'linkat', 'rename', 'renameat', 'renameat2']

/**
 * Runs `ecap <args>` under `strace -f -y` for the calls in TRACED and returns its exit status and the calls, in the
 * order the kernel saw them.
 */
export function straceEcap(
  args: string[],
  traceFile: string,
  env: NodeJS.ProcessEnv = {},
): {status: number | null; stderr: string; calls: Syscall[]} {
  const strace = ensureStrace()
  const run = spawnSync(
    strace.command,
    [
      '-f',
      '-qq',
      '-y',
      '-s',
      '4096',
      '-e',
      `trace=${TRACED.join(',')}`,
      '-o',
      traceFile,
      process.execPath,
      RUN,
      ...args,
    ],
    {encoding: 'utf8', env: {...cleanEnv(), ...strace.env, ...env}, timeout: 120_000},
  )
  return {status: run.status, stderr: run.stderr, calls: parseTrace(readFileSync(traceFile, 'utf8'))}
}

/** Parses strace -f -y output, joining calls split into `<unfinished ...>` and `<... resumed>` by other threads. */
export function parseTrace(text: string): Syscall[] {
  const calls: Syscall[] = []
  const pending = new Map<string, {name: string; args: string; start: number}>()
  for (const [index, line] of text.split('\n').entries()) {
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$/.exec(line)
    if (resumed) {
      const open = pending.get(resumed[1] as string)
      if (!open) continue
      pending.delete(resumed[1] as string)
      calls.push(toCall(open.name, open.args + (resumed[3] as string), open.start, index))
      continue
    }
    // strace pads the pid to a column: one space or several.
    const call = /^(\d+)\s+(\w+)\((.*)$/.exec(line)
    if (!call) continue
    const [, pid, name, rest] = call as unknown as [string, string, string, string]
    if (rest.endsWith('<unfinished ...>'))
      pending.set(pid, {name, args: rest.replace(/ ?<unfinished \.\.\.>$/, ''), start: index})
    else calls.push(toCall(name, rest, index, index))
  }
  return calls
}

function toCall(name: string, rest: string, start: number, end: number): Syscall {
  const ok = /\) += 0$/.test(rest)
  const strings = [...rest.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string)
  if (name === 'fsync' || name === 'fdatasync') {
    return {name: 'fsync', path: /^\d+<(.*)>\)/.exec(rest)?.[1], start, end, ok}
  }
  if (name.startsWith('link')) return {name: 'link', from: strings[0], to: strings[1], start, end, ok}
  return {name: 'rename', from: strings[0], to: strings[1], start, end, ok}
}
