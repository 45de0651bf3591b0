import type {Engine} from '../../engine/engine.js'
import {utcDate} from '../../engine/sql.js'
import {registerShopViews, type ShopViews} from '../../shop/views.js'
import {cacheOrders} from '../sessions.js'
import {type RunInfo, resultPath, saveResult} from '../store.js'
import {DEFAULT_SEGMENT_MAP, readSegmentMap, type SegmentMap, segmentCells, validateSegmentMap} from './segments.js'

/** Saved results: `<lake>/analytics/rfm` (one row per customer) and `<lake>/analytics/rfm_segments`. */
export const RFM_RESULT = 'rfm'
export const RFM_SEGMENTS_RESULT = 'rfm_segments'

/** Temp tables the computation leaves in the engine, for saving and for tests. */
export const RFM_CUSTOMERS_TABLE = 'rfm_customers'
export const RFM_SEGMENTS_TABLE = 'rfm_segment_summary'
const CELLS_TABLE = 'rfm_segment_cells'

export interface RfmOptions {
  /** The day recency is counted to (YYYY-MM-DD): the as-of day of the shop views. */
  asOf: string
  /** The segment map; default DEFAULT_SEGMENT_MAP. Validated again here, whoever built it. */
  segments?: SegmentMap
}

export interface RfmSegmentSummary {
  segment: string
  description: string
  customers: number
  /** Share of all scored customers, 0-1. */
  customerShare: number
  revenue: number
  /** Share of the net revenue of all scored customers, 0-1 (0 when there is none). */
  revenueShare: number
  meanRecencyDays: number | null
  meanFrequency: number | null
  meanMonetary: number | null
  meanR: number | null
  meanF: number | null
  meanM: number | null
}

/** What each score means in the data: the range of the raw measure its customers have. */
export interface RfmScoreBand {
  score: number
  customers: number
  recencyDays: [number, number] | null
  frequency: [number, number] | null
  monetary: [number, number] | null
}

export interface RfmComputation {
  asOf: string
  customers: number
  revenue: number
  segmentMap: string
  segments: RfmSegmentSummary[]
  /** Per score 1-5: customers and the range of recency (R), frequency (F) and monetary (M) that got it. */
  scoreBands: {r: RfmScoreBand[]; f: RfmScoreBand[]; m: RfmScoreBand[]}
}

export interface RfmResult extends RfmComputation {
  analysis: 'rfm'
  lake: string
  eventsVersion: number
  /** Copies of an event_id already seen that the shop views set aside (each event counted once). */
  duplicateEvents: number
  saved: {customers: string; segments: string}
}

/**
 * A score from 1 to 5 by rank: customers ordered worst to best, rank 1..n, score ceil(5 rank / n). Quintiles differ
 * in size by at most one customer whatever the ties, and the best customer always scores 5 (ntile(5) would give the
 * best of three customers a 3). `order` lists the worst customers first; md5 of the id is the last, stable tiebreak:
 * unlike the id itself it favours no naming scheme.
 */
function scoreSql(order: string): string {
  return `CAST(ceil(5.0 * row_number() OVER (ORDER BY ${order}, md5(customer_id), customer_id) / count(*) OVER ()) AS INTEGER)`
}

/**
 * RFM of every signed-in customer with an order up to the as-of day (anonymous orders excluded): recency in days from
 * the last order to `asOf`, frequency in orders, monetary as net revenue (refunds up to the as-of day subtracted),
 * scored 1-5 with 5 always best, and named by the R x F segment map. Reads the `customers` view of
 * registerShopViews; leaves `rfm_customers` and `rfm_segment_summary` as temp tables.
 */
export async function computeRfm(engine: Engine, options: RfmOptions): Promise<RfmComputation> {
  const map = options.segments ?? DEFAULT_SEGMENT_MAP
  validateSegmentMap(map)
  await loadSegmentCells(engine, map)
  await cacheOrders(engine)
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${RFM_CUSTOMERS_TABLE} AS
     WITH base AS (
       SELECT customer_id,
              ${utcDate('first_order_time')} AS first_order_date,
              ${utcDate('last_order_time')} AS last_order_date,
              CAST(date_diff('day', ${utcDate('last_order_time')}, CAST($1 AS DATE)) AS INTEGER) AS recency_days,
              CAST(orders AS INTEGER) AS frequency,
              CAST(net_revenue AS DECIMAL(18, 2)) AS monetary
       FROM customers
     ),
     scored AS (
       SELECT *,
              ${scoreSql('recency_days DESC')} AS r_score,
              ${scoreSql('frequency ASC')} AS f_score,
              ${scoreSql('monetary ASC')} AS m_score
       FROM base
     )
     SELECT s.customer_id, s.first_order_date, s.last_order_date, s.recency_days, s.frequency, s.monetary,
            s.r_score, s.f_score, s.m_score,
            CAST(s.r_score AS VARCHAR) || CAST(s.f_score AS VARCHAR) || CAST(s.m_score AS VARCHAR) AS rfm_cell,
            c.segment
     FROM scored s JOIN ${CELLS_TABLE} c ON c.r = s.r_score AND c.f = s.f_score
     ORDER BY c.segment_order, s.customer_id`,
    [options.asOf],
  )
  // Every segment of the map gets a row, the empty ones too, so a report shows the whole map.
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${RFM_SEGMENTS_TABLE} AS
     WITH segments AS (SELECT DISTINCT segment, segment_order, description FROM ${CELLS_TABLE}),
     totals AS (SELECT count(*) AS customers, sum(monetary) AS revenue FROM ${RFM_CUSTOMERS_TABLE})
     SELECT s.segment, s.description, CAST(s.segment_order AS INTEGER) AS segment_order,
            CAST(count(c.customer_id) AS INTEGER) AS customers,
            CAST(coalesce(count(c.customer_id) / nullif(any_value(t.customers), 0), 0) AS DOUBLE) AS customer_share,
            CAST(coalesce(sum(c.monetary), 0) AS DECIMAL(18, 2)) AS revenue,
            CAST(coalesce(sum(c.monetary) / nullif(any_value(t.revenue), 0), 0) AS DOUBLE) AS revenue_share,
            avg(c.recency_days) AS mean_recency_days, avg(c.frequency) AS mean_frequency,
            CAST(avg(c.monetary) AS DOUBLE) AS mean_monetary,
            avg(c.r_score) AS mean_r, avg(c.f_score) AS mean_f, avg(c.m_score) AS mean_m
     FROM segments s CROSS JOIN totals t LEFT JOIN ${RFM_CUSTOMERS_TABLE} c ON c.segment = s.segment
     GROUP BY s.segment, s.description, s.segment_order
     ORDER BY s.segment_order`,
  )
  const segments = (await engine.rows(`SELECT * FROM ${RFM_SEGMENTS_TABLE} ORDER BY segment_order`)).map(
    (row): RfmSegmentSummary => ({
      segment: String(row.segment),
      description: String(row.description),
      customers: Number(row.customers),
      customerShare: Number(row.customer_share),
      revenue: Number(row.revenue),
      revenueShare: Number(row.revenue_share),
      meanRecencyDays: numberOrNull(row.mean_recency_days),
      meanFrequency: numberOrNull(row.mean_frequency),
      meanMonetary: numberOrNull(row.mean_monetary),
      meanR: numberOrNull(row.mean_r),
      meanF: numberOrNull(row.mean_f),
      meanM: numberOrNull(row.mean_m),
    }),
  )
  const [totals] = await engine.rows(
    `SELECT CAST(count(*) AS INTEGER) AS customers, CAST(coalesce(sum(monetary), 0) AS DOUBLE) AS revenue
     FROM ${RFM_CUSTOMERS_TABLE}`,
  )
  return {
    asOf: options.asOf,
    customers: Number(totals?.customers ?? 0),
    revenue: Number(totals?.revenue ?? 0),
    segmentMap: map.source,
    segments,
    scoreBands: {
      r: await scoreBands(engine, 'r_score'),
      f: await scoreBands(engine, 'f_score'),
      m: await scoreBands(engine, 'm_score'),
    },
  }
}

export interface RunRfmOptions {
  /**
   * Shop views already registered in this engine (by registerShopViews): used as they are, so several analyses of
   * one run read one snapshot and one as-of day. Without it the run registers them itself.
   */
  views?: ShopViews
  lake: string
  asOf?: string
  /** A custom segment map file (JSON, docs/rfm.md); default the 10-segment map. */
  segmentsFile?: string
}

/** Registers the shop views, computes RFM and saves `analytics/rfm` and `analytics/rfm_segments`. */
export async function runRfm(engine: Engine, options: RunRfmOptions): Promise<RfmResult> {
  // The map is read before the lake so a bad file fails fast, before any work.
  const segments = options.segmentsFile === undefined ? DEFAULT_SEGMENT_MAP : await readSegmentMap(options.segmentsFile)
  const views = options.views ?? (await registerShopViews(engine, options.lake, {asOf: options.asOf}))
  const result = await computeRfm(engine, {asOf: views.asOf, segments})
  const run: RunInfo = {
    analysis: 'rfm',
    parameters: {asOf: options.asOf ?? null, segments: segments.source},
    asOf: views.asOf,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ranAt: new Date().toISOString(),
    summary: {customers: result.customers, revenue: result.revenue, segmentMap: segments},
  }
  // Both tables or neither: an interruption between them would pair this run's customers with the last run's summary.
  await engine.shielded(async () => {
    await saveResult(
      engine,
      options.lake,
      RFM_RESULT,
      `SELECT * FROM ${RFM_CUSTOMERS_TABLE} ORDER BY segment, customer_id`,
      run,
    )
    await saveResult(
      engine,
      options.lake,
      RFM_SEGMENTS_RESULT,
      `SELECT * FROM ${RFM_SEGMENTS_TABLE} ORDER BY segment_order`,
      run,
    )
  })
  return {
    analysis: 'rfm',
    lake: options.lake,
    eventsVersion: views.eventsVersion,
    duplicateEvents: views.duplicateEvents,
    ...result,
    saved: {
      customers: resultPath(options.lake, RFM_RESULT),
      segments: resultPath(options.lake, RFM_SEGMENTS_RESULT),
    },
  }
}

/** The map's cells as a temp table; segment names and descriptions go in as parameters, never as SQL text. */
async function loadSegmentCells(engine: Engine, map: SegmentMap): Promise<void> {
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${CELLS_TABLE} (r INTEGER, f INTEGER, segment VARCHAR, segment_order INTEGER, description VARCHAR)`,
  )
  const cells = segmentCells(map)
  const placeholders = cells.map(
    (_, i) => `($${5 * i + 1}, $${5 * i + 2}, $${5 * i + 3}, $${5 * i + 4}, $${5 * i + 5})`,
  )
  const values = cells.flatMap((c) => [c.r, c.f, c.segment, c.order, map.segments[c.order]?.description ?? ''])
  await engine.run(`INSERT INTO ${CELLS_TABLE} VALUES ${placeholders.join(', ')}`, values)
}

async function scoreBands(engine: Engine, column: 'r_score' | 'f_score' | 'm_score'): Promise<RfmScoreBand[]> {
  const rows = await engine.rows(
    `SELECT s.score, CAST(count(c.customer_id) AS INTEGER) AS customers,
            min(c.recency_days) AS r_min, max(c.recency_days) AS r_max,
            min(c.frequency) AS f_min, max(c.frequency) AS f_max,
            CAST(min(c.monetary) AS DOUBLE) AS m_min, CAST(max(c.monetary) AS DOUBLE) AS m_max
     FROM range(1, 6) s(score) LEFT JOIN ${RFM_CUSTOMERS_TABLE} c ON c.${column} = s.score
     GROUP BY s.score ORDER BY s.score`,
  )
  const pair = (lo: unknown, hi: unknown): [number, number] | null =>
    lo === null || hi === null ? null : [Number(lo), Number(hi)]
  return rows.map((row) => ({
    score: Number(row.score),
    customers: Number(row.customers),
    recencyDays: pair(row.r_min, row.r_max),
    frequency: pair(row.f_min, row.f_max),
    monetary: pair(row.m_min, row.m_max),
  }))
}

function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value)
}
