/**
 * Exit codes every ecap command uses. Documented in `--help` and the README; scripts and cron rely on them.
 */
export const ExitCode = {
  ok: 0,
  /** Something unexpected: a bug in ecap. */
  unexpected: 1,
  /** Bad flag, argument or configuration. */
  usage: 2,
  /** Bad data: corrupt or foreign input. */
  data: 3,
  /** A dependency is unavailable (Kafka down, lake locked); retrying later may work. */
  unavailable: 4,
  /** Interrupted by SIGINT/SIGTERM. */
  interrupted: 130,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export interface EcapErrorOptions {
  /** Literal flags, env vars or values that would work, shown as "Try this:". */
  hints?: string[]
  exitCode?: ExitCodeValue
  cause?: unknown
}

/**
 * The one error type ecap's lib throws. `code` is stable (scripts may match on it); `exitCode` is what the CLI exits with.
 */
export class EcapError extends Error {
  readonly code: string
  readonly exitCode: ExitCodeValue
  readonly hints: string[]

  constructor(code: string, message: string, options: EcapErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'EcapError'
    this.code = code
    this.exitCode = options.exitCode ?? ExitCode.unexpected
    this.hints = options.hints ?? []
  }
}

/** Bad flag, argument or configuration value (exit 2). */
export class UsageError extends EcapError {
  constructor(code: string, message: string, options: Omit<EcapErrorOptions, 'exitCode'> = {}) {
    super(code, message, {...options, exitCode: ExitCode.usage})
    this.name = 'UsageError'
  }
}

/** Corrupt, foreign or invalid input data (exit 3). */
export class DataError extends EcapError {
  constructor(code: string, message: string, options: Omit<EcapErrorOptions, 'exitCode'> = {}) {
    super(code, message, {...options, exitCode: ExitCode.data})
    this.name = 'DataError'
  }
}

/** A service or resource ecap needs is not available right now (exit 4). */
export class UnavailableError extends EcapError {
  constructor(code: string, message: string, options: Omit<EcapErrorOptions, 'exitCode'> = {}) {
    super(code, message, {...options, exitCode: ExitCode.unavailable})
    this.name = 'UnavailableError'
  }
}

/**
 * Another writer committed the same stream positions (Delta `txn` app ids) to a table first (exit 4). A writer that
 * owns those positions no longer re-reads the lake and resumes; it tells this failure from others by class.
 */
export class TxnConflictError extends UnavailableError {
  constructor(table: string) {
    super('DELTA_TXN_CONFLICT', `Another writer committed the same stream positions to ${table}.`, {
      hints: ['Another ingest process owns these partitions now; this one must re-read the lake and resume.'],
    })
    // `name` stays UnavailableError: it is part of the --json error document, which must not change.
  }
}

/** The run was stopped by a signal (exit 130). */
export class InterruptedError extends EcapError {
  constructor(signal: string) {
    super('INTERRUPTED', `Interrupted by ${signal}.`, {exitCode: ExitCode.interrupted})
    this.name = 'InterruptedError'
  }
}

/** Wraps an unknown thrown value as an EcapError, keeping EcapErrors as they are. */
export function toEcapError(error: unknown): EcapError {
  if (error instanceof EcapError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new EcapError('UNEXPECTED', message, {cause: error, hints: ['Run again with ECAP_DEBUG=1 for a stack trace.']})
}
