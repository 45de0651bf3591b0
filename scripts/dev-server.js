// What `npm run kafka:dev` and `npm run trino:dev` share: how they fail, and how they keep their server until Ctrl-C.
import {readFileSync} from 'node:fs'

/** Prints `message` to stderr and exits with `exitCode`. */
export function fail(message, exitCode) {
  process.stderr.write(`${message}\n`)
  process.exit(exitCode)
}

/** Fails with the error a launcher threw, its hints as "Try this" lines and its exit code. */
export function failToStart(name, error) {
  const hints = (error.hints ?? []).map((hint) => `\n  Try this: ${hint}`).join('')
  fail(`Could not start ${name}: ${error.message}${hints}`, error.exitCode ?? 1)
}

/**
 * Keeps `server` ({stop(), exited, logFile}) running until SIGINT or SIGTERM stops it (exit 0), or until it exits on
 * its own (exit 4, with the end of its log). A second Ctrl-C exits at once with 130.
 */
export async function serveUntilStopped(name, server) {
  let stopping = false
  async function shutdown(signal) {
    if (stopping) {
      // A second Ctrl-C: stop waiting; the launcher's exit hook kills the JVM.
      fail(`Stopping at once (${signal}).`, 130)
    }
    stopping = true
    process.stderr.write(`Stopping ${name}…\n`)
    await server.stop()
    process.stderr.write(`${name} stopped.\n`)
    process.exit(0)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))

  const exit = await server.exited
  if (!stopping) {
    let tail = ''
    try {
      tail = readFileSync(server.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n')
    } catch {}
    await server.stop()
    fail(`${name} exited on its own (${exit.signal ?? `code ${exit.code}`}). End of its log:\n${tail}`, 4)
  }
}
