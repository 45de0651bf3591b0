import {EVENT_COLUMNS} from '../events/columns.js'

/** The partition column of the events table: the UTC date of event_time. */
export const EVENTS_PARTITION_COLUMN = 'event_date'

type DeltaType = string | {type: 'array'; elementType: DeltaType; containsNull: boolean} | DeltaStruct
interface DeltaField {
  name: string
  type: DeltaType
  nullable: boolean
  metadata: Record<string, never>
}
export interface DeltaStruct {
  type: 'struct'
  fields: DeltaField[]
}

export function field(name: string, type: DeltaType, nullable = true): DeltaField {
  return {name, type, nullable, metadata: {}}
}

/** Delta type of a DuckDB column type used by the contract. */
export function deltaType(duckdbType: string): DeltaType {
  if (duckdbType === 'VARCHAR') return 'string'
  if (duckdbType === 'INTEGER') return 'integer'
  if (duckdbType === 'BIGINT') return 'long'
  if (duckdbType === 'DATE') return 'date'
  if (duckdbType === 'BLOB') return 'binary'
  // TIMESTAMPTZ is written to Parquet as UTC-adjusted microseconds: Delta's (and Spark's) "timestamp".
  if (duckdbType === 'TIMESTAMPTZ') return 'timestamp'
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(duckdbType)
  if (decimal) return `decimal(${decimal[1]},${decimal[2]})`
  if (duckdbType.startsWith('STRUCT(') && duckdbType.endsWith(')[]')) {
    return {type: 'array', elementType: lineItemStruct(), containsNull: true}
  }
  throw new Error(`No Delta type for DuckDB type ${duckdbType}`)
}

function lineItemStruct(): DeltaStruct {
  return {
    type: 'struct',
    fields: [
      field('product_id', 'string'),
      field('quantity', 'integer'),
      field('unit_price', deltaType('DECIMAL(12,2)')),
    ],
  }
}

/**
 * The Delta schema of the events table, derived from the event contract: every contract column (nullable, since a
 * column belongs to some event types only) plus the event_date partition column.
 */
export function eventsDeltaSchema(): DeltaStruct {
  return {
    type: 'struct',
    fields: [
      ...EVENT_COLUMNS.map((c) => field(c.name, deltaType(c.duckdbType))),
      field(EVENTS_PARTITION_COLUMN, 'date'),
    ],
  }
}
