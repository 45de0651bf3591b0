// Export to PostgreSQL against a real server: two exports of one table at once, and what a reader sees meanwhile.
import type pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {withEngine} from '../src/lib/engine/engine.js'
import {registerLakeViews} from '../src/lib/export/lake-views.js'
import {at, lakeOf, removeTempDirs, ShopBuilder} from './helpers/analytics-shop.js'
import {type EcapProcess, startEcap} from './helpers/cli.js'
import {startPostgres, type TestPostgres} from './helpers/postgres.js'

let server: TestPostgres
let watcher: pg.Client
let lake: string

function shop(): ShopBuilder {
  const b = new ShopBuilder()
  const line = (price: number) => [{product_id: 'pA', quantity: 1, unit_price: price}]
  for (let i = 0; i < 20; i++) {
    b.purchase({customer: `c${i % 7}`, session: `S${i}`}, at(`2026-03-0${1 + (i % 9)}`, '09:00'), `o${i}`, line(10 + i))
  }
  return b
}

beforeAll(async () => {
  server = await startPostgres()
  watcher = await server.client()
  lake = await lakeOf(shop().events)
}, 600_000)

afterAll(async () => {
  await watcher?.end()
  await server?.stop()
  await removeTempDirs()
})

/** Polls until `count` ecap export sessions wait on a lock; fails when an export exits first. */
async function untilExportsWait(count: number, runs: EcapProcess[]): Promise<void> {
  for (;;) {
    const exited = runs.find((r) => r.child.exitCode !== null)
    if (exited) throw new Error(`an export exited early:\n${exited.stderr()}`)
    const waiting = await watcher.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ecap export' AND wait_event_type = 'Lock'`,
    )
    if (waiting.rows[0].n >= count) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('two exports of a table at once (a cron run overlapping a manual one)', () => {
  it('both land when the table is new: the later replaces the earlier, none fails on the name', async () => {
    // A transaction holding the name `race.orders` uncommitted makes both exports reach their swap before either
    // commits, which two real exports do only by chance; it then steps aside.
    const blocker = await server.client()
    const runs: EcapProcess[] = []
    try {
      await blocker.query('CREATE SCHEMA race')
      await blocker.query('BEGIN')
      await blocker.query('CREATE TABLE race.orders (x integer)')
      for (let i = 0; i < 2; i++) {
        runs.push(
          startEcap(['export', '--to', 'postgres', '--lake', lake, '--tables', 'orders', '--schema', 'race'], {
            env: server.env,
          }),
        )
      }
      await untilExportsWait(2, runs)
      await blocker.query('ROLLBACK')
    } finally {
      await blocker.end()
    }
    const exits = await Promise.all(runs.map((r) => r.exited))
    for (const [i, exit] of exits.entries()) expect(exit.code, runs[i]?.stderr()).toBe(0)
    const truth = await withEngine(async (engine) => {
      await registerLakeViews(engine, lake)
      return (await engine.rows('SELECT order_id FROM orders ORDER BY order_id')).map((r) => String(r.order_id))
    })
    const got = await watcher.query('SELECT order_id FROM race.orders ORDER BY order_id COLLATE "C"')
    expect(got.rows.map((r) => r.order_id)).toEqual([...truth].sort())
    const tables = await watcher.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'race'`)
    expect(tables.rows.map((r) => r.tablename)).toEqual(['orders'])
  })

  it('a connection the server ends mid-export exits 4 (PG_CONNECTION_LOST), keeping the old table and no load table', async () => {
    const first = startEcap(['export', '--to', 'postgres', '--lake', lake, '--tables', 'orders', '--schema', 'lost'], {
      env: server.env,
    })
    expect((await first.exited).code, first.stderr()).toBe(0)
    const before = await watcher.query('SELECT count(*)::int AS n FROM lost.orders')
    // A session holding SHARE UPDATE EXCLUSIVE keeps the next export waiting at its last statement, its load done.
    const holder = await server.client()
    const run = startEcap(['export', '--to', 'postgres', '--lake', lake, '--tables', 'orders', '--schema', 'lost'], {
      env: server.env,
    })
    try {
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE lost.orders IN SHARE UPDATE EXCLUSIVE MODE')
      await untilExportsWait(1, [run])
      await watcher.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ecap export'`,
      )
      await holder.query('COMMIT')
    } finally {
      await holder.end()
    }
    const exit = await run.exited
    expect(exit.code, run.stderr()).toBe(4)
    expect(run.stderr()).toContain('PG_CONNECTION_LOST')
    expect(run.stderr()).toContain('lost.orders keeps its old rows')
    expect((await watcher.query('SELECT count(*)::int AS n FROM lost.orders')).rows).toEqual(before.rows)
    const tables = await watcher.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'lost'`)
    expect(tables.rows.map((r) => r.tablename)).toEqual(['orders'])
  })

  // A reader whose snapshot predates the export (a REPEATABLE READ transaction, as BI tools and pg_dump use for a
  // consistent multi-table read) must still see the old rows: a swapped-in new table would show it none, as its rows
  // were committed after the snapshot. With unchanged columns ecap replaces the rows in place, which MVCC keeps right.
  it('a REPEATABLE READ reader whose snapshot predates the swap sees old or new rows, never an empty table', async () => {
    const setup = startEcap(
      ['export', '--to', 'postgres', '--lake', lake, '--tables', 'orders,customers', '--schema', 'mvcc'],
      {
        env: server.env,
      },
    )
    expect((await setup.exited).code, setup.stderr()).toBe(0)
    const rows = (await watcher.query('SELECT count(*)::int AS n FROM mvcc.orders')).rows[0].n
    expect(rows).toBeGreaterThan(0)
    const reader = await server.client()
    try {
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
      // The dashboard's first query, on another table: the transaction's snapshot is taken here.
      await reader.query('SELECT count(*) FROM mvcc.customers')
      const run = startEcap(['export', '--to', 'postgres', '--lake', lake, '--tables', 'orders', '--schema', 'mvcc'], {
        env: server.env,
      })
      expect((await run.exited).code, run.stderr()).toBe(0)
      const seen = await reader.query('SELECT count(*)::int AS n FROM mvcc.orders')
      expect(seen.rows[0].n).toBe(rows)
    } finally {
      await reader.query('ROLLBACK').catch(() => {})
      await reader.end()
    }
  })
})
