import {randomBytes} from 'node:crypto'
import type {TestProject} from 'vitest/node'
import {type LocalBroker, startLocalBroker} from '../src/lib/kafka/local-broker.js'
import {ensurePythonTools} from './helpers/python.js'
import {type S3Server, startS3Server} from './helpers/s3.js'

const SASL_USER = 'ecap-test'

/**
 * Starts or installs what the integration tests need before any test runs: the Python tools, and one real Kafka broker
 * for the whole run (tests inject its address as `kafkaBrokers`; spawned `ecap` processes see ECAP_TEST_BROKERS).
 * Set ECAP_TEST_BROKERS yourself to run the tests against a broker you started, e.g. with `npm run kafka:dev`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensurePythonTools()
  // One S3-compatible server for the run; each test makes buckets of its own. Its variables (endpoint, test
  // credentials, the httpfs extension folder) go into the environment every test and spawned ecap inherits.
  const s3: S3Server = await startS3Server()
  Object.assign(process.env, s3.env)

  const external = process.env.ECAP_TEST_BROKERS
  if (external) {
    project.provide('kafkaBrokers', external)
    project.provide('kafkaSasl', null)
    return async () => {
      await s3.stop()
    }
  }

  const password = randomBytes(12).toString('hex')
  let broker: LocalBroker | undefined = await startLocalBroker({
    sasl: {users: {[SASL_USER]: password}},
    onProgress: (message) => process.stderr.write(`[kafka] ${message}\n`),
  })
  process.env.ECAP_TEST_BROKERS = broker.brokers
  project.provide('kafkaBrokers', broker.brokers)
  project.provide('kafkaSasl', {brokers: broker.sasl!.brokers, username: SASL_USER, password})
  return async () => {
    await broker?.stop()
    broker = undefined
    await s3.stop()
  }
}
