import {readFileSync} from 'node:fs'
import {Kafka, type KafkaConfig, type logCreator, logLevel, type SASLOptions} from 'kafkajs'
import type {SASL_MECHANISMS} from '../config/settings.js'
import {EcapError, UnavailableError, UsageError} from '../errors.js'
import {registerCodecs} from './codecs.js'

export type SaslMechanism = (typeof SASL_MECHANISMS)[number]

/** How to reach a cluster. Secrets come from the environment or a file, never from a command-line flag. */
export interface KafkaConnectionOptions {
  /** Comma-separated host:port list. */
  brokers: string
  clientId?: string
  tls?: boolean
  /** PEM file of the CA that signed the brokers' certificates. */
  tlsCaFile?: string
  sasl?: {
    mechanism: SaslMechanism
    username: string
    /** Read from this file (first line), else from the environment variable passwordEnv. */
    passwordFile?: string
    /** Name of the environment variable that holds the password. [default: ECAP_KAFKA_PASSWORD] */
    passwordEnv?: string
  }
  /** Retries of a failing request before giving up (kafkajs backs off exponentially). */
  retries?: number
  connectionTimeoutMs?: number
}

/**
 * kafkajs logs through console by default, which would mix with data on stdout, and it logs every retried request.
 * ecap reports failures through its own errors, so kafkajs speaks (on stderr) only with ECAP_DEBUG=1.
 */
const stderrLogger: logCreator =
  () =>
  ({level, log}) => {
    if (process.env.ECAP_DEBUG === '1' && level <= logLevel.INFO) {
      process.stderr.write(`kafka: ${log.message}${log.error ? ` (${log.error})` : ''}\n`)
    }
  }

export function parseBrokers(brokers: string): string[] {
  const list = brokers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '')
  if (list.length === 0 || list.some((b) => !/^[^\s:]+:\d+$/.test(b))) {
    throw new UsageError('INVALID_BROKERS', `"${brokers}" is not a list of host:port brokers.`, {
      hints: ['--brokers localhost:9092', 'ECAP_BROKERS=kafka-1:9092,kafka-2:9092'],
    })
  }
  return list
}

function password(options: NonNullable<KafkaConnectionOptions['sasl']>, env: NodeJS.ProcessEnv): string {
  if (options.passwordFile) {
    try {
      return (readFileSync(options.passwordFile, 'utf8').split('\n')[0] ?? '').trim()
    } catch (error) {
      throw new UsageError('PASSWORD_FILE_UNREADABLE', `Cannot read --sasl-password-file ${options.passwordFile}.`, {
        cause: error,
      })
    }
  }
  const name = options.passwordEnv || 'ECAP_KAFKA_PASSWORD'
  const fromEnv = env[name]
  if (!fromEnv) {
    throw new UsageError('SASL_PASSWORD_MISSING', `SASL needs a password, and ${name} is not set.`, {
      hints: [`${name}=... in the environment`, '--sasl-password-file /run/secrets/kafka'],
    })
  }
  return fromEnv
}

function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new UsageError('TLS_CA_UNREADABLE', `Cannot read the TLS CA file ${path}: ${(error as Error).message}`, {
      cause: error,
      hints: ['--tls-ca /etc/ssl/kafka-ca.pem (a PEM file)', 'Leave tls-ca empty to trust the system CAs.'],
    })
  }
}

/**
 * How ingest fetches. kafkajs decodes a whole fetch response (every message an object over the decompressed record
 * batches) before the handler sees any of it, so the response size bounds that memory: 1 MiB of a gzip-compressed
 * topic is about 10,000 messages (a bare consumer peaks at ~180 MB RSS, ~250 MB with 2 MiB and ~380 MB with kafkajs's
 * default 10 MiB, at the same messages/s). A fetch waits at most `maxWaitTimeInMs` for data, so a stop (SIGINT,
 * caught up) never waits kafkajs's default 5 s.
 */
export const INGEST_FETCH = {maxBytes: 1 << 20, maxBytesPerPartition: 512 << 10, maxWaitTimeInMs: 1000} as const

/**
 * A kafkajs client for the given connection, with bounded retries, logs on stderr, and every Kafka codec. The rest of
 * ecap reaches it through kafkaClient (kafkajs-client.ts) and ecap's own types; tests may use it directly.
 */
export function createKafka(options: KafkaConnectionOptions, env: NodeJS.ProcessEnv = process.env): Kafka {
  registerCodecs()
  const config: KafkaConfig = {
    clientId: options.clientId ?? 'ecap',
    brokers: parseBrokers(options.brokers),
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    retry: {retries: options.retries ?? 5, initialRetryTime: 300, maxRetryTime: 5000},
    logCreator: stderrLogger,
    logLevel: logLevel.WARN,
  }
  if (options.tls || options.tlsCaFile) {
    config.ssl = options.tlsCaFile ? {ca: [readCaFile(options.tlsCaFile)]} : true
  }
  if (options.sasl) {
    config.sasl = {
      mechanism: options.sasl.mechanism,
      username: options.sasl.username,
      password: password(options.sasl, env),
    } as SASLOptions
  }
  return new Kafka(config)
}

/** Kafka's error types for a produce request whose record batch exceeds what the topic or broker accepts. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE'])

/**
 * Turns a kafkajs failure to reach the cluster into exit 4 with what to check, so cron retries later; refused
 * credentials and a batch too large for the topic are configuration mistakes that no retry fixes, and exit 2 instead.
 */
export function unavailable(error: unknown, brokers: string): EcapError {
  // A codec that failed on the topic's bytes said what is wrong, and no retry reads other bytes.
  const ecapError = causes(error).find((e) => e instanceof EcapError)
  if (ecapError) return ecapError as EcapError
  const notImplemented = causes(error).find((e) => (e as {name?: string}).name === 'KafkaJSNotImplemented')
  if (notImplemented) {
    return new UsageError(
      'KAFKA_UNSUPPORTED',
      `Kafka at ${brokers} sent something this ecap cannot read: ${(notImplemented as Error).message}`,
      {
        cause: error,
        hints: [
          'ecap reads record batches compressed with gzip, snappy, lz4 and zstd: upgrade ecap if it is older.',
          'Or have the producer (or the topic, compression.type) use one of those.',
        ],
      },
    )
  }
  const tooLarge = causes(error).find((e) => TOO_LARGE.has(String((e as {type?: unknown}).type)))
  if (tooLarge) {
    // Not a broker that is down: the topic refuses record batches this large, and a retry sends the same batch.
    return new UsageError(
      'KAFKA_MESSAGE_TOO_LARGE',
      `Kafka at ${brokers} refused a record batch as too large for the topic: ${(tooLarge as Error).message}`,
      {
        cause: error,
        hints: [
          "Raise the topic's max.message.bytes (kafka-configs.sh --alter --entity-type topics --add-config max.message.bytes=1048588), or the broker's message.max.bytes.",
          'Or compress the batches: --compression gzip (the default).',
        ],
      },
    )
  }
  if (isAuthenticationFailure(error)) {
    return new UsageError(
      'KAFKA_AUTH_FAILED',
      `Kafka at ${brokers} refused the credentials: ${(error as Error).message}`,
      {
        cause: error,
        hints: [
          'Check --sasl-username (or ECAP_KAFKA_USERNAME) and the password in ECAP_KAFKA_PASSWORD or --sasl-password-file.',
          'Check --sasl-mechanism matches what the brokers accept.',
        ],
      },
    )
  }
  return new UnavailableError(
    'KAFKA_UNAVAILABLE',
    `Kafka at ${brokers} is not reachable: ${(error as Error).message}`,
    {
      cause: error,
      hints: [
        'Check --brokers (or ECAP_BROKERS) and that the brokers are up.',
        'For a local broker: npm run kafka:dev',
      ],
    },
  )
}

/** kafkajs reports refused SASL credentials as its own error type, sometimes wrapped in a retry error. */
function isAuthenticationFailure(error: unknown): boolean {
  return causes(error).some((e) => (e as {name?: string}).name === 'KafkaJSSASLAuthenticationError')
}

/** The error and what it wraps: kafkajs keeps the error a retry gave up on in `originalError`, others in `cause`. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e = error as {originalError?: unknown; cause?: unknown} | undefined; e && chain.length < 16; ) {
    chain.push(e)
    e = (e.originalError ?? e.cause) as typeof e
  }
  return chain
}
