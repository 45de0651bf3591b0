import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeEach, describe, expect, it} from 'vitest'
import {LocalStorage} from '../src/lib/lake/local-storage.js'

const dir = mkdtempSync(join(tmpdir(), 'ecap-local-storage-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

let root: string
let storage: LocalStorage
let tables = 0
beforeEach(() => {
  root = join(dir, `table-${++tables}`)
  storage = new LocalStorage(root)
})

const bytes = (text: string) => Buffer.from(text)

describe('LocalStorage', () => {
  it('puts a file if its name is free, creating the folders on the way, and leaves no temp file behind', async () => {
    const landed: string[] = []
    expect(
      await storage.putIfAbsent('_delta_log/00000000000000000000.json', bytes('first\n'), {
        onLanded: () => landed.push('first'),
      }),
    ).toBe(true)
    expect(landed).toEqual(['first'])
    expect(readFileSync(join(root, '_delta_log', '00000000000000000000.json'), 'utf8')).toBe('first\n')
    expect(readdirSync(join(root, '_delta_log'))).toEqual(['00000000000000000000.json'])
  })

  it('refuses a taken name: returns false, keeps the winner and calls no onLanded', async () => {
    const path = '_delta_log/00000000000000000000.json'
    await storage.putIfAbsent(path, bytes('winner\n'))
    let called = false
    expect(
      await storage.putIfAbsent(path, bytes('loser\n'), {
        onLanded: () => {
          called = true
        },
      }),
    ).toBe(false)
    expect(called).toBe(false)
    expect(await storage.readText(path)).toBe('winner\n')
    expect(readdirSync(join(root, '_delta_log'))).toEqual(['00000000000000000000.json'])
  })

  it('lets exactly one of many writers racing for a name win', async () => {
    const results = await Promise.all(
      Array.from({length: 8}, (_, i) => storage.putIfAbsent('_delta_log/x.json', bytes(`writer ${i}\n`))),
    )
    expect(results.filter(Boolean)).toHaveLength(1)
    expect(await storage.readText('_delta_log/x.json')).toBe(`writer ${results.indexOf(true)}\n`)
  })

  it('replaces a file whole, whether or not it existed, and leaves no temp file behind', async () => {
    await storage.replace('_delta_log/_last_checkpoint', bytes('{"version":10}'))
    expect(await storage.readText('_delta_log/_last_checkpoint')).toBe('{"version":10}')
    await storage.replace('_delta_log/_last_checkpoint', bytes('{"version":20,"size":3}'))
    expect(await storage.readText('_delta_log/_last_checkpoint')).toBe('{"version":20,"size":3}')
    expect(Buffer.from((await storage.readBytes('_delta_log/_last_checkpoint')) as Uint8Array).toString()).toBe(
      '{"version":20,"size":3}',
    )
    expect(readdirSync(join(root, '_delta_log'))).toEqual(['_last_checkpoint'])
  })

  it('lists the files and folders directly under a folder, and nothing for a folder that is not there', async () => {
    await storage.putIfAbsent('_delta_log/00000000000000000000.json', bytes('{}\n'))
    mkdirSync(join(root, 'event_date=2025-06-01'))
    writeFileSync(join(root, 'event_date=2025-06-01', 'part-1.parquet'), 'x')
    writeFileSync(join(root, 'part-2.parquet'), 'y')
    const sorted = (entries: {name: string; folder: boolean}[]) => entries.sort((a, b) => a.name.localeCompare(b.name))
    expect(sorted(await storage.list(''))).toEqual([
      {name: '_delta_log', folder: true},
      {name: 'event_date=2025-06-01', folder: true},
      {name: 'part-2.parquet', folder: false},
    ])
    expect(await storage.list('event_date=2025-06-01')).toEqual([{name: 'part-1.parquet', folder: false}])
    expect(await storage.list('missing')).toEqual([])
    expect(await new LocalStorage(join(dir, 'no-such-table')).list('')).toEqual([])
  })

  it('reads, stats and deletes; a missing file reads and stats as undefined, and deleting it again is no error', async () => {
    await storage.prepare()
    writeFileSync(join(root, 'part-1.parquet'), 'twelve bytes')
    expect(await storage.stat('part-1.parquet')).toMatchObject({size: 12})
    expect((await storage.stat('part-1.parquet'))?.modificationTime).toBeGreaterThan(Date.now() - 60_000)
    await storage.delete('part-1.parquet')
    await storage.delete('part-1.parquet')
    expect(await storage.stat('part-1.parquet')).toBeUndefined()
    expect(await storage.readText('part-1.parquet')).toBeUndefined()
    expect(await storage.readBytes('part-1.parquet')).toBeUndefined()
    // A folder is no file.
    mkdirSync(join(root, 'event_date=2025-06-01'))
    expect(await storage.stat('event_date=2025-06-01')).toBeUndefined()
  })

  it('locates paths under its root for DuckDB, and persists files written there by others', async () => {
    await storage.prepare({creating: true})
    expect(storage.locate('')).toBe(root)
    expect(storage.locate('event_date=2025-06-01/part-1.parquet')).toBe(
      join(root, 'event_date=2025-06-01', 'part-1.parquet'),
    )
    mkdirSync(join(root, 'event_date=2025-06-01'))
    writeFileSync(storage.locate('event_date=2025-06-01/part-1.parquet'), 'data')
    await storage.persist(['event_date=2025-06-01/part-1.parquet'])
    expect(await storage.readText('event_date=2025-06-01/part-1.parquet')).toBe('data')
  })
})
