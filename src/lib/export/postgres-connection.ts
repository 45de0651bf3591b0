import pg from 'pg'
import {type EcapError, UnavailableError, UsageError} from '../errors.js'

/** The variable a postgres:// URL is read from when no `--url-env` names another. */
export const DEFAULT_URL_ENV = 'ECAP_PG_URL'

/** Seconds to wait for the server to answer before giving up, unless PGCONNECT_TIMEOUT says otherwise. */
const CONNECT_TIMEOUT_S = 10

export interface PgConnectionOptions {
  /** A variable holding a postgres:// URL; without it ECAP_PG_URL if set, else libpq's PG* variables alone. */
  urlEnv?: string
  env?: NodeJS.ProcessEnv
}

/** Where ecap connects, for messages: never the password. */
export interface PgTarget {
  host: string
  port: number
  user: string
  database: string
  /** Where the settings came from: `PG* variables` or the URL's variable name. */
  source: string
}

/**
 * The client settings: a URL from an environment variable (so a password never sits in argv, shell history or `ps`),
 * with libpq's PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...) filling what it leaves
 * out, as `pg` itself reads them; or those variables alone. ~/.pgpass is read by `pg` when no password is given.
 */
export function pgClientConfig(options: PgConnectionOptions = {}): {config: pg.ClientConfig; target: PgTarget} {
  const env = options.env ?? process.env
  const name = options.urlEnv ?? (env[DEFAULT_URL_ENV] ? DEFAULT_URL_ENV : undefined)
  let connectionString: string | undefined
  if (name !== undefined) {
    connectionString = env[name]
    if (!connectionString) {
      throw new UsageError('PG_URL_MISSING', `--url-env ${name}: the variable ${name} is not set.`, {
        hints: [
          `export ${name}='postgres://user@host:5432/db' (the password in PGPASSWORD or ~/.pgpass)`,
          'Or leave out --url-env and set PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.',
        ],
      })
    }
    if (!/^postgres(ql)?:\/\//.test(connectionString)) {
      throw new UsageError('PG_URL_INVALID', `${name} does not hold a postgres:// URL.`, {
        hints: [`export ${name}='postgres://user@host:5432/db'`],
      })
    }
    // A `/`, `?` or `#` typed into the password ends the URL's user-and-host part early: the rest of the password
    // would become the host, port or database that every message names. An `@` after that part gives it away.
    const authorityEnd = connectionString.slice(connectionString.indexOf('//') + 2).search(/[/?#]/)
    if (authorityEnd >= 0 && connectionString.indexOf('@', connectionString.indexOf('//') + 2 + authorityEnd) >= 0) {
      throw urlInvalid(name)
    }
  }
  const timeout = Number(env.PGCONNECT_TIMEOUT)
  const config: pg.ClientConfig = {
    connectionString,
    application_name: env.PGAPPNAME ?? 'ecap export',
    connectionTimeoutMillis: (Number.isFinite(timeout) && timeout > 0 ? timeout : CONNECT_TIMEOUT_S) * 1000,
  }
  // The parameters pg resolved from the URL and the PG* variables (not part of its typings).
  let parameters: {host: string; port: number; user: string; database: string}
  try {
    parameters = (
      new pg.Client(config) as unknown as {
        connectionParameters: {host: string; port: number; user: string; database: string}
      }
    ).connectionParameters
  } catch (error) {
    // Node's URL parser refused it; its error carries the whole URL, password included, so it goes no further.
    if (name !== undefined && (error as {code?: string}).code === 'ERR_INVALID_URL') throw urlInvalid(name)
    throw error
  }
  return {
    config,
    target: {
      host: parameters.host,
      port: parameters.port,
      user: parameters.user,
      database: parameters.database,
      source: name ?? 'PG* variables',
    },
  }
}

/** A URL that does not read as one: never quoted back, since the password may be in it. */
function urlInvalid(name: string): UsageError {
  return new UsageError(
    'PG_URL_INVALID',
    `${name} holds a postgres:// URL that cannot be read: a character such as /, ?, # or @ in the user name or password must be percent-encoded.`,
    {
      hints: [
        `export ${name}='postgres://user@host:5432/db' and the password in PGPASSWORD or ~/.pgpass`,
        'Or percent-encode it in the URL: / as %2F, ? as %3F, # as %23, @ as %40.',
      ],
    },
  )
}

/** `user@host:port/database`, the way a message names the server. */
export function describeTarget(target: PgTarget): string {
  return `${target.user}@${target.host}:${target.port}/${target.database}`
}

/** Connects, turning what can go wrong on the way into errors that say what to change. */
export async function connectPg(options: PgConnectionOptions = {}): Promise<{client: pg.Client; target: PgTarget}> {
  const {config, target} = pgClientConfig(options)
  const client = new pg.Client(config)
  // An 'error' event without a listener (the server went away between queries) would crash the process; the failing
  // query reports it instead.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw pgConnectError(error, target)
  }
  return {client, target}
}

const CONNECTION_HINTS = (target: PgTarget) => [
  `pg_isready -h ${target.host} -p ${target.port}`,
  target.source === 'PG* variables'
    ? 'Set PGHOST and PGPORT (or ECAP_PG_URL, or --url-env NAME) to where the server runs.'
    : `Check the host and port of the URL in ${target.source}.`,
]

/** What a failed connect means for the user; the password is never part of it. */
export function pgConnectError(error: unknown, target: PgTarget): EcapError {
  const where = describeTarget(target)
  const code = (error as {code?: string}).code
  const message = error instanceof Error ? error.message : String(error)
  if (code === '28P01' || code === '28000' || /password|SASL|SCRAM/i.test(message)) {
    return new UnavailableError(
      'PG_AUTH_FAILED',
      `PostgreSQL at ${where} refused the login: ${code === undefined ? 'the server asks for a password and none was given' : message}.`,
      {
        cause: error,
        hints: [
          'Set PGPASSWORD (or a line in ~/.pgpass) to the password of that user; never put it in a flag.',
          'Set PGUSER to a user the server knows.',
        ],
      },
    )
  }
  if (code === '3D000') {
    return new UsageError('PG_DATABASE_MISSING', `PostgreSQL at ${where}: ${message}.`, {
      cause: error,
      hints: [`createdb -h ${target.host} -p ${target.port} ${target.database}`, 'Set PGDATABASE to an existing one.'],
    })
  }
  if (
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'].includes(
      code ?? '',
    ) ||
    /timeout|terminated/i.test(message)
  ) {
    const why =
      code === 'ECONNREFUSED'
        ? 'nothing listens there (connection refused)'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `the host ${target.host} is unknown`
          : `no answer (${code ?? message})`
    return new UnavailableError('PG_UNREACHABLE', `Cannot reach PostgreSQL at ${where}: ${why}.`, {
      cause: error,
      hints: CONNECTION_HINTS(target),
    })
  }
  return new UnavailableError('PG_CONNECT_FAILED', `Cannot connect to PostgreSQL at ${where}: ${message}.`, {
    cause: error,
    hints: CONNECTION_HINTS(target),
  })
}
