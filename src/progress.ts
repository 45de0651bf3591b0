import ora, {type Ora} from 'ora'

/** How commands show progress on stderr; lib code reports through callbacks that a command routes here. */
export interface Progress {
  /** Starts a phase, such as "Generating events". */
  start(text: string): void
  /** Updates the running phase. Plain (non-TTY) output prints at most one update every few seconds. */
  update(text: string): void
  /** Ends the phase with a final line. */
  succeed(text: string): void
  fail(text: string): void
  stop(): void
}

export interface ProgressOptions {
  silent: boolean
  interactive: boolean
  color: boolean
  /** Minimum time between plain progress lines, in ms. */
  plainIntervalMs?: number
}

export function createProgress(options: ProgressOptions): Progress {
  if (options.silent) {
    const nothing = () => {}
    return {start: nothing, update: nothing, succeed: nothing, fail: nothing, stop: nothing}
  }
  if (options.interactive) {
    // discardStdin off: ora's stdin discarder puts the terminal in raw mode, so Ctrl-C no longer raises SIGINT, and
    // the stdin-discarder it ships adds its own data listener without making stdin flow, so the Ctrl-C byte is never
    // read either: a spinning command ignored Ctrl-C until it finished. The terminal's own Ctrl-C is the one rule.
    return spinnerProgress(ora({stream: process.stderr, color: options.color ? 'cyan' : false, discardStdin: false}))
  }
  return plainProgress(options.plainIntervalMs ?? 5000)
}

function spinnerProgress(spinner: Ora): Progress {
  return {
    start: (text) => void spinner.start(text),
    update: (text) => {
      spinner.text = text
    },
    succeed: (text) => void spinner.succeed(text),
    fail: (text) => void spinner.fail(text),
    stop: () => void spinner.stop(),
  }
}

function plainProgress(intervalMs: number): Progress {
  let last = 0
  const line = (text: string) => process.stderr.write(`${text}\n`)
  return {
    start: (text) => {
      last = Date.now()
      line(text)
    },
    update: (text) => {
      const now = Date.now()
      if (now - last >= intervalMs) {
        last = now
        line(text)
      }
    },
    succeed: line,
    fail: line,
    stop: () => {},
  }
}
