import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {TxnConflictError, UnavailableError} from '../src/lib/errors.js'
import {lakeOffsets} from '../src/lib/ingest/lake-offsets.js'
import {TablePositions} from '../src/lib/ingest/table-positions.js'
import {DEAD_LETTERS_SPEC, DEAD_LETTERS_TABLE} from '../src/lib/lake/dead-letters.js'
import {tablePath} from '../src/lib/lake/lake.js'

/**
 * The flush-to-commit step on a real Delta table in a temp dir, without Kafka: txns that only move forward, the
 * version a commit is checked against, a jump over another writer's commit, and a conflict as a typed error.
 */

let lake: string
let engine: Engine

beforeAll(async () => {
  lake = mkdtempSync(join(tmpdir(), 'ecap-table-positions-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(lake, {recursive: true, force: true})
})

const positions = () => new TablePositions(lake, 'orders', DEAD_LETTERS_SPEC)
const last = (...entries: [number, number][]) => new Map(entries)

describe('TablePositions', () => {
  it('commits the txns of a flush, records them, and sees other writers', async () => {
    const mine = positions()
    await mine.read(engine)
    expect(mine.version).toBe(-1)
    expect(mine.offsets.size).toBe(0)

    const first = await mine.commit(engine, [], mine.moving(last([0, 5], [1, 3])))
    expect(first).toMatchObject({version: 0, jumped: false, files: 0})
    expect([...mine.offsets]).toEqual([
      [0, 5],
      [1, 3],
    ])
    // Only partitions that move forward are carried.
    expect(mine.moving(last([0, 4], [1, 8]))).toEqual([{appId: 'ecap:orders:1', version: 8}])

    // Another writer commits another partition: the next commit lands past it, and says so.
    const other = positions()
    await other.read(engine)
    expect(other.version).toBe(0)
    await other.commit(engine, [], other.moving(last([2, 7])))
    const jumped = await mine.commit(engine, [], mine.moving(last([0, 9])))
    expect(jumped).toMatchObject({version: 2, jumped: true})
    expect(mine.version).toBe(2)
    await mine.read(engine)
    expect([...mine.offsets].sort((a, b) => a[0] - b[0])).toEqual([
      [0, 9],
      [1, 3],
      [2, 7],
    ])
    const {offsets} = await lakeOffsets(tablePath(lake, DEAD_LETTERS_TABLE), 'orders', engine)
    expect(offsets).toEqual(mine.offsets)
  })

  it('fails with a TxnConflictError when another writer committed the same partition since the read', async () => {
    const a = positions()
    const b = positions()
    await a.read(engine)
    await b.read(engine)
    await b.commit(engine, [], b.moving(last([0, 12])))
    const conflict = await a.commit(engine, [], a.moving(last([0, 11]))).catch((error: unknown) => error)
    expect(conflict).toBeInstanceOf(TxnConflictError)
    expect(conflict).toBeInstanceOf(UnavailableError)
    // Code, exit code and name as before the class existed: scripts and --json output see no change.
    expect(conflict).toMatchObject({code: 'DELTA_TXN_CONFLICT', exitCode: 4, name: 'UnavailableError'})
    // Nothing recorded for the failed commit.
    expect(a.offsets.get(0)).toBe(9)
  })
})
