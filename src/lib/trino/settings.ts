import {readFileSync} from 'node:fs'
import type {ResolvedConfig} from '../config/resolve.js'
import {UsageError} from '../errors.js'

/** Where ecap finds the Trino server and the lake's events table in it. */
export interface TrinoSettings {
  /** The coordinator, e.g. http://127.0.0.1:8080; https:// for TLS. */
  url: string
  catalog: string
  schema: string
  /** The name the events table is registered under in `catalog.schema`. */
  table: string
  /** TRINO_USER, else the login name, else `ecap`: Trino needs a user even without authentication. */
  user: string
  /** TRINO_PASSWORD, sent with HTTP basic authentication (Trino accepts it over https only). */
  password?: string
  /** PEM text of the CA that signed the server's certificate. */
  tlsCa?: string
}

/**
 * The Trino settings from resolved config (url, catalog, schema, table, TLS CA) and the environment (TRINO_USER,
 * TRINO_PASSWORD): secrets never come from a setting or a flag, where shell history, `ps` and config files keep them.
 */
export function trinoSettingsFromConfig(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): TrinoSettings {
  const url = config['trino-url'].value.trim()
  if (url === '') {
    throw new UsageError('TRINO_URL_MISSING', '--engine trino needs the Trino server: ECAP_TRINO_URL is not set.', {
      hints: [
        'export ECAP_TRINO_URL=http://127.0.0.1:8080',
        '"trino-url": "http://trino.internal:8080" in ecap.config.json',
        'npm run trino:dev   # a local Trino for trying it out',
      ],
    })
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    parsed = new URL('invalid:')
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError('TRINO_URL_INVALID', `ECAP_TRINO_URL ${url} is not an http:// or https:// address.`, {
      hints: ['export ECAP_TRINO_URL=http://127.0.0.1:8080'],
    })
  }
  if (parsed.username || parsed.password) {
    throw new UsageError('TRINO_URL_INVALID', 'ECAP_TRINO_URL may not hold a user or password.', {
      hints: ['export TRINO_USER=analyst TRINO_PASSWORD=...   # read from the environment only'],
    })
  }
  const password = env.TRINO_PASSWORD || undefined
  if (password && parsed.protocol !== 'https:') {
    throw new UsageError('TRINO_PASSWORD_OVER_HTTP', 'TRINO_PASSWORD is set but ECAP_TRINO_URL is http://.', {
      hints: ["Use the server's https:// address (Trino takes passwords over TLS only), or unset TRINO_PASSWORD."],
    })
  }
  const caFile = config['trino-tls-ca'].value
  let tlsCa: string | undefined
  if (caFile) {
    try {
      tlsCa = readFileSync(caFile, 'utf8')
    } catch (error) {
      throw new UsageError('TRINO_TLS_CA_UNREADABLE', `Cannot read the Trino CA file ${caFile}.`, {
        cause: error,
        hints: ['ECAP_TRINO_TLS_CA=/etc/ssl/certs/trino-ca.pem'],
      })
    }
  }
  return {
    url: url.replace(/\/+$/, ''),
    catalog: config['trino-catalog'].value,
    schema: config['trino-schema'].value,
    table: config['trino-table'].value,
    user: env.TRINO_USER || env.USER || 'ecap',
    password,
    tlsCa,
  }
}

/** Quotes a Trino identifier (catalog, schema, table, column). */
export function trinoIdentifier(name: string): string {
  if (name.includes('\u0000')) throw new UsageError('TRINO_NAME_INVALID', 'Trino names may not contain NUL characters')
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * A Trino string literal. Trino takes bound parameters only through PREPARE/EXECUTE, and not in CALL (`EXECUTE
 * IMMEDIATE 'CALL ...' USING ...` fails: "expected 0 parameters"), so procedure arguments are literals: quotes doubled,
 * and a NUL, which no name or path holds, refused.
 */
export function trinoString(text: string): string {
  if (text.includes('\u0000'))
    throw new UsageError('TRINO_NAME_INVALID', 'Trino strings may not contain NUL characters')
  return `'${text.replaceAll("'", "''")}'`
}

/** The events table's full name, quoted: "catalog"."schema"."table". */
export function eventsTableName(settings: TrinoSettings): string {
  return [settings.catalog, settings.schema, settings.table].map(trinoIdentifier).join('.')
}
