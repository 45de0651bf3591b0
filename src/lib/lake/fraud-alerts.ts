import type {Engine} from '../engine/engine.js'
import {sqlString} from '../engine/sql.js'
import type {AddAction} from './actions.js'
import {type DeltaStruct, field} from './delta-schema.js'
import type {TableSpec} from './lake.js'
import {tablePath} from './lake.js'
import {writeQueryFile} from './parquet-files.js'

export const FRAUD_ALERTS_TABLE = 'fraud_alerts'

const SCHEMA: DeltaStruct = {
  type: 'struct',
  fields: [
    field('order_id', 'string'),
    field('customer_id', 'string'),
    field('event_time', 'timestamp'),
    field('score', 'double'),
    field('reasons', {type: 'array', elementType: 'string', containsNull: true}),
    field('scored_at', 'timestamp'),
    field('topic', 'string'),
    field('partition', 'integer'),
    field('offset', 'long'),
  ],
}

/** Orders that live scoring (`ecap ingest --score-fraud`) flagged, with the Kafka position of their purchase. */
export const FRAUD_ALERTS_SPEC: TableSpec = {name: FRAUD_ALERTS_TABLE, schema: SCHEMA, partitionColumns: []}

/** One alert as staged for the table. */
export interface FraudAlertRow {
  order_id: string
  customer_id: string | null
  /** The purchase's event_time, ISO 8601. */
  event_time: string
  score: number
  reasons: string[]
  /** When the order was scored, ms since the epoch. */
  scored_at: number
  topic: string
  partition: number
  offset: number
}

/** Writes staged alerts (NDJSON of FraudAlertRow) as one Parquet file and returns its add action. */
export async function writeFraudAlertFile(engine: Engine, ndjsonPath: string, lake: string): Promise<AddAction> {
  const query = `
    SELECT order_id, customer_id, CAST(event_time AS TIMESTAMPTZ) AS event_time, score, reasons,
           make_timestamptz(scored_at * 1000) AS scored_at, topic, "partition", "offset"
    FROM read_json(${sqlString(ndjsonPath)}, format = 'newline_delimited', columns = {
      'order_id': 'VARCHAR', 'customer_id': 'VARCHAR', 'event_time': 'VARCHAR', 'score': 'DOUBLE',
      'reasons': 'VARCHAR[]', 'scored_at': 'BIGINT', 'topic': 'VARCHAR', 'partition': 'INTEGER',
      'offset': 'BIGINT'})`
  const {add} = await writeQueryFile(engine, query, tablePath(lake, FRAUD_ALERTS_TABLE), SCHEMA)
  return add
}
