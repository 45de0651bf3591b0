import {DataError, EcapError, UsageError} from '../errors.js'

/** DuckDB error classes that mean the SQL itself is wrong (the user's to fix), not the data or ecap. */
const USER_SQL_ERRORS =
  /^(Failed to extract statements: )?(Parser|Binder|Catalog|Conversion|Invalid Input|Out of Range|Not implemented|Syntax|Constraint|Dependency) Error/

/**
 * Maps an error DuckDB raised while preparing or running user SQL: mistakes in the SQL (syntax, unknown names,
 * casts that fail) are usage errors (exit 2) that carry DuckDB's own message; IO errors are data errors.
 */
export function sqlError(error: unknown, code: string, hints: string[] = []): EcapError {
  if (error instanceof EcapError) return error
  const message = (error instanceof Error ? error.message : String(error))
    .replace(/^Failed to extract statements: /, '')
    .trim()
  if (USER_SQL_ERRORS.test(message)) return new UsageError(code, message, {cause: error, hints})
  if (/^IO Error/.test(message)) return new DataError('LAKE_READ_FAILED', message, {cause: error})
  return new EcapError('UNEXPECTED', message, {
    cause: error,
    hints: ['Run again with ECAP_DEBUG=1 for a stack trace.'],
  })
}
