import type {Engine} from '../engine/engine.js'
import {sqlString} from '../engine/sql.js'
import type {AddAction} from './actions.js'
import {type DeltaStruct, field} from './delta-schema.js'
import type {TableSpec} from './lake.js'
import {tablePath} from './lake.js'
import {writeQueryFile} from './parquet-files.js'

export const DEAD_LETTERS_TABLE = 'dead_letters'

const SCHEMA: DeltaStruct = {
  type: 'struct',
  fields: [
    field('topic', 'string'),
    field('partition', 'integer'),
    field('offset', 'long'),
    field('kafka_timestamp', 'timestamp'),
    field('key', 'binary'),
    field('value', 'binary'),
    field('reason', 'string'),
    field('ingested_at', 'timestamp'),
  ],
}

/** Rejected messages, kept byte for byte with the reason, so nothing that arrived is ever lost. */
export const DEAD_LETTERS_SPEC: TableSpec = {name: DEAD_LETTERS_TABLE, schema: SCHEMA, partitionColumns: []}

/** One rejected message as staged for the dead-letter table (bytes in base64, since NDJSON holds text). */
export interface DeadLetterRow {
  topic: string
  partition: number
  offset: number
  /** Kafka's message timestamp, ms since the epoch. */
  kafka_timestamp: number
  key_b64: string | null
  value_b64: string | null
  reason: string
}

/** Writes staged dead letters (NDJSON of DeadLetterRow) as one Parquet file and returns its add action. */
export async function writeDeadLetterFile(engine: Engine, ndjsonPath: string, lake: string): Promise<AddAction> {
  const query = `
    SELECT topic, "partition", "offset", make_timestamptz(kafka_timestamp * 1000) AS kafka_timestamp,
           from_base64(key_b64) AS "key", from_base64(value_b64) AS "value", reason, now() AS ingested_at
    FROM read_json(${sqlString(ndjsonPath)}, format = 'newline_delimited', columns = {
      'topic': 'VARCHAR', 'partition': 'INTEGER', 'offset': 'BIGINT', 'kafka_timestamp': 'BIGINT',
      'key_b64': 'VARCHAR', 'value_b64': 'VARCHAR', 'reason': 'VARCHAR'})`
  const {add} = await writeQueryFile(engine, query, tablePath(lake, DEAD_LETTERS_TABLE), SCHEMA)
  return add
}
