import type {Engine} from '../engine/engine.js'
import {sqlIdentifier} from '../engine/sql.js'
import {ROW_ID_COLUMN} from '../lake/views.js'

/** Temp table of the row ids of the copies set aside; it exists only while the snapshot holds some. */
const SET_ASIDE_TABLE = '__events_set_aside'
/** Temp table of the event_id hashes seen more than once, while the copies are sorted out. */
const REPEATED_TABLE = '__events_repeated'

export interface UniqueEvents {
  /** Copies of an event_id seen before (by event_time, then by content) that the `events` view leaves out. */
  duplicateEvents: number
}

/**
 * Registers `target` as the rows of `source` (a view with ROW_ID_COLUMN) with each event_id once, and `copies` as the
 * rows left out. Of the rows sharing an event_id the one kept has the earliest event_time; among those at the same
 * time, the first by content (every column compared in the table's order, NULLs last), so the choice depends on what
 * the events say, never on which file holds them or on compaction.
 *
 * A producer that retries without idempotence or a replayed export writes the same event again; counting it twice
 * would double its order's revenue. A lake without such copies pays one sort of the event_id hashes: when no hash
 * repeats, no event_id does, and `target` is `source` as it is. A hash collision only sends the rows of that hash down
 * the exact path, which compares the event_ids themselves. A row without an event_id (another writer's) is no copy of
 * anything and always kept.
 */
export async function registerUniqueEvents(
  engine: Engine,
  source: string,
  target: string,
  copies: string,
): Promise<UniqueEvents> {
  const from = sqlIdentifier(source)
  const rowId = sqlIdentifier(ROW_ID_COLUMN)
  const setAside = sqlIdentifier(SET_ASIDE_TABLE)
  const repeated = sqlIdentifier(REPEATED_TABLE)
  await engine.run(`DROP TABLE IF EXISTS ${setAside}`)
  // Sorting the hashes and comparing neighbours costs about two thirds of a count(DISTINCT) over 10M events: a hash
  // table of 10M groups does not fit a cache, a sort streams.
  await engine.run(`
    CREATE OR REPLACE TEMP TABLE ${repeated} AS
    SELECT DISTINCT h FROM (
      SELECT h, lead(h) OVER (ORDER BY h) AS next FROM (SELECT hash(event_id) AS h FROM ${from} WHERE event_id IS NOT NULL)
    ) WHERE h = next`)
  let duplicateEvents = 0
  const [hashes] = await engine.rows(`SELECT count(*)::BIGINT AS n FROM ${repeated}`)
  if (Number(hashes?.n ?? 0) > 0) {
    const columns = (await engine.rows(`SELECT column_name FROM (DESCRIBE ${from})`))
      .map((r) => String(r.column_name))
      .filter((c) => c !== ROW_ID_COLUMN)
    const byContent = columns.map((c) => `${sqlIdentifier(c)} NULLS LAST`).join(', ')
    // Only the rows of a repeated hash go through the window: a few, in the common case of a retried message.
    await engine.run(`
      CREATE TEMP TABLE ${setAside} AS
      SELECT ${rowId} FROM ${from}
      WHERE event_id IS NOT NULL AND hash(event_id) IN (SELECT h FROM ${repeated})
      QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY event_time NULLS LAST, ${byContent}) > 1`)
    const [counted] = await engine.rows(`SELECT count(*)::BIGINT AS n FROM ${setAside}`)
    duplicateEvents = Number(counted?.n ?? 0)
  }
  await engine.run(`DROP TABLE ${repeated}`)
  if (duplicateEvents === 0) {
    await engine.run(`DROP TABLE IF EXISTS ${setAside}`)
    await engine.run(`CREATE OR REPLACE TEMP VIEW ${sqlIdentifier(target)} AS SELECT * EXCLUDE (${rowId}) FROM ${from}`)
    await engine.run(
      `CREATE OR REPLACE TEMP VIEW ${sqlIdentifier(copies)} AS SELECT * EXCLUDE (${rowId}) FROM ${from} WHERE false`,
    )
    return {duplicateEvents}
  }
  await engine.run(
    `CREATE OR REPLACE TEMP VIEW ${sqlIdentifier(target)} AS
     SELECT * EXCLUDE (${rowId}) FROM ${from} ANTI JOIN ${setAside} USING (${rowId})`,
  )
  await engine.run(
    `CREATE OR REPLACE TEMP VIEW ${sqlIdentifier(copies)} AS
     SELECT * EXCLUDE (${rowId}) FROM ${from} SEMI JOIN ${setAside} USING (${rowId})`,
  )
  return {duplicateEvents}
}
