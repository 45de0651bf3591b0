import {FIELD_NAMES, FIELDS, type FieldName, type FieldSpec} from './contract.js'

/** DuckDB type of an order line, shared by the items column and the ingest SQL. */
export const LINE_ITEM_DUCKDB_TYPE = 'STRUCT(product_id VARCHAR, quantity INTEGER, unit_price DECIMAL(12,2))'

/**
 * The DuckDB column type of a field. Parquet written from these types is readable by Spark and delta-rs:
 * timestamps are TIMESTAMPTZ (microseconds, UTC), money DECIMAL(12,2), order lines a list of structs.
 */
export function duckdbType(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'string':
    case 'enum':
    case 'country':
      return 'VARCHAR'
    case 'int':
      return spec.max > 2_147_483_647 ? 'BIGINT' : 'INTEGER'
    case 'money':
      return 'DECIMAL(12,2)'
    case 'timestamp':
      return 'TIMESTAMPTZ'
    case 'items':
      return `${LINE_ITEM_DUCKDB_TYPE}[]`
  }
}

export interface EventColumn {
  name: FieldName
  duckdbType: string
}

/** The columns of the events table, in contract order. */
export const EVENT_COLUMNS: EventColumn[] = FIELD_NAMES.map((name) => ({
  name,
  duckdbType: duckdbType(FIELDS[name].spec),
}))
