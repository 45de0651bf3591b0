import type {ChildProcess} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {UnavailableError} from './errors.js'

/**
 * What the launchers of the local Kafka broker and the local Trino share: a JVM child that counts as started once a
 * real client request succeeds, stopped with SIGTERM and then SIGKILL, and the end of its log in every error about it.
 */

/** How a server's process ended. */
export interface ServerExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface WaitUntilAnswersOptions {
  /** The server in messages and error codes: `Kafka` gives KAFKA_EXITED and KAFKA_START_TIMEOUT. */
  name: string
  /** Where it should answer, for messages. */
  address: string
  timeoutMs: number
  /** Resolves when the process ends: a server that exits while starting fails at once, not at the deadline. */
  exited: Promise<ServerExit>
  logFile: string
  /** One attempt with the milliseconds left; it resolves once the server answers as its clients need. */
  probe: (remainingMs: number) => Promise<void>
  /** The pause after a failed attempt. */
  pauseMs: number
}

/**
 * Sends `probe` until it succeeds. A started JVM is not a ready server (its port may be open before it serves, or
 * serve before it can run what clients send), so only a real request tells.
 */
export async function waitUntilAnswers(options: WaitUntilAnswersOptions): Promise<void> {
  const {name, address, timeoutMs, logFile} = options
  const code = name.toUpperCase()
  const deadline = Date.now() + timeoutMs
  let exit: ServerExit | undefined
  void options.exited.then((value) => {
    exit = value
  })
  let lastError: unknown
  while (Date.now() < deadline) {
    if (exit) {
      throw new UnavailableError(
        `${code}_EXITED`,
        `${name} exited (${exit.signal ?? `code ${exit.code}`}) before it answered on ${address}. End of its log:\n${logTail(logFile, name)}`,
        {hints: [`Its full log: ${logFile}`]},
      )
    }
    try {
      await options.probe(deadline - Date.now())
      return
    } catch (error) {
      lastError = error
      await new Promise((resolveDelay) => setTimeout(resolveDelay, options.pauseMs))
    }
  }
  throw new UnavailableError(
    `${code}_START_TIMEOUT`,
    `${name} did not answer on ${address} within ${timeoutMs} ms (last error: ${(lastError as Error)?.message}). End of its log:\n${logTail(logFile, name)}`,
    {hints: ['Give it longer with `startTimeoutMs`; a cold JVM on a busy machine is slow.']},
  )
}

/** Stops `child` with SIGTERM, and with SIGKILL when it has not exited within `timeoutMs`. */
export async function terminate(child: ChildProcess, exited: Promise<ServerExit>, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout('timeout'), timeoutMs)
  })
  const outcome = await Promise.race([exited, timedOut])
  clearTimeout(timer)
  if (outcome === 'timeout') {
    child.kill('SIGKILL')
    await exited
  }
}

/** The last `lines` lines of a server's log, for an error message; `name` says whose log is missing. */
export function logTail(logFile: string, name: string, lines = 40): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return `(no ${name} log)`
  }
}
