import {mkdtemp, readdir, rm, symlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type Engine, withEngine} from '../src/lib/engine/engine.js'
import {InterruptedError} from '../src/lib/errors.js'
import {GENERATE_DEFAULTS, generateShop} from '../src/lib/generate/index.js'
import {LakeSink} from '../src/lib/generate/sinks/lake-sink.js'
import {appendEvents} from '../src/lib/lake/lake.js'
import {lakeStatus} from '../src/lib/lake/status.js'
import {runDoctor} from '../src/lib/setup/doctor.js'
import {shopNdjson} from './helpers/lake.js'

/**
 * Commands bind their DuckDB session to Ctrl-C (EcapCommand.withEngine). What an interrupted statement leaves must
 * still be cleaned up, and an interruption must never read as a finding about the lake.
 */

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecap-interrupt-'))
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

async function parquetFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, {recursive: true}).catch(() => [] as string[])
  return entries.filter((name) => name.endsWith('.parquet'))
}

describe('an interrupted run', () => {
  it('generate --to lake stopped while DuckDB converts a chunk leaves no Parquet file behind', async () => {
    const lake = join(dir, 'generate-lake')
    const controller = new AbortController()
    await withEngine(
      async (engine: Engine) => {
        const sink = new LakeSink(engine, lake, 150_000)
        // Ctrl-C lands while the first chunk's partitioned COPY runs (an interrupted partitioned COPY leaves the
        // part files it had begun).
        const rows = engine.rows.bind(engine)
        let armed = false
        engine.rows = async (sql, values) => {
          if (!armed && sql.includes('COPY')) {
            armed = true
            setTimeout(() => controller.abort(new InterruptedError('SIGINT')), 150)
          }
          return rows(sql, values)
        }
        await expect(
          generateShop(
            {...GENERATE_DEFAULTS, customers: 20_000, days: 60},
            {events: sink},
            {signal: controller.signal},
          ),
        ).rejects.toBeInstanceOf(InterruptedError)
        expect(armed).toBe(true)
      },
      {signal: controller.signal},
    )
    expect(await parquetFiles(join(lake, 'events'))).toEqual([])
  }, 120_000)

  it('doctor stopped by SIGTERM exits as interrupted instead of reporting DuckDB or the lake broken', async () => {
    const lake = join(dir, 'doctor-lake')
    const shop = await shopNdjson(dir, 'doctor.ndjson', {customers: 50, days: 5})
    await withEngine((engine) => appendEvents(engine, lake, shop.path))
    const controller = new AbortController()
    controller.abort(new InterruptedError('SIGTERM'))
    await expect(
      runDoctor({
        config: {flags: {lake, brokers: inject('kafkaBrokers')}, env: {}, cwd: dir},
        kafkaTimeoutMs: 2000,
        openEngine: (work, options) => withEngine(work, {...options, signal: controller.signal}),
      }),
    ).rejects.toBeInstanceOf(InterruptedError)
  }, 60_000)
})

describe('lake status', () => {
  it('reads a lake whose folder is a symlink', async () => {
    const real = join(dir, 'real-lake')
    const shop = await shopNdjson(dir, 'status.ndjson', {customers: 50, days: 5})
    await withEngine((engine) => appendEvents(engine, real, shop.path))
    await symlink(real, join(dir, 'linked-lake'))
    const status = await withEngine((engine) => lakeStatus(engine, join(dir, 'linked-lake')))
    expect(status.tables.map((t) => [t.name, t.rows])).toEqual([['events', shop.lines]])
  })
})
