import type {S3Client} from '@aws-sdk/client-s3'
import {UnavailableError, UsageError} from '../errors.js'

/**
 * The S3 connection settings, all from the standard AWS variables and chain, never from flags (a flag value ends up in
 * shell history and `ps`): credentials from the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
 * AWS_SESSION_TOKEN, AWS_PROFILE and ~/.aws, SSO, web identity, instance and container roles), the region from
 * AWS_REGION (or AWS_DEFAULT_REGION, or the profile), the endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for
 * S3-compatible stores. The variable names and meanings are delta-rs's too, so one environment serves both.
 */
export interface S3Settings {
  /** A custom endpoint (MinIO, Ceph, R2, a local test server), or undefined for AWS itself. */
  endpoint?: URL
  /** Path-style addressing (`endpoint/bucket/key`): what S3-compatible stores need; AWS takes virtual-hosted style. */
  pathStyle: boolean
  /** Undefined when the profile is to say. */
  region?: string
}

/** The region AWS's SDKs assume when nothing names one; the profile is consulted first when AWS_PROFILE is set. */
const FALLBACK_REGION = 'us-east-1'

export function s3Settings(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const endpointText = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined
  let endpoint: URL | undefined
  if (endpointText !== undefined) {
    try {
      endpoint = new URL(endpointText)
    } catch {
      throw new UsageError('S3_ENDPOINT_INVALID', `AWS_ENDPOINT_URL=${endpointText} is not a URL.`, {
        hints: ['AWS_ENDPOINT_URL=https://minio.example.com:9000'],
      })
    }
    if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') {
      throw new UsageError('S3_ENDPOINT_INVALID', `AWS_ENDPOINT_URL=${endpointText} must be an http(s) URL.`, {
        hints: ['AWS_ENDPOINT_URL=https://minio.example.com:9000'],
      })
    }
    // Plain HTTP sends every request (and the data) unencrypted: only where the user says so, as delta-rs asks.
    if (endpoint.protocol === 'http:' && !isTrue(env.AWS_ALLOW_HTTP)) {
      throw new UsageError(
        'S3_HTTP_NOT_ALLOWED',
        `The S3 endpoint ${endpointText} is plain HTTP, which ecap only uses when AWS_ALLOW_HTTP=true.`,
        {hints: ['AWS_ALLOW_HTTP=true (a store on loopback or a network you trust)', 'An https:// endpoint']},
      )
    }
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (env.AWS_PROFILE ? undefined : FALLBACK_REGION)
  const virtualHosted = env.AWS_VIRTUAL_HOSTED_STYLE_REQUEST
  const pathStyle =
    virtualHosted === undefined || virtualHosted === '' ? endpoint !== undefined : !isTrue(virtualHosted)
  return {endpoint, pathStyle, region}
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['true', '1', 'yes'].includes(value.toLowerCase())
}

/**
 * The store did not answer, or answered with a server error: retriable (exit 4). A class of its own because a writer
 * that retries lost races (another writer committed first) must not retry this one as if it were a race.
 */
export class S3UnavailableError extends UnavailableError {
  constructor(message: string, cause: unknown, hints?: string[], code = 'S3_UNAVAILABLE') {
    super(code, message, {
      cause,
      hints: hints ?? ['Check AWS_ENDPOINT_URL and the network, then run the command again.'],
    })
    this.name = 'S3UnavailableError'
  }
}

/** Attempts per request (the first and retries, with the SDK's jittered backoff): bounded, so a dead store fails. */
const MAX_ATTEMPTS = 5

let cached: {key: string; client: S3Client} | undefined

/** The AWS SDK, loaded on first use: a third of a second at start-up that commands on a local lake never pay. */
export type S3Sdk = typeof import('@aws-sdk/client-s3')
let sdk: S3Sdk | undefined
export async function loadS3Sdk(): Promise<S3Sdk> {
  sdk ??= await import('@aws-sdk/client-s3')
  return sdk
}

/** The process's S3 client for the current settings (one connection pool, shared by every table). */
export async function s3Client(settings: S3Settings = s3Settings()): Promise<S3Client> {
  const key = JSON.stringify({...settings, endpoint: settings.endpoint?.href})
  if (cached?.key === key) return cached.client
  // The SDK warns on Node 20 that its releases from 2027 on need Node 22; ecap pins a release that runs on Node 20,
  // so the notice is for ecap's maintainers (see the Node support notes), not for a user running a command.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const {S3Client} = await loadS3Sdk()
  const client = new S3Client({
    endpoint: settings.endpoint?.href,
    forcePathStyle: settings.pathStyle,
    region: settings.region,
    maxAttempts: MAX_ATTEMPTS,
    // A store that accepts the connection and then hangs must not hang ecap: each attempt has a deadline.
    requestHandler: {connectionTimeout: 5_000, requestTimeout: 60_000},
  })
  cached = {key, client}
  return client
}

/** The HTTP status and error name of an SDK error, when it has them. */
export function s3ErrorKind(error: unknown): {status?: number; name: string} {
  const e = error as {name?: string; Code?: string; $metadata?: {httpStatusCode?: number}}
  return {status: e?.$metadata?.httpStatusCode, name: e?.Code ?? e?.name ?? ''}
}

/** Whether the store said the key is not there. */
export function isNotFound(error: unknown): boolean {
  const {status, name} = s3ErrorKind(error)
  return name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket')
}

/**
 * Whether a failed conditional write leaves its outcome to be found out: the name was taken (412: by whom?), another
 * conditional write to it is in flight (409 ConditionalRequestConflict: perhaps our own earlier attempt), or the store
 * did not answer clearly (no status: a timeout or cut connection; 408, 429, 5xx: it may have acted all the same).
 */
export function isUnclearWrite(error: unknown): boolean {
  const {status, name} = s3ErrorKind(error)
  return (
    status === undefined ||
    status === 408 ||
    status === 409 ||
    status === 412 ||
    status === 429 ||
    status >= 500 ||
    name === 'PreconditionFailed' ||
    name === 'ConditionalRequestConflict' ||
    isNetworkError(error)
  )
}

/**
 * A commit whose conditional PUT neither clearly landed nor clearly lost, after retries: it may be in the table.
 * Exit 4 like an unreachable store, but the hint differs: running the same write again may write it twice.
 */
export class S3CommitUnknownError extends S3UnavailableError {
  constructor(location: string, cause: unknown) {
    super(
      `Cannot tell whether the commit ${location} landed: the store did not answer clearly (${(cause as Error)?.message ?? cause}). It may be in the table; its data files are kept.`,
      cause,
      [
        'Run ecap lake status (or ecap query) once the store answers, to see whether this version is there.',
        'ecap ingest and ecap import find out by themselves when run again; a generate run that did land would be written twice by running it again.',
      ],
      'S3_COMMIT_UNKNOWN',
    )
    this.name = 'S3CommitUnknownError'
  }
}

/**
 * The error a user sees for a failed S3 call: a missing bucket or refused credentials are the user's to fix (exit 2),
 * an unreachable or failing store may pass (exit 4); anything else is passed on as it is.
 */
export function s3Failure(error: unknown, what: string, location: string): unknown {
  if (error instanceof UsageError || error instanceof UnavailableError) return error
  const {status, name} = s3ErrorKind(error)
  const detail = (error as Error)?.message ?? String(error)
  if (name === 'NoSuchBucket' || (status === 404 && what === 'check the bucket of')) {
    return new UsageError('S3_BUCKET_MISSING', `Cannot ${what} ${location}: the bucket does not exist.`, {
      cause: error,
      hints: [`Create it (aws s3 mb ${location.split('/').slice(0, 3).join('/')}) or point --lake at one that exists.`],
    })
  }
  if (
    name === 'CredentialsProviderError' ||
    name === 'InvalidAccessKeyId' ||
    name === 'SignatureDoesNotMatch' ||
    name === 'ExpiredToken' ||
    name === 'AccessDenied' ||
    status === 401 ||
    status === 403
  ) {
    return new UsageError(
      'S3_ACCESS_DENIED',
      `Cannot ${what} ${location}: the store refused the credentials (${detail}).`,
      {
        cause: error,
        hints: [
          'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE, for a principal that may read and write the lake.',
        ],
      },
    )
  }
  if (status === undefined || status >= 500 || status === 429 || isNetworkError(error)) {
    return new S3UnavailableError(`Cannot ${what} ${location}: the store did not answer (${detail}).`, error)
  }
  return error
}

/** Whether a request failed before any connection was made (nothing can have reached the store). */
export function isUnconnected(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code ?? ''
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(code)
}

function isNetworkError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code ?? ''
  const name = (error as Error)?.name ?? ''
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(code) ||
    name === 'TimeoutError' ||
    name === 'RequestTimeout'
  )
}
