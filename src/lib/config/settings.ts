/** The SASL mechanisms ecap can authenticate with; every list of them (flags, prompts, validation) is this one. */
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const

/**
 * The settings a user can configure, each with its env var and default. Flags, env vars, `./ecap.config.json`
 * and the user config file all name settings by these keys; this table is the one place they are declared.
 */
export const SETTINGS = {
  lake: {
    env: 'ECAP_LAKE',
    default: './ecap-lake',
    description: 'The Delta lake ecap reads and writes: a folder, or s3://bucket/prefix (see docs/s3.md).',
  },
  brokers: {
    env: 'ECAP_BROKERS',
    default: 'localhost:9092',
    description: 'Kafka bootstrap brokers, comma-separated host:port.',
  },
  topic: {
    env: 'ECAP_TOPIC',
    default: 'ecap.events',
    description: 'Kafka topic that carries shop events.',
  },
  group: {
    env: 'ECAP_GROUP',
    default: 'ecap-ingest',
    description: 'Kafka consumer group of ecap ingest.',
  },
  tls: {
    env: 'ECAP_KAFKA_TLS',
    default: 'false',
    description: 'Connect to the brokers over TLS: true or false.',
    // Written as a JSON boolean in config files; "true"/"false" text is accepted too (env vars hold text).
    boolean: true,
  },
  'tls-ca': {
    env: 'ECAP_KAFKA_TLS_CA',
    default: '',
    description: "PEM file of the CA that signed the brokers' certificates (empty: the system's CAs).",
  },
  'sasl-mechanism': {
    env: 'ECAP_KAFKA_SASL_MECHANISM',
    default: '',
    description: `SASL mechanism: ${SASL_MECHANISMS.slice(0, -1).join(', ')} or ${SASL_MECHANISMS.at(-1)} (empty: no SASL).`,
  },
  'sasl-username': {
    env: 'ECAP_KAFKA_USERNAME',
    default: '',
    description: 'SASL user name.',
  },
  // Where the password is, never the password: config files get copied, committed and pasted into tickets.
  'sasl-password-env': {
    env: 'ECAP_KAFKA_PASSWORD_ENV',
    default: 'ECAP_KAFKA_PASSWORD',
    description: 'Name of the environment variable that holds the SASL password.',
  },
  'sasl-password-file': {
    env: 'ECAP_KAFKA_PASSWORD_FILE',
    default: '',
    description: 'File whose first line is the SASL password (takes precedence over the variable).',
  },
  engine: {
    env: 'ECAP_ENGINE',
    default: 'duckdb',
    description:
      'Where `ecap analyze` runs the scan-heavy extract of each analysis: duckdb (in process) or trino (see docs/trino.md).',
  },
  'trino-url': {
    env: 'ECAP_TRINO_URL',
    default: '',
    description: 'The Trino coordinator for --engine trino, e.g. http://127.0.0.1:8080 (https:// for TLS).',
  },
  'trino-catalog': {
    env: 'ECAP_TRINO_CATALOG',
    default: 'delta',
    description: 'The Trino catalog (a Delta Lake connector) that holds the events table.',
  },
  'trino-schema': {
    env: 'ECAP_TRINO_SCHEMA',
    default: 'ecap',
    description: 'The schema of that catalog that holds the events table.',
  },
  'trino-table': {
    env: 'ECAP_TRINO_TABLE',
    default: 'events',
    description: "The name the lake's events table is registered under in that schema.",
  },
  // The user and password come from TRINO_USER and TRINO_PASSWORD only, never from a setting (see trino/settings.ts).
  'trino-tls-ca': {
    env: 'ECAP_TRINO_TLS_CA',
    default: '',
    description: "PEM file of the CA that signed the Trino server's certificate (empty: the system's CAs).",
  },
} as const

export type SettingKey = keyof typeof SETTINGS

/** What a config file holds: each setting as text, or as a JSON boolean for a true/false setting. */
export type ConfigFileValues = Partial<Record<SettingKey, string | boolean>>

/** A true/false setting, which a config file may hold as a JSON boolean. */
export function isBooleanSetting(key: SettingKey): boolean {
  return 'boolean' in SETTINGS[key]
}
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[]

/** Where a resolved value came from, highest precedence first. */
export type ConfigSource = 'flag' | 'env' | 'project' | 'user' | 'default'
