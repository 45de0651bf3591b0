import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {EcapError} from '../src/lib/errors.js'
import {S3Storage} from '../src/lib/lake/s3-storage.js'
import {newBucket, startS3Server} from './helpers/s3.js'
import {type FaultyProxy, startFaultyProxy} from './helpers/s3-proxy.js'

const bytes = (text: string) => Buffer.from(text)
const text = (data: Uint8Array | undefined) => (data === undefined ? undefined : Buffer.from(data).toString('utf8'))

let bucket: string
let tables = 0
beforeAll(async () => {
  bucket = await newBucket('storage')
})

/** A new table location in the test bucket, reached directly or through `endpoint` (a faulty proxy). */
function table(endpoint?: string): S3Storage {
  const saved = process.env.AWS_ENDPOINT_URL
  if (endpoint) process.env.AWS_ENDPOINT_URL = endpoint
  try {
    return new S3Storage(`s3://${bucket}/tables/t${++tables}`)
  } finally {
    process.env.AWS_ENDPOINT_URL = saved
  }
}

const proxies: FaultyProxy[] = []
afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close()
})

async function proxy(fault: Parameters<typeof startFaultyProxy>[1]): Promise<FaultyProxy> {
  const started = await startFaultyProxy(process.env.AWS_ENDPOINT_URL as string, fault)
  proxies.push(started)
  return started
}

const COMMIT = '_delta_log/00000000000000000000.json'

describe('S3Storage against the S3-compatible test server', () => {
  it('puts an object if its key is free and refuses a taken key, keeping the winner', async () => {
    const storage = table()
    const landed: string[] = []
    expect(await storage.putIfAbsent(COMMIT, bytes('winner\n'), {onLanded: () => landed.push('winner')})).toBe(true)
    expect(await storage.putIfAbsent(COMMIT, bytes('loser\n'), {onLanded: () => landed.push('loser')})).toBe(false)
    expect(landed).toEqual(['winner'])
    expect(text(await storage.readBytes(COMMIT))).toBe('winner\n')
  })

  it('lets exactly one of many writers racing for a key win, and the object holds its bytes', async () => {
    for (let round = 0; round < 5; round++) {
      const storage = table()
      const results = await Promise.all(
        Array.from({length: 12}, (_, i) => storage.putIfAbsent(COMMIT, bytes(`writer ${i}\n`))),
      )
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await storage.readText(COMMIT)).toBe(`writer ${results.indexOf(true)}\n`)
    }
  })

  it('replaces objects whole (small, and large enough for a multipart upload), reads, stats and deletes', async () => {
    const storage = table()
    await storage.replace('_delta_log/_last_checkpoint', bytes('{"version":1}'))
    await storage.replace('_delta_log/_last_checkpoint', bytes('{"version":2}'))
    expect(await storage.readText('_delta_log/_last_checkpoint')).toBe('{"version":2}')
    const large = Buffer.alloc(17 * 1024 * 1024 + 5, 7)
    await storage.replace('_delta_log/00000000000000000002.checkpoint.parquet', large)
    const stat = await storage.stat('_delta_log/00000000000000000002.checkpoint.parquet')
    expect(stat?.size).toBe(large.length)
    expect(Math.abs((stat?.modificationTime ?? 0) - Date.now())).toBeLessThan(120_000)
    expect(
      Buffer.from((await storage.readBytes('_delta_log/00000000000000000002.checkpoint.parquet')) ?? []).equals(large),
    ).toBe(true)
    expect(await storage.readBytes('nothing/here')).toBeUndefined()
    expect(await storage.stat('nothing/here')).toBeUndefined()
    await storage.delete('_delta_log/_last_checkpoint')
    await storage.delete('_delta_log/_last_checkpoint')
    expect(await storage.stat('_delta_log/_last_checkpoint')).toBeUndefined()
  })

  it('lists files and folders directly under a folder, past one page of results, and nothing for an absent one', async () => {
    const storage = table()
    await storage.replace('event_date=2026-01-01/part-1.parquet', bytes('a'))
    await storage.replace('event_date=2026-01-02/part-2.parquet', bytes('b'))
    // More keys than one ListObjectsV2 page holds (1,000), put 25 at a time.
    for (let i = 0; i < 1_005; i += 25) {
      await Promise.all(
        Array.from({length: Math.min(25, 1_005 - i)}, (_, j) =>
          storage.replace(`_delta_log/${String(i + j).padStart(20, '0')}.json`, bytes('{}')),
        ),
      )
    }
    const root = await storage.list('')
    expect(root.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      {name: '_delta_log', folder: true},
      {name: 'event_date=2026-01-01', folder: true},
      {name: 'event_date=2026-01-02', folder: true},
    ])
    const log = await storage.list('_delta_log')
    expect(log).toHaveLength(1_005)
    expect(log.every((e) => !e.folder)).toBe(true)
    expect(await storage.list('no-such-folder')).toEqual([])
  })

  it('locates keys as s3:// URLs DuckDB reads after attach, and maps them back', async () => {
    const storage = table()
    const engine = await Engine.open()
    try {
      await storage.prepare()
      await storage.attach(engine)
      const file = storage.locate('part-x.parquet')
      expect(file).toBe(`${storage.root}/part-x.parquet`)
      expect(storage.pathOf(file)).toBe('part-x.parquet')
      await engine.run(`COPY (SELECT range AS n FROM range(1000)) TO '${file}' (FORMAT parquet)`)
      const columns = await engine.columns(`SELECT sum(n) FROM read_parquet('${file}')`)
      expect(Number(columns[0]?.[0])).toBe(499_500)
      expect((await storage.stat('part-x.parquet'))?.size).toBeGreaterThan(0)
      // Attaching again (each use of a located path does) changes nothing.
      await storage.attach(engine)
    } finally {
      engine.close()
    }
  })

  it('settles a conditional put whose answer was lost: it landed, the retry got 412, the bytes read back are ours', async () => {
    const faulty = await proxy((method, path, attempt) =>
      method === 'PUT' && path.endsWith('.json') && attempt === 1 ? 'drop-response' : undefined,
    )
    const storage = table(faulty.endpoint)
    const landed: number[] = []
    expect(await storage.putIfAbsent(COMMIT, bytes('ours\n'), {onLanded: () => landed.push(1)})).toBe(true)
    expect(landed).toEqual([1])
    // The store saw the PUT twice (the first landed, the retry was refused), and one read settled it.
    expect(faulty.seen.filter((s) => s.startsWith('PUT')).length).toBe(2)
    expect(faulty.seen.some((s) => s.startsWith('GET'))).toBe(true)
    expect(await storage.readText(COMMIT)).toBe('ours\n')
  })

  it('settles a lost answer as a lost race when the key holds another writer’s bytes', async () => {
    const direct = table()
    const faulty = await proxy((method, _path, attempt) =>
      method === 'PUT' && attempt === 1 ? 'drop-request' : undefined,
    )
    const storage = new S3Storage(direct.root)
    // The other writer lands first; our PUT is cut before it arrives, and its retry finds the key taken.
    await direct.putIfAbsent(COMMIT, bytes('theirs\n'))
    const viaProxy = (() => {
      const saved = process.env.AWS_ENDPOINT_URL
      process.env.AWS_ENDPOINT_URL = faulty.endpoint
      try {
        return new S3Storage(direct.root)
      } finally {
        process.env.AWS_ENDPOINT_URL = saved
      }
    })()
    let called = false
    expect(await viaProxy.putIfAbsent(COMMIT, bytes('ours\n'), {onLanded: () => (called = true)})).toBe(false)
    expect(called).toBe(false)
    expect(await storage.readText(COMMIT)).toBe('theirs\n')
  })

  it('takes a 409 (a conditional write in flight) for an unknown outcome, not a lost race: it tries again and lands', async () => {
    const faulty = await proxy((method, path, attempt) =>
      method === 'PUT' && path.endsWith('.json') && attempt <= 2 ? 'conflict' : undefined,
    )
    const storage = table(faulty.endpoint)
    const landed: number[] = []
    expect(await storage.putIfAbsent(COMMIT, bytes('ours\n'), {onLanded: () => landed.push(1)})).toBe(true)
    expect(landed).toEqual([1])
    expect(await storage.readText(COMMIT)).toBe('ours\n')
  }, 120_000)

  it('keeps an outcome it cannot learn unknown: exit 4 S3_COMMIT_UNKNOWN, and onLanded so that nothing it names is deleted', async () => {
    // The first PUT lands but its answer is lost; every later request about the key is lost before it arrives.
    const faulty = await proxy((method, path, attempt) => {
      if (!path.endsWith('.json')) return undefined
      return method === 'PUT' && attempt === 1 ? 'drop-response' : 'drop-request'
    })
    const storage = table(faulty.endpoint)
    const landed: number[] = []
    const error = await storage.putIfAbsent(COMMIT, bytes('ours\n'), {onLanded: () => landed.push(1)}).catch((e) => e)
    expect(error).toBeInstanceOf(EcapError)
    expect(error.code).toBe('S3_COMMIT_UNKNOWN')
    expect(error.exitCode).toBe(4)
    expect(landed).toEqual([1])
    // It had in fact landed: deleting the files it names would have broken the table.
    expect(await new S3Storage(storage.root).readText(COMMIT)).toBe('ours\n')
  }, 300_000)

  it('fails with exit 4 (unavailable) when the store does not answer, and exit 2 for a missing bucket', async () => {
    // Nothing listens there: no try can have landed, so the store is unavailable, not the outcome unknown.
    const closed = await proxy(() => undefined)
    await closed.close()
    const storage = table(closed.endpoint)
    const failure = await storage.putIfAbsent(COMMIT, bytes('x\n')).catch((e) => e)
    expect(failure).toBeInstanceOf(EcapError)
    expect(failure.exitCode).toBe(4)
    expect(failure.code).toBe('S3_UNAVAILABLE')
    expect(await storage.readText(COMMIT).catch((e) => e.code)).toBe('S3_UNAVAILABLE')

    const missing = new S3Storage('s3://no-such-bucket-ecap/lake')
    const error = await missing.prepare().catch((e) => e)
    expect(error).toBeInstanceOf(EcapError)
    expect(error.exitCode).toBe(2)
    expect(error.code).toBe('S3_BUCKET_MISSING')
  }, 120_000)

  it('fails with exit 2 (S3_ACCESS_DENIED) and the fix when the store refuses the credentials', async () => {
    // A second server that checks signatures against the keys it knows (moto's IAM mode): ours are unknown to it.
    const strict = await startS3Server({serverEnv: {INITIAL_NO_AUTH_ACTION_COUNT: '0'}})
    try {
      const error = await table(strict.endpoint)
        .prepare()
        .catch((e) => e)
      expect(error).toBeInstanceOf(EcapError)
      expect(error.exitCode).toBe(2)
      expect(error.code).toBe('S3_ACCESS_DENIED')
      expect(error.hints.join(' ')).toContain('AWS_ACCESS_KEY_ID')
      // The secret itself never appears in what a user sees.
      expect(`${error.message} ${error.hints.join(' ')}`).not.toContain(process.env.AWS_SECRET_ACCESS_KEY)
    } finally {
      await strict.stop()
    }
  }, 120_000)
})
