/**
 * The partition Java's default producer (and kafkajs's murmur2 partitioner) gives a keyed record: murmur2 of the key's
 * UTF-8 bytes, made positive, modulo the partition count. Computed in 32-bit integer arithmetic, where kafkajs uses
 * 64-bit Long objects per step, because a backfill hashes every record's key.
 */
export function keyPartition(key: string, partitions: number): number {
  return (murmur2(keyBytes(key)) & 0x7fffffff) % partitions
}

const SEED = 0x9747b28c
const M = 0x5bd1e995

/** Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`). */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  let h = SEED ^ length
  const length4 = length >>> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k =
      (data[i4] as number) |
      ((data[i4 + 1] as number) << 8) |
      ((data[i4 + 2] as number) << 16) |
      ((data[i4 + 3] as number) << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const tail = length & ~3
  // Falls through on purpose, as Java's switch does.
  switch (length & 3) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: Kafka's murmur2 mixes the tail bytes by falling through
    case 3:
      h ^= (data[tail + 2] as number) << 16
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: as above
    case 2:
      h ^= (data[tail + 1] as number) << 8
    case 1:
      h ^= data[tail] as number
      h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h
}

const ascii = new Uint8Array(256)

/** A key's UTF-8 bytes; ASCII keys (customer ids) are copied into a reused array instead of a new Buffer. */
function keyBytes(key: string): Uint8Array {
  if (key.length > ascii.length) return Buffer.from(key)
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i)
    if (code > 0x7f) return Buffer.from(key)
    ascii[i] = code
  }
  return ascii.subarray(0, key.length)
}
