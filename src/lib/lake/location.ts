import {basename, dirname, join, resolve} from 'node:path'
import {UsageError} from '../errors.js'

/**
 * Where a lake or table lives, as ecap passes it around: an absolute local folder path, or an `s3://bucket/prefix` URI
 * (no trailing '/'). Every lake path a user gives goes through `lakeLocation` first, so that a URL ecap cannot write
 * (`gs://...`, `s3:/bucket`, a bare `s3:`) is a usage error instead of a local folder named `s3:`.
 */
export type Location = string

const S3_PREFIX = 's3://'
/** A URI scheme at the start of the text: `s3:`, `gs:`, `https:`, `file:`... (two letters at least: not `C:`). */
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]+:/
/** S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/** Validates and normalises a lake path as a user wrote it (flag, env var or config file). */
export function lakeLocation(text: string): Location {
  const trimmed = text.trim()
  if (trimmed === '') throw new UsageError('LAKE_EMPTY', 'The lake path is empty.', {hints: ['--lake ./ecap-lake']})
  if (trimmed.startsWith(S3_PREFIX)) return s3Location(trimmed)
  const scheme = SCHEME.exec(trimmed)
  if (scheme) {
    throw new UsageError(
      'LAKE_URL_UNSUPPORTED',
      `ecap cannot keep a lake at ${trimmed}: it reads and writes local folders and s3://bucket/prefix URLs (S3 and S3-compatible stores), not ${scheme[0]} URLs.`,
      {
        hints: [
          '--lake s3://my-bucket/shop (S3, MinIO, R2, GCS through its S3 API: set AWS_ENDPOINT_URL)',
          `--lake ./${trimmed.replaceAll(':', '_').replaceAll('/', '_')} (a local folder)`,
        ],
      },
    )
  }
  return resolve(trimmed)
}

function s3Location(text: string): Location {
  const rest = text.slice(S3_PREFIX.length).replace(/\/+$/, '')
  const slash = rest.indexOf('/')
  const bucket = slash === -1 ? rest : rest.slice(0, slash)
  const prefix = slash === -1 ? '' : rest.slice(slash + 1)
  if (!BUCKET.test(bucket)) {
    throw new UsageError('LAKE_URL_INVALID', `"${bucket}" in ${text} is not an S3 bucket name.`, {
      hints: ['--lake s3://my-bucket/shop (3-63 lower-case letters, digits, dots and hyphens)'],
    })
  }
  // AWS's safe key characters (and '=' of partition folders). Anything else is refused: DuckDB reads '?...' in an s3://
  // URL as its own S3 settings (another endpoint would receive the signed requests), and '%', '#', spaces and control
  // characters are escaped differently by each client that names the key.
  const unsafe = /[^A-Za-z0-9!_.*'()=/-]/.exec(prefix)
  if (unsafe) {
    throw new UsageError(
      'LAKE_URL_INVALID',
      `The key prefix of ${text} holds ${JSON.stringify(unsafe[0])}, which ecap does not accept in a lake's prefix.`,
      {hints: ["Use letters, digits and ! - _ . * ' ( ) = in the prefix, e.g. --lake s3://my-bucket/shop"]},
    )
  }
  const parts = prefix.split('/')
  if (prefix !== '' && parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UsageError('LAKE_URL_INVALID', `The key prefix of ${text} has an empty, "." or ".." part.`, {
      hints: [`--lake s3://${bucket}/${parts.filter((p) => p !== '' && p !== '.' && p !== '..').join('/')}`],
    })
  }
  return prefix === '' ? `${S3_PREFIX}${bucket}` : `${S3_PREFIX}${bucket}/${prefix}`
}

/** Whether the location is in an object store (no folders, no links, no fsync; conditional writes instead). */
export function isObjectStore(location: Location): boolean {
  return location.startsWith(S3_PREFIX)
}

/** The bucket and key prefix of an `s3://` location ('' for a bucket's root). */
export function s3Parts(location: Location): {bucket: string; prefix: string} {
  const rest = location.slice(S3_PREFIX.length)
  const slash = rest.indexOf('/')
  return slash === -1 ? {bucket: rest, prefix: ''} : {bucket: rest.slice(0, slash), prefix: rest.slice(slash + 1)}
}

/** `location` and '/'-separated parts below it, joined the way the location's kind joins them. */
export function childLocation(location: Location, ...parts: string[]): Location {
  const kept = parts.filter((p) => p !== '')
  if (isObjectStore(location)) {
    // A key has no "..": `--table ../x` would name a key with a literal '..' in it, not a table beside the lake.
    const steps = kept.flatMap((p) => p.split('/'))
    if (steps.some((step) => step === '' || step === '.' || step === '..')) {
      throw new UsageError('LAKE_PATH_INVALID', `${kept.join('/')} is not a table path within ${location}.`, {
        hints: ['Name a table inside the lake, e.g. --table events or --table analytics/rfm.'],
      })
    }
    return [location, ...steps].join('/')
  }
  return join(resolve(location), ...kept.flatMap((p) => p.split('/')))
}

/** The location one level up; a bucket's root is its own parent. */
export function parentLocation(location: Location): Location {
  if (!isObjectStore(location)) return dirname(location)
  const {bucket, prefix} = s3Parts(location)
  if (prefix === '') return location
  const slash = prefix.lastIndexOf('/')
  return slash === -1 ? `${S3_PREFIX}${bucket}` : `${S3_PREFIX}${bucket}/${prefix.slice(0, slash)}`
}

/** The last part of the location's name. */
export function locationName(location: Location): string {
  if (!isObjectStore(location)) return basename(location)
  const {bucket, prefix} = s3Parts(location)
  return prefix === '' ? bucket : (prefix.split('/').at(-1) as string)
}

/** `location` relative to `root` ('/'-separated; '' for the root itself), when it lies under it. */
export function relativeLocation(root: Location, location: Location): string | undefined {
  const base = isObjectStore(root) ? root : resolve(root)
  const target = isObjectStore(root) ? location : resolve(location)
  if (target === base) return ''
  if (!target.startsWith(`${base}/`)) return undefined
  return target.slice(base.length + 1)
}
