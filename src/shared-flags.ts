import {Flags} from '@oclif/core'
import {SETTINGS, type SettingKey} from './lib/config/settings.js'
import {UsageError} from './lib/errors.js'

/**
 * Flags for configurable settings. They carry no oclif `env` or `default`: ecap resolves env vars, config files and
 * defaults itself (lib/config) so it can tell where each value came from. The help text names the env var.
 */
function settingFlag(key: SettingKey, extra: {char?: 'b' | 'l' | 't'} = {}) {
  const setting = SETTINGS[key]
  return Flags.string({
    ...extra,
    description: `${setting.description} [env: ${setting.env}] [default: ${setting.default}]`,
    helpGroup: 'CONFIG',
  })
}

export const lakeFlag = settingFlag('lake')
export const brokersFlag = settingFlag('brokers')
export const topicFlag = settingFlag('topic')

/** Connection flags of every command that talks to Kafka. Passwords come from ECAP_KAFKA_PASSWORD or a file only. */
export const kafkaConnectionFlags = {
  brokers: brokersFlag,
  tls: Flags.boolean({description: 'Connect to the brokers over TLS.', helpGroup: 'KAFKA'}),
  'tls-ca': Flags.file({
    exists: true,
    description: 'PEM file of the CA that signed the brokers’ certificates.',
    helpGroup: 'KAFKA',
  }),
  'sasl-mechanism': Flags.option({
    options: ['plain', 'scram-sha-256', 'scram-sha-512'] as const,
    description: 'SASL mechanism; the password comes from ECAP_KAFKA_PASSWORD or --sasl-password-file.',
    helpGroup: 'KAFKA',
  })(),
  'sasl-username': Flags.string({env: 'ECAP_KAFKA_USERNAME', description: 'SASL user name.', helpGroup: 'KAFKA'}),
  'sasl-password-file': Flags.file({
    exists: true,
    description: 'File whose first line is the SASL password.',
    helpGroup: 'KAFKA',
  }),
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
