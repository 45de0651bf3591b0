import {Flags} from '@oclif/core'
import {parseDuration} from './lib/config/duration.js'
import {SASL_MECHANISMS, SETTINGS, type SettingKey} from './lib/config/settings.js'
import {UsageError} from './lib/errors.js'
import {EXTRACT_ENGINES} from './lib/shop/extract-source.js'

/**
 * Flags for configurable settings. They carry no oclif `env` or `default`: ecap resolves env vars, config files and
 * defaults itself (lib/config) so it can tell where each value came from. The help text names the env var.
 */
function settingFlag(key: SettingKey, helpGroup: 'CONFIG' | 'KAFKA' = 'CONFIG') {
  const setting = SETTINGS[key]
  const fallback = setting.default === '' ? '' : ` [default: ${setting.default}]`
  return Flags.string({
    description: `${setting.description} [env: ${setting.env}]${fallback}`,
    helpGroup,
  })
}

export const lakeFlag = settingFlag('lake')

/** Where the extract step of an analysis runs; the Trino server and table are settings (ECAP_TRINO_*), see docs/trino.md. */
export const engineFlag = Flags.option({
  options: EXTRACT_ENGINES,
  description: `${SETTINGS.engine.description} [env: ${SETTINGS.engine.env}] [default: ${SETTINGS.engine.default}]`,
})()
/** The name the lake's events table has in Trino's catalog.schema (`ecap lake register`, `ecap doctor`). */
export const trinoTableFlag = settingFlag('trino-table')
export const brokersFlag = settingFlag('brokers')
export const topicFlag = settingFlag('topic')

export const groupFlag = settingFlag('group')

/**
 * Connection flags of every command that talks to Kafka. Each is a setting (flag > env > config file > default), so a
 * cluster described once in `ecap.config.json` serves every command. Passwords come from a variable or a file only.
 */
export const kafkaConnectionFlags = {
  brokers: brokersFlag,
  tls: Flags.boolean({
    allowNo: true,
    description: `${SETTINGS.tls.description} [env: ${SETTINGS.tls.env}]`,
    helpGroup: 'KAFKA',
  }),
  'tls-ca': settingFlag('tls-ca', 'KAFKA'),
  'sasl-mechanism': Flags.option({
    options: [...SASL_MECHANISMS, 'none'] as const,
    description: `${SETTINGS['sasl-mechanism'].description} [env: ${SETTINGS['sasl-mechanism'].env}]`,
    helpGroup: 'KAFKA',
  })(),
  'sasl-username': settingFlag('sasl-username', 'KAFKA'),
  'sasl-password-env': settingFlag('sasl-password-env', 'KAFKA'),
  'sasl-password-file': settingFlag('sasl-password-file', 'KAFKA'),
}

type KafkaConnectionFlagValues = {
  brokers?: string
  tls?: boolean
  'tls-ca'?: string
  'sasl-mechanism'?: string
  'sasl-username'?: string
  'sasl-password-env'?: string
  'sasl-password-file'?: string
}

/** The Kafka settings given as flags, for EcapCommand.resolveConfig (undefined: not given, look further). */
export function kafkaSettingsFromFlags(
  flags: KafkaConnectionFlagValues,
): Partial<Record<SettingKey, string | undefined>> {
  return {
    brokers: flags.brokers,
    tls: flags.tls === undefined ? undefined : String(flags.tls),
    'tls-ca': flags['tls-ca'],
    'sasl-mechanism': flags['sasl-mechanism'],
    'sasl-username': flags['sasl-username'],
    'sasl-password-env': flags['sasl-password-env'],
    'sasl-password-file': flags['sasl-password-file'],
  }
}

/** "Today" of an analysis: events after the end of this UTC day are ignored, so reruns are reproducible. */
export const asOfFlag = Flags.string({
  description: 'Analyse the shop as it was at the end of this UTC day (YYYY-MM-DD). [default: day of the latest event]',
})

/** A decimal-number flag (oclif has integer flags only); the parser rejects what is not a finite number. */
export const number = Flags.custom<number>({
  parse: async (input, _context, opts) => {
    const value = Number(input)
    if (input.trim() === '' || !Number.isFinite(value)) {
      throw new UsageError('INVALID_NUMBER', `--${opts.name} expects a number, got "${input}".`, {
        hints: [`--${opts.name} ${opts.default ?? 1}`],
      })
    }
    return value
  },
})

const durationType = Flags.custom<number, {tryValues: string[]}>({
  parse: async (input, _context, opts) =>
    parseDuration(
      input,
      opts.tryValues.map((value) => `--${opts.name} ${value}`),
    ),
})

/**
 * A duration flag (7d, 24h, 30m, 90s, 0.5s; a bare number is seconds) whose value is milliseconds, so the parser
 * rejects a bad one (exit 2) before the command starts. The default is written as a person would, and --help shows
 * it so; `tryValues` are the values a usage error suggests.
 */
export function duration(options: {default: string; description: string; tryValues: string[]}) {
  return durationType({
    description: options.description,
    tryValues: options.tryValues,
    default: parseDuration(options.default),
    defaultHelp: async () => options.default,
  })
}
