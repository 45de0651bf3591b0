import {
  type DuckDBArrayType,
  type DuckDBDecimalType,
  type DuckDBListType,
  type DuckDBMapType,
  type DuckDBStructType,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api'
import {
  AsyncByteQueue,
  Binary,
  Bool,
  type Data,
  DataType,
  DateDay,
  Decimal,
  Field,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  Map_,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  TimeMicrosecond,
  Timestamp,
  TimeUnit,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  Utf8,
} from 'apache-arrow'

/**
 * DuckDB result columns to Arrow: the Arrow type of each DuckDB type, and record batches built straight from the
 * values of DuckDB chunks (typed arrays and offsets, no row objects). Types Arrow has no exact match for here
 * (UUID, INTERVAL, UNION, BIT, ...) become their DuckDB text, as `CAST(x AS VARCHAR)` would show them.
 */
export function arrowTypeOf(type: DuckDBType): DataType {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return new Bool()
    case DuckDBTypeId.TINYINT:
      return new Int8()
    case DuckDBTypeId.SMALLINT:
      return new Int16()
    case DuckDBTypeId.INTEGER:
      return new Int32()
    case DuckDBTypeId.BIGINT:
      return new Int64()
    case DuckDBTypeId.UTINYINT:
      return new Uint8()
    case DuckDBTypeId.USMALLINT:
      return new Uint16()
    case DuckDBTypeId.UINTEGER:
      return new Uint32()
    case DuckDBTypeId.UBIGINT:
      return new Uint64()
    case DuckDBTypeId.FLOAT:
      return new Float32()
    case DuckDBTypeId.DOUBLE:
      return new Float64()
    case DuckDBTypeId.DECIMAL: {
      const decimal = type as DuckDBDecimalType
      return new Decimal(decimal.scale, decimal.width, 128)
    }
    // sum() of BIGINT gives HUGEINT: an exact 38-digit decimal keeps it a number for Arrow readers.
    case DuckDBTypeId.HUGEINT:
      return new Decimal(0, 38, 128)
    case DuckDBTypeId.BLOB:
      return new Binary()
    case DuckDBTypeId.DATE:
      return new DateDay()
    case DuckDBTypeId.TIMESTAMP:
      return new Timestamp(TimeUnit.MICROSECOND)
    case DuckDBTypeId.TIMESTAMP_S:
      return new Timestamp(TimeUnit.SECOND)
    case DuckDBTypeId.TIMESTAMP_MS:
      return new Timestamp(TimeUnit.MILLISECOND)
    case DuckDBTypeId.TIMESTAMP_NS:
      return new Timestamp(TimeUnit.NANOSECOND)
    case DuckDBTypeId.TIMESTAMP_TZ:
      return new Timestamp(TimeUnit.MICROSECOND, 'UTC')
    case DuckDBTypeId.TIME:
      return new TimeMicrosecond()
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return new List(new Field('item', arrowTypeOf((type as DuckDBListType | DuckDBArrayType).valueType), true))
    case DuckDBTypeId.STRUCT: {
      const struct = type as DuckDBStructType
      return new Struct(struct.entryNames.map((name, i) => new Field(name, arrowTypeOf(struct.entryTypes[i]!), true)))
    }
    case DuckDBTypeId.MAP: {
      const map = type as DuckDBMapType
      const entries = new Struct([
        new Field('key', arrowTypeOf(map.keyType), false),
        new Field('value', arrowTypeOf(map.valueType), true),
      ])
      return new Map_(new Field('entries', entries, false))
    }
    default:
      return new Utf8()
  }
}

/** The Arrow schema of a result with these column names and DuckDB types. */
export function arrowSchemaOf(names: readonly string[], types: readonly DuckDBType[]): Schema {
  return new Schema(names.map((name, i) => new Field(name, arrowTypeOf(types[i]!), true)))
}

/** One record batch from the values of each column (all columns the same length). */
export function recordBatchOf(
  schema: Schema,
  columns: readonly (readonly DuckDBValue[])[],
  length: number,
): RecordBatch {
  const children = schema.fields.map((field, i) => dataOf(field.type, columns[i]!))
  return new RecordBatch(schema, makeData({type: new Struct(schema.fields), length, nullCount: 0, children}))
}

function validity(values: readonly unknown[]): {nullBitmap: Uint8Array; nullCount: number} {
  const nullBitmap = new Uint8Array((values.length + 7) >> 3)
  let nullCount = 0
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null || values[i] === undefined) nullCount++
    else nullBitmap[i >> 3]! |= 1 << (i & 7)
  }
  return {nullBitmap, nullCount}
}

const encoder = new TextEncoder()

// Arrow's generic Data typing needs one concrete type per makeData call; the switch below knows which it built.
// biome-ignore lint/suspicious/noExplicitAny: see above
type AnyData = Data<any>

function dataOf(type: DataType, values: readonly DuckDBValue[]): AnyData {
  const length = values.length
  const {nullBitmap, nullCount} = validity(values)
  const base = {length, nullCount, nullBitmap}
  if (DataType.isBool(type)) {
    const data = new Uint8Array((length + 7) >> 3)
    for (let i = 0; i < length; i++) if (values[i] === true) data[i >> 3]! |= 1 << (i & 7)
    return makeData({type, ...base, data})
  }
  if (DataType.isInt(type) || DataType.isFloat(type)) {
    const data = new type.ArrayType(length)
    const wide = DataType.isInt(type) && type.bitWidth === 64
    for (let i = 0; i < length; i++) {
      const v = values[i]
      if (v !== null) data[i] = (wide ? BigInt(v as bigint | number) : Number(v)) as never
    }
    return makeData({type, ...base, data} as never)
  }
  if (DataType.isDecimal(type)) {
    // 128-bit two's complement, little-endian: low 64 bits, then high 64 bits.
    const words = new BigUint64Array(length * 2)
    for (let i = 0; i < length; i++) {
      const v = values[i]
      if (v === null) continue
      const unscaled = typeof v === 'bigint' ? v : (v as {value: bigint}).value
      words[2 * i] = BigInt.asUintN(64, unscaled)
      words[2 * i + 1] = BigInt.asUintN(64, unscaled >> 64n)
    }
    return makeData({type, ...base, data: new Uint32Array(words.buffer)})
  }
  if (DataType.isDate(type)) {
    const data = new Int32Array(length)
    for (let i = 0; i < length; i++) if (values[i] !== null) data[i] = (values[i] as {days: number}).days
    return makeData({type, ...base, data})
  }
  if (DataType.isTimestamp(type) || DataType.isTime(type)) {
    const data = new BigInt64Array(length)
    for (let i = 0; i < length; i++) {
      const v = values[i] as {micros?: bigint; seconds?: bigint; millis?: bigint; nanos?: bigint} | null
      if (v !== null) data[i] = v.micros ?? v.millis ?? v.seconds ?? v.nanos ?? 0n
    }
    return makeData({type, ...base, data} as never)
  }
  if (DataType.isBinary(type) || DataType.isUtf8(type)) {
    const parts: Uint8Array[] = []
    const valueOffsets = new Int32Array(length + 1)
    let size = 0
    for (let i = 0; i < length; i++) {
      const v = values[i]
      if (v !== null) {
        const bytes = DataType.isBinary(type) ? (v as {bytes: Uint8Array}).bytes : encoder.encode(String(v))
        parts.push(bytes)
        size += bytes.length
      }
      valueOffsets[i + 1] = size
    }
    const data = new Uint8Array(size)
    let at = 0
    for (const part of parts) {
      data.set(part, at)
      at += part.length
    }
    return makeData({type, ...base, valueOffsets, data} as never)
  }
  if (DataType.isList(type) || DataType.isMap(type)) {
    const valueOffsets = new Int32Array(length + 1)
    const items: DuckDBValue[] = []
    const keys: DuckDBValue[] = []
    for (let i = 0; i < length; i++) {
      const v = values[i]
      if (v !== null) {
        if (DataType.isMap(type)) {
          for (const entry of (v as {entries: {key: DuckDBValue; value: DuckDBValue}[]}).entries) {
            keys.push(entry.key)
            items.push(entry.value)
          }
        } else {
          items.push(...(v as {items: readonly DuckDBValue[]}).items)
        }
      }
      valueOffsets[i + 1] = items.length
    }
    if (DataType.isMap(type)) {
      const entries = type.children[0]!.type as Struct
      const child = makeData({
        type: entries,
        length: items.length,
        nullCount: 0,
        children: [dataOf(entries.children[0]!.type, keys), dataOf(entries.children[1]!.type, items)],
      })
      return makeData({type, ...base, valueOffsets, child})
    }
    return makeData({type, ...base, valueOffsets, child: dataOf(type.children[0]!.type, items)})
  }
  if (DataType.isStruct(type)) {
    const children = type.children.map((field) =>
      dataOf(
        field.type,
        values.map((v) =>
          v === null ? null : ((v as {entries: Record<string, DuckDBValue>}).entries[field.name] ?? null),
        ),
      ),
    )
    return makeData({type, ...base, children})
  }
  throw new Error(`No Arrow conversion for ${type}`)
}

/**
 * A byte queue that hands the writer's output to the caller as soon as a batch is written, instead of buffering it
 * for an async reader: the caller then writes it out with back-pressure before asking DuckDB for more rows.
 */
class PendingBytes extends AsyncByteQueue {
  private chunks: Uint8Array[] = []

  override write(value: unknown): void {
    const bytes = value as Uint8Array
    if (bytes.byteLength > 0) this.chunks.push(bytes)
  }

  take(): Uint8Array[] {
    const chunks = this.chunks
    this.chunks = []
    return chunks
  }
}

/** Writes an Arrow IPC stream (schema, record batches, end-of-stream marker) incrementally. */
export class ArrowStreamEncoder {
  private readonly sink = new PendingBytes()
  private readonly writer = new RecordBatchStreamWriter()

  constructor(readonly schema: Schema) {
    // The schema goes out first, so a result with no rows is still a valid stream that names its columns.
    this.writer.reset(this.sink as never, schema)
  }

  /** The IPC bytes of one more batch (the schema message comes with the first call). */
  encode(batch: RecordBatch): Uint8Array[] {
    this.writer.write(batch)
    return this.sink.take()
  }

  /** The bytes still pending plus the end-of-stream marker. */
  finish(): Uint8Array[] {
    this.writer.finish()
    return this.sink.take()
  }
}
