import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {EcapError} from '../src/lib/errors.js'
import {startLocalBroker} from '../src/lib/kafka/local-broker.js'

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('startLocalBroker', () => {
  let parent: string

  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'ecap-local-broker-test-'))
  })
  afterEach(() => {
    rmSync(parent, {recursive: true, force: true})
  })

  it('listens on free 127.0.0.1 ports only; stop() ends the JVM and removes its folder, and may be called again', async () => {
    const broker = await startLocalBroker({tmpDir: parent})
    try {
      expect(broker.brokers).toBe(`127.0.0.1:${broker.port}`)
      expect(broker.dir.startsWith(parent)).toBe(true)
      const properties = readFileSync(join(broker.dir, 'server.properties'), 'utf8')
      const listeners = properties.match(/^listeners=(.*)$/m)?.[1]?.split(',') ?? []
      expect(listeners).toEqual([
        `PLAINTEXT://127.0.0.1:${broker.port}`,
        `CONTROLLER://127.0.0.1:${broker.controllerPort}`,
      ])
      expect(await canConnect(broker.port)).toBe(true)
    } finally {
      await Promise.all([broker.stop(), broker.stop()])
      await broker.stop()
    }
    expect(await broker.exited).toBeDefined()
    expect(existsSync(broker.dir)).toBe(false)
    expect(await canConnect(broker.port)).toBe(false)
  })

  it("fails with Kafka's own reason when a setting is wrong, and leaves nothing behind", async () => {
    const failure = await startLocalBroker({tmpDir: parent, properties: {'num.partitions': 'many'}}).catch((e) => e)
    expect(failure).toBeInstanceOf(EcapError)
    expect(failure.code).toBe('KAFKA_FORMAT_FAILED')
    expect(failure.exitCode).toBe(4)
    expect(failure.message).toMatch(/num\.partitions/)
    expect(readdirSync(parent)).toEqual([])
  })

  it('refuses SASL accounts that would break the JAAS config before starting anything', async () => {
    await expect(startLocalBroker({tmpDir: parent, sasl: {users: {'bad user': 'x'}}})).rejects.toMatchObject({
      code: 'KAFKA_SASL_BAD_USER',
      exitCode: 2,
    })
    await expect(startLocalBroker({tmpDir: parent, sasl: {users: {ok: 'a"b'}}})).rejects.toMatchObject({
      code: 'KAFKA_SASL_BAD_PASSWORD',
    })
    expect(readdirSync(parent)).toEqual([])
  })
})
