import {UsageError} from './lib/errors.js'
import type {KafkaConnectionOptions} from './lib/kafka/client.js'

/** Connection options from the parsed kafkaConnectionFlags and the resolved brokers setting. */
export function kafkaConnection(
  brokers: string,
  flags: {
    tls?: boolean
    'tls-ca'?: string
    'sasl-mechanism'?: 'plain' | 'scram-sha-256' | 'scram-sha-512'
    'sasl-username'?: string
    'sasl-password-file'?: string
  },
): KafkaConnectionOptions {
  const mechanism = flags['sasl-mechanism']
  if (mechanism && !flags['sasl-username']) {
    throw new UsageError('SASL_USERNAME_MISSING', `--sasl-mechanism ${mechanism} needs a user name.`, {
      hints: ['--sasl-username ecap', 'ECAP_KAFKA_USERNAME=ecap'],
    })
  }
  return {
    brokers,
    tls: flags.tls,
    tlsCaFile: flags['tls-ca'],
    sasl: mechanism
      ? {mechanism, username: flags['sasl-username'] as string, passwordFile: flags['sasl-password-file']}
      : undefined,
  }
}
