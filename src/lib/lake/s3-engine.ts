import {existsSync} from 'node:fs'
import {join} from 'node:path'
import type {S3Client} from '@aws-sdk/client-s3'
import type {Engine} from '../engine/engine.js'
import {sqlIdentifier, sqlString} from '../engine/sql.js'
import {EcapError, UsageError} from '../errors.js'
import {type S3Settings, S3UnavailableError, s3Failure} from './s3-client.js'

/** The variable naming a folder that holds DuckDB extension files, for sites that cannot reach DuckDB's repository. */
export const EXTENSIONS_ENV = 'ECAP_DUCKDB_EXTENSIONS'

/** Renew DuckDB's copy of expiring credentials (a role's, SSO's) this long before they expire. */
const RENEW_BEFORE_MS = 5 * 60_000

interface Attached {
  /** The buckets this session has a secret for, with when their credentials expire (Infinity: never). */
  secrets: Map<string, {accessKeyId: string; expires: number}>
}

const sessions = new WeakMap<Engine, Attached>()

/**
 * Makes a DuckDB session able to read and write `s3://bucket/...` (read_parquet over a snapshot's files, COPY of new
 * data files): loads the httpfs extension once, and gives DuckDB the credentials the AWS SDK resolved, as a temporary
 * secret scoped to the bucket, so DuckDB and the SDK always act as the same principal on the same endpoint. Called
 * before every use of an S3 location in SQL; cheap when nothing changed.
 */
export async function attachS3(engine: Engine, bucket: string, settings: S3Settings, client: S3Client): Promise<void> {
  let attached = sessions.get(engine)
  if (!attached) {
    await loadHttpfs(engine)
    engine.translateErrors(httpfsFailure)
    // A Delta data file is never rewritten under its name, so what DuckDB learnt of one (size, Parquet footer) stays
    // true for the session: without these caches every query over a snapshot asks the store again for every file.
    await engine.run('SET enable_http_metadata_cache = true')
    await engine.run('SET parquet_metadata_cache = true')
    attached = {secrets: new Map()}
    sessions.set(engine, attached)
  }
  let credentials: Awaited<ReturnType<S3Client['config']['credentials']>>
  let region: string
  try {
    credentials = await client.config.credentials()
    region = await client.config.region()
  } catch (error) {
    throw s3Failure(error, 'find credentials for', `s3://${bucket}`)
  }
  const known = attached.secrets.get(bucket)
  const expires = credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY
  if (known && known.accessKeyId === credentials.accessKeyId && known.expires - RENEW_BEFORE_MS > Date.now()) return

  const options = [
    'TYPE s3',
    `KEY_ID ${sqlString(credentials.accessKeyId)}`,
    `SECRET ${sqlString(credentials.secretAccessKey)}`,
    `REGION ${sqlString(region)}`,
    `URL_STYLE ${sqlString(settings.pathStyle ? 'path' : 'vhost')}`,
    `SCOPE ${sqlString(`s3://${bucket}`)}`,
  ]
  if (credentials.sessionToken) options.push(`SESSION_TOKEN ${sqlString(credentials.sessionToken)}`)
  if (settings.endpoint) {
    // DuckDB takes the endpoint as host[:port] and the scheme as USE_SSL.
    options.push(`ENDPOINT ${sqlString(settings.endpoint.host)}`)
    options.push(`USE_SSL ${settings.endpoint.protocol === 'https:'}`)
  }
  // A secret's values cannot be bound as parameters; sqlString quotes them. TEMPORARY: never written to disk.
  await engine.run(`CREATE OR REPLACE TEMPORARY SECRET ${sqlIdentifier(`ecap_s3_${bucket}`)} (${options.join(', ')})`)
  attached.secrets.set(bucket, {accessKeyId: credentials.accessKeyId, expires})
}

/**
 * Loads DuckDB's httpfs extension: from the folder ECAP_DUCKDB_EXTENSIONS names when set (an offline site's copy,
 * e.g. unpacked from PyPI's `duckdb-extension-httpfs` wheel of the same DuckDB version), else DuckDB's own way
 * (installed once from its extension repository into ~/.duckdb/extensions, then loaded from there).
 */
async function loadHttpfs(engine: Engine): Promise<void> {
  const [[version]] = (await engine.columns('SELECT version()')) as [[string]]
  const folder = process.env[EXTENSIONS_ENV]
  if (folder) {
    const file = findExtension(folder, version)
    if (!file) {
      throw new UsageError(
        'HTTPFS_MISSING',
        `${EXTENSIONS_ENV}=${folder} holds no httpfs.duckdb_extension for DuckDB ${version}.`,
        {
          hints: [offlineHint(version)],
        },
      )
    }
    await engine.run(`LOAD ${sqlString(file)}`)
    return
  }
  try {
    await engine.run('LOAD httpfs')
    return
  } catch {
    // Not installed yet: DuckDB downloads it from its repository.
  }
  try {
    await engine.run('INSTALL httpfs')
    await engine.run('LOAD httpfs')
  } catch (error) {
    throw new UsageError(
      'HTTPFS_MISSING',
      `DuckDB ${version} needs its httpfs extension to read an S3 lake, and could not install it: ${(error as Error).message}`,
      {cause: error, hints: [offlineHint(version)]},
    )
  }
}

/** Where an extension folder may hold the file: flat, by version (as in a wheel), or by version and platform. */
function findExtension(folder: string, version: string): string | undefined {
  const candidates = [
    join(folder, 'httpfs.duckdb_extension'),
    join(folder, version, 'httpfs.duckdb_extension'),
    join(folder, version, 'linux_amd64', 'httpfs.duckdb_extension'),
    join(folder, 'duckdb_extension_httpfs', 'extensions', version, 'httpfs.duckdb_extension'),
  ]
  return candidates.find((file) => existsSync(file))
}

function offlineHint(version: string): string {
  const plain = version.replace(/^v/, '')
  return `Offline: pip download --no-deps duckdb-extension-httpfs==${plain}, unzip the wheel, and set ${EXTENSIONS_ENV} to its duckdb_extension_httpfs/extensions folder.`
}

/**
 * DuckDB's httpfs errors (an "IO Error" naming the URL) as the AWS SDK's are named (s3Failure): a store that stops
 * answering mid-query is retriable (exit 4), a refused request or a missing bucket the user's to fix (exit 2); anything
 * else passes unchanged.
 */
export function httpfsFailure(error: unknown): unknown {
  if (error instanceof EcapError || !(error instanceof Error)) return error
  const first = error.message.split('\n')[0] as string
  if (!first.startsWith('IO Error:') && !first.startsWith('HTTP Error:')) return error
  const url = /'(https?:\/\/[^']+|s3:\/\/[^']+)'/.exec(first)?.[1] ?? 'the lake'
  // DuckDB writes data files too (COPY): say which it was doing.
  const what = /\b(PUT|POST)\b/.test(first) ? 'write' : 'read'
  if (/NoSuchBucket/.test(error.message)) {
    return s3Failure(Object.assign(new Error(first), {name: 'NoSuchBucket'}), what, url)
  }
  if (/\b(403|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken)\b/.test(error.message)) {
    return s3Failure(Object.assign(new Error(first), {name: 'AccessDenied'}), what, url)
  }
  if (
    /Could not connect|Failed to connect|Server returned nothing|Connection (refused|reset|timed out|closed)|timed? ?out|HTTP (5\d\d|429)\b/i.test(
      first,
    )
  ) {
    return new S3UnavailableError(`Cannot ${what} ${url}: the store did not answer (${first}).`, error)
  }
  return error
}
