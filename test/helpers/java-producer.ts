import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {ensureKafkaJars} from '../../src/lib/kafka/kafka-jars.js'

/** Compression types Kafka's Java producer writes. */
export type JavaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'

const PROGRAM = fileURLToPath(new URL('./ProduceCompressed.java', import.meta.url))

/** A message as the Java producer sends it, to a topic with a compression type: null key or value allowed. */
export interface JavaMessage {
  topic: string
  compression: JavaCompression
  key: Buffer | string | null
  value: Buffer | string | null
}

/**
 * Sends `messages` with Kafka's own Java producer (the broker's kafka-clients jar, with lz4-java, snappy-java and
 * zstd-jni), each compressed as it says: the bytes a real producer writes, which kafkajs (gzip only) cannot make.
 * One JVM for all of them (starting one takes seconds). The topics must exist. Waits for every ack.
 */
export async function produceWithJava(brokers: string, messages: JavaMessage[]): Promise<void> {
  const libs = await ensureKafkaJars()
  const encode = (part: Buffer | string | null) => (part === null ? '-' : Buffer.from(part).toString('base64'))
  const input = messages.map((m) => `${m.topic} ${m.compression} ${encode(m.key)} ${encode(m.value)}\n`).join('')
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java'
  const run = spawnSync(java, ['-cp', `${libs}/*`, PROGRAM, brokers], {
    input,
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 << 20,
  })
  if (run.status !== 0 || run.stdout.trim() !== String(messages.length)) {
    throw new Error(
      `The Java producer exited ${run.status}: ${run.stdout}\n${run.stderr.split('\n').slice(-30).join('\n')}`,
    )
  }
}
