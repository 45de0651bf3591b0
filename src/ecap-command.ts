import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {type ResolvedConfig, resolveConfig} from './lib/config/resolve.js'
import type {SettingKey} from './lib/config/settings.js'
import {type Engine, type EngineOptions, withEngine} from './lib/engine/engine.js'
import {EcapError, ExitCode, InterruptedError, toEcapError, UsageError} from './lib/errors.js'
import {openExtractSource} from './lib/extract/open-source.js'
import {lakeLocation} from './lib/lake/location.js'
import type {ReportDocument} from './lib/report/document.js'
import {renderTerminal} from './lib/report/terminal.js'
import {DEFAULT_COLUMNS} from './lib/report/terminal-charts.js'
import {bindExtractSource, type ExtractSummary, extractStatsSince} from './lib/shop/extract-source.js'
import {createProgress, type Progress} from './progress.js'

export interface JsonEnvelope<T> {
  status: number
  result: T | null
  error?: {name: string; code: string; message: string; hints: string[]}
  warnings: string[]
}

/**
 * The base of every ecap command. It owns what they all share: the `--json` envelope, colour and TTY decisions,
 * progress on stderr, signal handling (an AbortSignal for the lib) and the mapping of errors to exit codes.
 * Subclasses parse their flags, call one lib function and return its typed result.
 */
export abstract class EcapCommand<T> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    color: Flags.boolean({
      default: true,
      allowNo: true,
      description:
        'Colour the output (default: on a terminal; --color forces it through a pipe). Off with NO_COLOR, TERM=dumb or --json.',
      helpGroup: 'GLOBAL',
    }),
    quiet: Flags.boolean({char: 'q', description: 'Print no progress or warnings on stderr.', helpGroup: 'GLOBAL'}),
  }

  private readonly warningsSeen: string[] = []
  private readonly abortController = new AbortController()
  private signalHandler?: (signal: NodeJS.Signals) => void
  /** True once a reader of stdout went away (EPIPE): data output stops quietly, as `ecap … | head` expects. */
  protected stdoutClosed = false

  public abstract override run(): Promise<T>

  override async init(): Promise<void> {
    await super.init()
    // A reader that went away (EPIPE) or any other failure of stdout: stop writing data; throwing from this
    // handler would crash past the error mapping and the --json envelope.
    process.stdout.on('error', () => {
      this.stdoutClosed = true
    })
    let interrupts = 0
    this.signalHandler = (signal) => {
      interrupts += 1
      // A second Ctrl-C means "now": skip the graceful clean-up.
      if (interrupts > 1) process.exit(ExitCode.interrupted)
      this.abortController.abort(new InterruptedError(signal))
    }
    process.on('SIGINT', this.signalHandler)
    process.on('SIGTERM', this.signalHandler)
  }

  protected override async finally(error: Error | undefined): Promise<void> {
    if (this.signalHandler) {
      process.off('SIGINT', this.signalHandler)
      process.off('SIGTERM', this.signalHandler)
    }
    await super.finally(error)
  }

  /** Aborted on SIGINT/SIGTERM; lib functions stop at the next safe point and clean up. */
  protected get signal(): AbortSignal {
    return this.abortController.signal
  }

  /**
   * Opens a DuckDB engine bound to this command's abort signal, runs `work` with it and closes it whatever happens.
   * The one place an engine is opened: lib services take `(engine, options)`, so Ctrl-C reaches every statement.
   */
  protected withEngine<R>(
    work: (engine: Engine) => Promise<R>,
    options: Omit<EngineOptions, 'signal'> = {},
  ): Promise<R> {
    return withEngine(work, {...options, signal: this.signal})
  }

  /** What the extract of this command's analysis brought back from another engine, once it ran there. */
  private extract?: ExtractSummary

  /**
   * Opens the DuckDB engine of an analysis as withEngine does, with its extract step on the engine that `config`
   * names (`--engine`, ECAP_ENGINE, `engine` in a config file): Trino runs the scans there and DuckDB the model step.
   */
  protected withAnalysisEngine<R>(
    config: ResolvedConfig,
    work: (engine: Engine) => Promise<R>,
    options: Omit<EngineOptions, 'signal'> = {},
  ): Promise<R> {
    const source = openExtractSource(config, this.signal)
    return this.withEngine(async (engine) => {
      if (!source) return work(engine)
      bindExtractSource(engine, source)
      try {
        return await work(engine)
      } finally {
        this.extract = extractStatsSince(engine)
      }
    }, options)
  }

  /** `result` with what its extract brought back (`extract` in --json), when another engine ran it. */
  protected withExtract<T extends object>(result: T): T & {extract?: ExtractSummary} {
    return this.extract ? {...result, extract: this.extract} : result
  }

  /** Resolves settings with flag > env > ./ecap.config.json > user config > default. */
  protected resolveConfig(flags: Partial<Record<SettingKey, string | undefined>>): ResolvedConfig {
    const config = resolveConfig({flags, env: process.env, cwd: process.cwd(), userConfigDir: this.config.configDir})
    // A lake URL ecap cannot write (gs://, s3:/bucket, a bare s3:) is a usage error here, before any command treats
    // it as the name of a local folder.
    lakeLocation(config.lake.value)
    return config
  }

  protected get quiet(): boolean {
    return this.argv.includes('--quiet') || this.argv.includes('-q')
  }

  /**
   * Whether to colour text written to `stream`: on a terminal, or through a pipe when asked with --color (for `less
   * -R`); never with NO_COLOR, TERM=dumb, --no-color or --json. The one rule for every command.
   */
  protected colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
    if (process.env.NO_COLOR !== undefined || process.env.TERM === 'dumb') return false
    if (this.argv.includes('--no-color') || this.jsonEnabled()) return false
    return this.argv.includes('--color') || stream.isTTY === true
  }

  /**
   * Columns the terminal has, for charts that must not wrap: COLUMNS when set (as curses programs honour it), else
   * the terminal's own width, else 80 (a pipe or a file).
   */
  protected terminalColumns(stream: NodeJS.WriteStream = process.stdout): number {
    const fromEnv = Number(process.env.COLUMNS)
    if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv
    if (stream.isTTY === true && stream.columns > 0) return stream.columns
    return DEFAULT_COLUMNS
  }

  /** Progress on stderr: a spinner on an interactive terminal, plain lines otherwise, nothing with --quiet or --json. */
  protected progress(): Progress {
    const silent = this.quiet || this.jsonEnabled()
    const interactive = process.stderr.isTTY === true && !process.env.CI
    return createProgress({silent, interactive, color: this.colorEnabled(process.stderr)})
  }

  /** Writes data to stdout, unless the reader has gone away. */
  protected out(text: string): void {
    if (!this.stdoutClosed) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  /** Prints a report document on stdout as tables and charts, coloured by the one rule (colorEnabled). */
  protected printDocument(document: ReportDocument): void {
    this.out(renderTerminal(document, {color: this.colorEnabled(), columns: this.terminalColumns()}))
  }

  /** A line for the person at the terminal (not data) on stderr; nothing with --quiet or --json. */
  protected note(text: string): void {
    if (!this.jsonEnabled() && !this.quiet) process.stderr.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  override warn(input: Error | string): Error | string {
    const message = typeof input === 'string' ? input : input.message
    this.warningsSeen.push(message)
    if (!this.jsonEnabled() && !this.quiet) process.stderr.write(`Warning: ${message}\n`)
    return input
  }

  protected override toSuccessJson(result: unknown): JsonEnvelope<unknown> {
    return {status: ExitCode.ok, result, warnings: this.warningsSeen}
  }

  protected override toErrorJson(error: unknown): JsonEnvelope<never> {
    const ecap = normalizeError(error)
    return {
      status: ecap.exitCode,
      result: null,
      error: {name: ecap.name, code: ecap.code, message: ecap.message, hints: ecap.hints},
      warnings: this.warningsSeen,
    }
  }

  protected override logJson(json: unknown): void {
    if (!this.stdoutClosed) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<never> {
    // oclif's own exits (--help, --version, this.exit) pass straight through.
    if (error instanceof Errors.ExitError) throw error
    const ecap = normalizeError(error)
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(ecap))
    } else {
      const lines = [`Error (${ecap.code}): ${ecap.message}`]
      if (ecap.hints.length > 0) lines.push('Try this:', ...ecap.hints.map((hint) => `  ${hint}`))
      process.stderr.write(`${lines.join('\n')}\n`)
    }
    if (process.env.ECAP_DEBUG === '1')
      process.stderr.write(`${(ecap.cause as Error | undefined)?.stack ?? ecap.stack}\n`)
    this.exit(ecap.exitCode)
  }
}

/** Maps anything thrown (oclif parse errors included) to an EcapError with the right exit code. */
function normalizeError(error: unknown): EcapError {
  if (error instanceof EcapError) {
    // oclif rewrites the message of what a flag's parse function throws ("Parsing --x \n\t…\nSee more help with
    // --help"); ecap's flag types (duration, number) name the flag in their own message already.
    const parsed = /^Parsing --[\w-]+ \n\t([\s\S]*)\nSee more help with --help$/.exec(error.message)
    if (parsed) error.message = parsed[1] as string
    return error
  }
  if (error instanceof Errors.CLIError && (error as Errors.CLIError).oclif?.exit === 2) {
    return new UsageError('INVALID_ARGUMENTS', stripAnsi(error.message), {
      cause: error,
      hints: ['See the flags and examples with --help.'],
    })
  }
  return toEcapError(error)
}

function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing terminal escape codes is the point
  return text.replace(/\u001b\[[0-9;]*m/g, '')
}

export type EcapFlags<C extends typeof Command> = Interfaces.InferredFlags<
  (typeof EcapCommand)['baseFlags'] & C['flags']
>
