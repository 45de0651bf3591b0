import {randomBytes} from 'node:crypto'
import {Kafka, type KafkaConfig, logLevel} from 'kafkajs'
import {inject} from 'vitest'

/** The SASL/PLAIN listener of the test broker and the account it accepts. */
export interface TestSasl {
  brokers: string
  username: string
  password: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap address of the real Kafka broker that test/global-setup.ts started for this run. */
    kafkaBrokers: string
    /** Its SASL/PLAIN listener; absent when the run uses a broker started elsewhere (ECAP_TEST_BROKERS). */
    kafkaSasl: TestSasl | null
  }
}

/** The test broker's bootstrap address (`127.0.0.1:<port>`). */
export function testBrokers(): string {
  return inject('kafkaBrokers')
}

/** A kafkajs client of the test broker, quiet unless a test asks for logs. */
export function testKafka(config: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({clientId: 'ecap-test', brokers: [testBrokers()], logLevel: logLevel.NOTHING, ...config})
}

/** A topic or group name no other test (or earlier run against the same broker) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}
