import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {sqlString} from '../src/lib/engine/sql.js'
import {FIELD_NAMES} from '../src/lib/events/contract.js'
import {validateEvent} from '../src/lib/events/validate.js'
import type {ImportResult} from '../src/lib/import/import.js'
import {listCommitVersions} from '../src/lib/lake/delta-log.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {registerShopViews} from '../src/lib/shop/views.js'
import {ecap} from './helpers/cli.js'
import {uuid3} from './helpers/import-ids.js'
import {readWithDeltaRs} from './helpers/python.js'

/** UCI Online Retail, kept in the project with its source and licence (fixtures/datasets/README.md). */
const ONLINE_RETAIL = resolve(import.meta.dirname, '../fixtures/datasets/online-retail/online_retail.parquet')
const SLOW = {timeoutMs: 600_000}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecap-import-'))
})
afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

function json<T>(run: {status: number | null; stdout: string; stderr: string}): {status: number; result: T} {
  if (run.stdout.trim() === '') throw new Error(`no JSON on stdout (exit ${run.status}): ${run.stderr}`)
  return JSON.parse(run.stdout)
}

/** Every event of the lake's events table, in the contract's JSON form (what validateEvent checks). */
async function lakeEvents(engine: Engine, lake: string): Promise<Record<string, unknown>[]> {
  await registerTableView(engine, 'lake_events', join(lake, 'events'))
  const rows = await engine.rows(`SELECT * REPLACE (
      strftime(event_time, '%Y-%m-%dT%H:%M:%S.%gZ') AS event_time,
      CAST(unit_price AS DOUBLE) AS unit_price, CAST(total AS DOUBLE) AS total, CAST(amount AS DOUBLE) AS amount,
      CASE WHEN items IS NOT NULL THEN [{'product_id': i.product_id, 'quantity': i.quantity,
        'unit_price': CAST(i.unit_price AS DOUBLE)} FOR i IN items] END AS items)
    FROM lake_events ORDER BY event_id`)
  return rows.map((row) => Object.fromEntries(FIELD_NAMES.map((name) => [name, row[name] ?? null])))
}

// Each test reads all 541,909 rows or the events made of them: on a busy machine that takes more than the default minute.
describe('ecap import of UCI Online Retail (--preset online-retail)', {timeout: SLOW.timeoutMs}, () => {
  let lake: string
  let first: ImportResult

  beforeAll(() => {
    lake = join(dir, 'online-retail-lake')
    const run = ecap(['import', ONLINE_RETAIL, '--preset', 'online-retail', '--lake', lake, '--json'], SLOW)
    expect(run.status, run.stderr).toBe(0)
    first = json<ImportResult>(run).result
  }, 600_000)

  it("matches the dataset README's published profile", () => {
    expect(first.status).toBe('imported')
    expect(first.rowsRead).toBe(541_909)
    expect(first.invoices).toBe(25_900)
    expect(first.customersInFile).toBe(4_372)
    expect(first.firstEventTime).toBe('2010-12-01T08:26:00.000Z')
    expect(first.lastEventTime).toBe('2011-12-09T12:50:00.000Z')
    expect(first.currencies).toEqual(['GBP'])
  })

  it('reports duplicates, cancellations and rejected rows as measured on the file', async () => {
    // Not in the README, but the widely reported figures of this data set: 5,268 extra copies of exact duplicate
    // rows (pandas' df.duplicated().sum()), 3,836 cancellation invoices.
    expect(first.duplicateRowsDropped).toBe(5_268)
    expect(first.rowsRejected).toEqual({
      'negative quantity outside a cancellation': 1_336,
      'zero or negative unit price': 1_176,
      'quantity above 10000 on one line': 4,
      'unit price with a fraction of a cent': 4,
    })
    expect(first.rowsRead).toBe(first.duplicateRowsDropped + first.rowsRejectedTotal + first.rowsImported)
    // The two lines above 10,000 units (invoices 541431 and 581483) and their cancellations are the only refunds lost.
    expect(first.refunds).toBe(3_836 - 2)
    expect(first.orders).toBe(19_958)
    expect(first.anonymousOrders).toBe(1_428)
    expect(first.refundsLinked).toBe(2_694)
    expect(first.anonymousRefunds).toBe(182)
    expect(first.customersWithOrders).toBe(4_337)
    expect(first.countriesWithoutCode).toEqual({'Channel Islands': 757, Unspecified: 442})
    expect(first.productIdsRewritten).toBe(1) // BANK CHARGES
    expect(first.eventsWritten).toBe(first.orders + first.refunds)

    // The same figures by a plain query over the file, written without the import's SQL.
    const engine = await Engine.open()
    try {
      const [expected] = await engine.rows(`
        WITH d AS (SELECT DISTINCT * FROM read_parquet(${sqlString(ONLINE_RETAIL)})),
        ok AS (SELECT * FROM d WHERE UnitPrice > 0 AND round(UnitPrice, 2) = UnitPrice AND abs(Quantity) <= 10000)
        SELECT count(DISTINCT InvoiceNo) FILTER (InvoiceNo NOT LIKE 'C%' AND Quantity > 0) AS orders,
               count(DISTINCT InvoiceNo) FILTER (InvoiceNo LIKE 'C%') AS refunds,
               CAST(sum(Quantity * UnitPrice) FILTER (InvoiceNo NOT LIKE 'C%' AND Quantity > 0) AS DECIMAL(14,2))::VARCHAR AS revenue,
               CAST(-sum(Quantity * UnitPrice) FILTER (InvoiceNo LIKE 'C%') AS DECIMAL(14,2))::VARCHAR AS refunded,
               (SELECT count(*) FROM read_parquet(${sqlString(ONLINE_RETAIL)})) - (SELECT count(*) FROM d) AS duplicates
        FROM ok`)
      expect(first.orders).toBe(Number(expected?.orders))
      expect(first.refunds).toBe(Number(expected?.refunds))
      expect(first.revenue.toFixed(2)).toBe(expected?.revenue)
      expect(first.refunded.toFixed(2)).toBe(expected?.refunded)
      expect(first.duplicateRowsDropped).toBe(Number(expected?.duplicates))
    } finally {
      engine.close()
    }
  })

  it('writes contract-valid events with deterministic ids, readable through the shop views', async () => {
    const engine = await Engine.open()
    try {
      const events = await lakeEvents(engine, lake)
      expect(events).toHaveLength(first.eventsWritten)
      const problems = events.map((e) => validateEvent(e)).filter((r) => !r.ok)
      expect(problems.slice(0, 3)).toEqual([])

      const byId = new Map(events.map((e) => [e.event_id, e]))
      const order = byId.get(uuid3('purchase:536365'))
      expect(order).toMatchObject({
        event_type: 'purchase',
        order_id: '536365',
        customer_id: '17850',
        event_time: '2010-12-01T08:26:00.000Z',
        session_id: '536365',
        device: 'desktop',
        payment_method: 'card',
        card_fingerprint: null,
        currency: 'GBP',
        billing_country: 'GB',
        shipping_country: 'GB',
        ip_country: 'GB',
        total: 139.12,
      })
      expect((order?.items as unknown[] | undefined)?.[0]).toEqual({
        product_id: '85123A',
        quantity: 6,
        unit_price: 2.55,
      })
      // C536379 cancels a discount ("D") that no earlier order of customer 14527 holds: it keeps its own number.
      expect(byId.get(uuid3('refund:C536379'))).toMatchObject({
        event_type: 'refund',
        order_id: 'C536379',
        amount: 27.5,
        reason: 'changed_mind',
        customer_id: '14527',
      })

      await registerShopViews(engine, lake)
      const [views] = await engine.rows(`SELECT (SELECT count(*) FROM orders) AS orders,
          (SELECT count(*) FROM customers) AS customers,
          (SELECT count(*) FROM orders WHERE customer_id IS NULL) AS anonymous,
          (SELECT CAST(sum(total) AS DOUBLE) FROM orders) AS revenue,
          (SELECT count(*) FROM orders WHERE refund_count > 0) AS refunded_orders`)
      expect(Number(views?.orders)).toBe(first.orders)
      expect(Number(views?.customers)).toBe(first.customersWithOrders)
      expect(Number(views?.anonymous)).toBe(first.anonymousOrders)
      expect(Number(views?.revenue)).toBeCloseTo(first.revenue, 2)
      expect(Number(views?.refunded_orders)).toBeGreaterThan(0)
    } finally {
      engine.close()
    }
  })

  it('is a Delta table that delta-rs reads', () => {
    const delta = readWithDeltaRs(join(lake, 'events'))
    expect(delta.version).toBe(0)
    expect(delta.rows).toBe(first.eventsWritten)
    expect(delta.distinct_event_ids).toBe(first.eventsWritten)
    expect(Number(delta.sum_total)).toBeCloseTo(first.revenue, 2)
    expect(delta.partitions[0]).toBe('2010-12-01')
    expect(delta.partitions.at(-1)).toBe('2011-12-09')
  })

  it('does not import the same file twice', async () => {
    const run = ecap(['import', ONLINE_RETAIL, '--preset', 'online-retail', '--lake', lake, '--json'], SLOW)
    expect(run.status, run.stderr).toBe(0)
    const again = json<ImportResult>(run).result
    expect(again.status).toBe('already-imported')
    expect(again.eventsWritten).toBe(0)
    expect(again.eventsAlreadyInLake).toBe(first.eventsWritten)
    expect(again.sha256).toBe(first.sha256)
    expect(await listCommitVersions(join(lake, 'events'))).toEqual([0])
  })

  it('feeds RFM and CLV', () => {
    const rfm = ecap(['analyze', 'rfm', '--lake', lake, '--json'], SLOW)
    expect(rfm.status, rfm.stderr).toBe(0)
    const rfmResult = json<{customers: number; segments: {customers: number}[]}>(rfm).result
    expect(rfmResult.customers).toBe(first.customersWithOrders)
    expect(rfmResult.segments.reduce((sum, s) => sum + s.customers, 0)).toBe(first.customersWithOrders)

    const clv = ecap(['analyze', 'clv', '--lake', lake, '--json'], SLOW)
    expect(clv.status, clv.stderr).toBe(0)
    const clvResult = json<{customers: {total: number; withRepeatPurchases: number}; totalClv: number}>(clv).result
    expect(clvResult.customers.total).toBe(first.customersWithOrders)
    expect(clvResult.customers.withRepeatPurchases).toBeGreaterThan(2_000)
    expect(clvResult.customers.withRepeatPurchases).toBeLessThan(first.customersWithOrders)
    expect(clvResult.totalClv).toBeGreaterThan(0)
  })
})

describe('ecap import of a hand-made file', () => {
  const header = 'Order No,Item,Units,Price,Placed,Buyer,Land'
  const rows = [
    'A1,sku-1,2,10.00,01/03/2024 10:00,alice,Germany',
    'A1,sku-2,1,5.50,01/03/2024 10:00,alice,Germany',
    'A1,sku-2,1,5.50,01/03/2024 10:00,alice,Germany', // exact duplicate
    'A2,sku-1,3,10.00,2024-03-02 11:30:00,,FR', // anonymous, ISO time, a code instead of a name
    'A2,sku-1,-1,10.00,2024-03-05 09:00:00,,FR', // returned: a refund of A2
    'A3,sku-3,1,4.00,yesterday,bob,Atlantis',
    'A4,sku-3,1,0,02/03/2024 12:00,bob,Germany',
    ',sku-3,1,4.00,02/03/2024 12:00,bob,Germany',
    'A5,sku-4,1,7.25,03/03/2024 08:00,bob,Atlantis',
  ]
  const map = 'order=Order No,product=Item,quantity=Units,price=Price,time=Placed,customer=Buyer,country=Land'
  let file: string
  let lake: string

  beforeAll(async () => {
    file = join(dir, 'orders.csv')
    lake = join(dir, 'hand-lake')
    await writeFile(file, `${[header, ...rows].join('\n')}\n`)
  })

  it('imports with a custom --map and reports every row', async () => {
    const run = ecap(
      ['import', file, '--lake', lake, '--map', map, '--currency', 'EUR', '--date-format', '%d/%m/%Y %H:%M', '--json'],
      SLOW,
    )
    expect(run.status, run.stderr).toBe(0)
    const {result} = json<ImportResult>(run)
    expect(result).toMatchObject({
      status: 'imported',
      rowsRead: 9,
      duplicateRowsDropped: 1,
      rowsRejected: {'missing or unparseable date': 1, 'zero or negative unit price': 1, 'missing order number': 1},
      rowsImported: 5,
      invoices: 5,
      orders: 3,
      anonymousOrders: 1,
      refunds: 1,
      refundsLinked: 1,
      customers: 2,
      revenue: 25.5 + 30 + 7.25,
      refunded: 10,
      countriesWithoutCode: {Atlantis: 1},
      eventsWritten: 4,
    })
    expect(result.warnings.join('\n')).toContain('Atlantis (1 rows)')

    const engine = await Engine.open()
    try {
      const events = await lakeEvents(engine, lake)
      expect(events.map((e) => validateEvent(e)).filter((r) => !r.ok)).toEqual([])
      const a1 = events.find((e) => e.order_id === 'A1' && e.event_type === 'purchase')
      expect(a1).toMatchObject({
        customer_id: 'alice',
        event_time: '2024-03-01T10:00:00.000Z',
        total: 25.5,
        currency: 'EUR',
        billing_country: 'DE',
        items: [
          {product_id: 'sku-1', quantity: 2, unit_price: 10},
          {product_id: 'sku-2', quantity: 1, unit_price: 5.5},
        ],
      })
      const refund = events.find((e) => e.event_type === 'refund')
      expect(refund).toMatchObject({order_id: 'A2', amount: 10, customer_id: null, ip_country: 'FR'})
      expect(events.find((e) => e.order_id === 'A5')).toMatchObject({billing_country: 'ZZ'})
    } finally {
      engine.close()
    }
  })

  it('reads Online Retail CSVs (US dates, C-cancellations linked to the order they cancel)', async () => {
    const csv = join(dir, 'retail.csv')
    await writeFile(
      csv,
      [
        'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country',
        '100001,85123A,HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom',
        '100001,71053,LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom',
        'C100002,85123A,HEART,-2,12/2/2010 9:00,2.55,17850.0,United Kingdom',
        'C100003,22752,SET,-1,12/2/2010 9:00,7.65,17850.0,United Kingdom',
        '100004,BANK CHARGES,Bank Charges,1,12/3/2010 10:15,15,12345.0,Channel Islands',
      ].join('\n'),
    )
    const retailLake = join(dir, 'retail-lake')
    const run = ecap(['import', csv, '--preset', 'online-retail', '--lake', retailLake, '--json'], SLOW)
    expect(run.status, run.stderr).toBe(0)
    expect(json<ImportResult>(run).result).toMatchObject({orders: 2, refunds: 2, refundsLinked: 1, customers: 2})
    const engine = await Engine.open()
    try {
      const events = await lakeEvents(engine, retailLake)
      expect(events.find((e) => e.event_id === uuid3('refund:C100002'))).toMatchObject({
        order_id: '100001',
        amount: 5.1,
        event_time: '2010-12-02T09:00:00.000Z',
      })
      expect(events.find((e) => e.event_id === uuid3('refund:C100003'))).toMatchObject({order_id: 'C100003'})
      expect(events.find((e) => e.order_id === '100004')).toMatchObject({
        customer_id: '12345',
        billing_country: 'ZZ',
        items: [{product_id: 'BANK_CHARGES', quantity: 1, unit_price: 15}],
      })
    } finally {
      engine.close()
    }
  })

  it('rejects a map naming a column the file lacks (exit 2, naming it and the available ones)', async () => {
    const run = ecap(['import', file, '--lake', lake, '--map', map.replace('Buyer', 'Customer'), '--currency', 'EUR'])
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('Column "Customer" (mapped to customer) is not in the file')
    expect(run.stderr).toContain('Available columns: Order No, Item, Units, Price, Placed, Buyer, Land')

    const missing = ecap(['import', file, '--lake', lake, '--map', 'order=Order No', '--currency', 'EUR', '--json'])
    expect(missing.status).toBe(2)
    expect(json<unknown>(missing)).toMatchObject({status: 2, error: {code: 'IMPORT_MAP_MISSING'}})
    expect(await listCommitVersions(join(lake, 'events'))).toEqual([0])
  })

  it('writes nothing on --dry-run', async () => {
    const dryLake = join(dir, 'dry-lake')
    // Without --date-format the day-first times do not parse: only A2 (ISO times) becomes an order.
    const run = ecap(['import', file, '--lake', dryLake, '--map', map, '--currency', 'EUR', '--dry-run', '--json'])
    expect(run.status, run.stderr).toBe(0)
    expect(json<ImportResult>(run).result).toMatchObject({status: 'dry-run', orders: 1, eventsWritten: 0})
    expect(await listCommitVersions(join(dryLake, 'events'))).toEqual([])
  })
})
