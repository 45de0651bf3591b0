import {type DuckDBDecimalType, type DuckDBType, DuckDBTypeId} from '@duckdb/node-api'

/**
 * How one DuckDB column lands in PostgreSQL: the column type BI tools read (`numeric`, `timestamptz`, `text`, ...) and
 * the DuckDB expression that renders a value as PostgreSQL's input syntax for that type, so DuckDB does the formatting
 * (vectorised) and Node only joins lines. `docs/postgres.md` lists the mapping for users.
 */
export interface PgColumnType {
  /** The PostgreSQL type, as written in CREATE TABLE. */
  pgType: string
  /** A DuckDB expression of `column` giving VARCHAR in PostgreSQL's input syntax (NULL stays NULL). */
  text(column: string): string
}

const cast = (column: string) => `CAST(${column} AS VARCHAR)`

const plain = (pgType: string): PgColumnType => ({pgType, text: cast})

/**
 * Timestamps become timestamptz: ecap's sessions run in UTC, so a TIMESTAMP without a zone is a UTC time, and rendering
 * it through TIMESTAMPTZ writes the `+00` offset PostgreSQL needs to read it as one whatever the server's TimeZone.
 */
const timestamptz: PgColumnType = {
  pgType: 'timestamptz',
  text: (column) => `CAST(CAST(${column} AS TIMESTAMPTZ) AS VARCHAR)`,
}

/** Nested values (lists, structs, maps, unions) as JSON, which BI tools and PostgreSQL's operators can take apart. */
const jsonb: PgColumnType = {pgType: 'jsonb', text: (column) => `CAST(to_json(${column}) AS VARCHAR)`}

const BY_TYPE_ID: Partial<Record<DuckDBTypeId, PgColumnType>> = {
  [DuckDBTypeId.BOOLEAN]: plain('boolean'),
  [DuckDBTypeId.TINYINT]: plain('smallint'),
  [DuckDBTypeId.UTINYINT]: plain('smallint'),
  [DuckDBTypeId.SMALLINT]: plain('smallint'),
  [DuckDBTypeId.USMALLINT]: plain('integer'),
  [DuckDBTypeId.INTEGER]: plain('integer'),
  [DuckDBTypeId.UINTEGER]: plain('bigint'),
  [DuckDBTypeId.BIGINT]: plain('bigint'),
  // PostgreSQL has no unsigned or 128-bit integers: numeric holds every value exactly.
  [DuckDBTypeId.UBIGINT]: plain('numeric(20,0)'),
  [DuckDBTypeId.HUGEINT]: plain('numeric(39,0)'),
  [DuckDBTypeId.UHUGEINT]: plain('numeric(39,0)'),
  [DuckDBTypeId.BIGNUM]: plain('numeric'),
  // DuckDB renders doubles in the shortest text that reads back to the same bits; NaN and ±Infinity are written as
  // PostgreSQL's own NaN and ±Infinity, which double precision holds (BI tools show them as such).
  [DuckDBTypeId.FLOAT]: {pgType: 'real', text: (column) => floatText(column)},
  [DuckDBTypeId.DOUBLE]: {pgType: 'double precision', text: (column) => floatText(column)},
  [DuckDBTypeId.DATE]: plain('date'),
  [DuckDBTypeId.TIME]: plain('time'),
  [DuckDBTypeId.TIME_NS]: plain('time'),
  [DuckDBTypeId.TIME_TZ]: plain('timetz'),
  [DuckDBTypeId.TIMESTAMP]: timestamptz,
  [DuckDBTypeId.TIMESTAMP_S]: timestamptz,
  [DuckDBTypeId.TIMESTAMP_MS]: timestamptz,
  [DuckDBTypeId.TIMESTAMP_NS]: timestamptz,
  [DuckDBTypeId.TIMESTAMP_TZ]: timestamptz,
  [DuckDBTypeId.INTERVAL]: plain('interval'),
  [DuckDBTypeId.UUID]: plain('uuid'),
  [DuckDBTypeId.VARCHAR]: plain('text'),
  [DuckDBTypeId.ENUM]: plain('text'),
  [DuckDBTypeId.BIT]: plain('varbit'),
  // bytea's hex input form: \x followed by two hex digits a byte.
  [DuckDBTypeId.BLOB]: {pgType: 'bytea', text: (column) => `'\\x' || lower(hex(${column}))`},
  [DuckDBTypeId.LIST]: jsonb,
  [DuckDBTypeId.ARRAY]: jsonb,
  [DuckDBTypeId.STRUCT]: jsonb,
  [DuckDBTypeId.MAP]: jsonb,
  [DuckDBTypeId.UNION]: jsonb,
  [DuckDBTypeId.VARIANT]: jsonb,
}

function floatText(column: string): string {
  return `CASE WHEN isnan(${column}) THEN 'NaN' WHEN isinf(${column}) THEN (CASE WHEN ${column} > 0 THEN 'Infinity' ELSE '-Infinity' END) ELSE CAST(${column} AS VARCHAR) END`
}

/** The PostgreSQL column for a DuckDB type; a type PostgreSQL has no match for goes as its DuckDB text. */
export function pgColumnType(type: DuckDBType): PgColumnType {
  // DuckDB's JSON is VARCHAR under an alias: keep it JSON.
  if (type.typeId === DuckDBTypeId.VARCHAR && type.alias === 'JSON') return {pgType: 'jsonb', text: cast}
  if (type.typeId === DuckDBTypeId.DECIMAL) {
    const decimal = type as DuckDBDecimalType
    return plain(`numeric(${decimal.width},${decimal.scale})`)
  }
  return BY_TYPE_ID[type.typeId] ?? plain('text')
}

/**
 * SQL that turns each row into one line of PostgreSQL's COPY CSV format: NULL is an unquoted empty field and an empty
 * string a quoted one (`""`), so the two stay apart; fields with a quote, comma, line break or backslash are quoted
 * (a lone `\.` line would otherwise end the data).
 */
export function copyLineSql(from: string, columns: {type: DuckDBType}[]): string {
  const texts = columns.map((c, i) => `${pgColumnType(c.type).text(`c${i}`)} AS t${i}`)
  const cells = columns.map(
    (_, i) =>
      `CASE WHEN t${i} IS NULL THEN '' WHEN t${i} = '' OR regexp_matches(t${i}, '[",\\r\\n\\\\]') ` +
      `THEN '"' || replace(t${i}, '"', '""') || '"' ELSE t${i} END`,
  )
  return `SELECT concat_ws(',', ${cells.join(', ')}) AS line FROM (SELECT ${texts.join(', ')} FROM ${from})`
}
