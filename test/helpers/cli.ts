import {type ChildProcess, type SpawnSyncReturns, spawn, spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

/** The built CLI, as a user runs it (npm test builds dist/ first). */
export const RUN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/**
 * The caller's environment without ECAP_* variables or Vitest's NODE_ENV=test, so a spawned ecap sees what a user's
 * shell would (the AWS_* variables of the test S3 server and the machine's ECAP_DUCKDB_EXTENSIONS stay, as a user's
 * profile would set them); with `xdgHome`, a private user config dir too.
 */
export function cleanEnv(xdgHome?: string): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        (!name.startsWith('ECAP_') || name === 'ECAP_DUCKDB_EXTENSIONS') &&
        !name.startsWith('VITEST') &&
        name !== 'NODE_ENV',
    ),
  )
  if (!xdgHome) return base
  return {...base, XDG_CONFIG_HOME: xdgHome, XDG_DATA_HOME: xdgHome, XDG_CACHE_HOME: xdgHome, NO_COLOR: '1'}
}

export interface EcapRunOptions {
  cwd?: string
  xdgHome?: string
  timeoutMs?: number
  /** Variables added to the clean environment, e.g. ECAP_KAFKA_PASSWORD. */
  env?: NodeJS.ProcessEnv
  /** The Node.js binary to run ecap with; the one running the tests when absent. */
  node?: string
}

/** Runs `ecap <args>` to completion. */
export function ecap(args: string[], options: EcapRunOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(options.node ?? process.execPath, [RUN, ...args], {
    cwd: options.cwd,
    encoding: 'utf8',
    env: {...cleanEnv(options.xdgHome), ...options.env},
    timeout: options.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
  })
}

/** Starts `ecap <args>` without waiting for it. */
export function spawnEcap(args: string[], options: EcapRunOptions = {}): ChildProcess {
  return spawn(options.node ?? process.execPath, [RUN, ...args], {
    cwd: options.cwd,
    env: {...cleanEnv(options.xdgHome), ...options.env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** A running `ecap` with what it printed so far and its exit. */
export interface EcapProcess {
  child: ChildProcess
  stdout(): string
  stderr(): string
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
}

/** Starts `ecap <args>` and collects its output, so several can run at once (unlike `ecap`, which blocks). */
export function startEcap(args: string[], options: EcapRunOptions = {}): EcapProcess {
  const child = spawnEcap(args, options)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
    child.once('close', (code, signal) => resolve({code, signal})),
  )
  return {child, stdout: () => stdout, stderr: () => stderr, exited}
}

/** Waits until the process has written `text` to stderr (or has exited), polling: the moment to send it a signal. */
export async function untilStderr(run: EcapProcess, text: string): Promise<void> {
  while (!run.stderr().includes(text) && run.child.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
