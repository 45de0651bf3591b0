import type {ResolvedConfig} from '../config/resolve.js'
import {SASL_MECHANISMS} from '../config/settings.js'
import {UsageError} from '../errors.js'
import type {KafkaConnectionOptions, SaslMechanism} from './client.js'

/** Parses a boolean setting written as text (config files and env vars hold strings). */
export function parseBooleanSetting(key: string, value: string): boolean {
  const text = value.trim().toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(text)) return true
  if (['false', 'no', '0', 'off', ''].includes(text)) return false
  throw new UsageError('INVALID_SETTING', `Setting "${key}" must be true or false, got "${value}".`, {
    hints: [`"${key}": "true"`, `"${key}": "false"`],
  })
}

/**
 * Builds Kafka connection options from resolved settings (brokers, tls, tls-ca, sasl-*), whichever of flags, env
 * vars and config files they came from: how every command that talks to Kafka reaches the cluster. createKafka reads
 * the password from the file or the environment variable the settings name; it is never in a setting itself. A
 * missing password is reported here, before any connection is tried.
 */
export function connectionFromConfig(
  config: ResolvedConfig,
  env: NodeJS.ProcessEnv = process.env,
): KafkaConnectionOptions {
  const mechanism = config['sasl-mechanism'].value.trim().toLowerCase()
  const connection: KafkaConnectionOptions = {
    brokers: config.brokers.value,
    tls: parseBooleanSetting('tls', config.tls.value),
    tlsCaFile: config['tls-ca'].value || undefined,
  }
  if (mechanism === '' || mechanism === 'none') return connection
  if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new UsageError('INVALID_SETTING', `Setting "sasl-mechanism" must be one of ${SASL_MECHANISMS.join(', ')}.`, {
      hints: [
        '--sasl-mechanism scram-sha-512',
        'ECAP_KAFKA_SASL_MECHANISM=plain',
        '"sasl-mechanism": "plain" in ecap.config.json',
      ],
    })
  }
  const username = config['sasl-username'].value
  if (username === '') {
    throw new UsageError('SASL_USERNAME_MISSING', `sasl-mechanism ${mechanism} needs a user name.`, {
      hints: ['--sasl-username ecap', 'ECAP_KAFKA_USERNAME=ecap', '"sasl-username": "ecap" in ecap.config.json'],
    })
  }
  const passwordFile = config['sasl-password-file'].value || undefined
  const passwordEnv = config['sasl-password-env'].value || 'ECAP_KAFKA_PASSWORD'
  if (!passwordFile && !env[passwordEnv]) {
    throw new UsageError('SASL_PASSWORD_MISSING', `SASL needs a password, and ${passwordEnv} is not set.`, {
      hints: [`${passwordEnv}=... in the environment`, '--sasl-password-file /run/secrets/kafka'],
    })
  }
  connection.sasl = {mechanism: mechanism as SaslMechanism, username, passwordFile, passwordEnv}
  return connection
}
