/**
 * The settings a user can configure, each with its env var and default. Flags, env vars, `./ecap.config.json`
 * and the user config file all name settings by these keys; this table is the one place they are declared.
 */
export const SETTINGS = {
  lake: {
    env: 'ECAP_LAKE',
    default: './ecap-lake',
    description: 'Folder of the Delta lake that ecap reads and writes.',
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
} as const

export type SettingKey = keyof typeof SETTINGS
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[]

/** Where a resolved value came from, highest precedence first. */
export type ConfigSource = 'flag' | 'env' | 'project' | 'user' | 'default'
