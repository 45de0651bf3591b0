import {createReadStream, mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type DuckDBResult, type DuckDBType, DuckDBTypeId, type DuckDBValue} from '@duckdb/node-api'
import Table from 'cli-table3'
import type {Engine} from '../engine/engine.js'
import {sqlString} from '../engine/sql.js'
import {UsageError} from '../errors.js'
import {ArrowStreamEncoder, arrowSchemaOf, recordBatchOf} from './arrow.js'
import type {QueryFormat} from './formats.js'
import {type ByteSink, checkOutputPath, FileSink, OutputClosedError, StreamSink, TempTarget} from './sink.js'
import {sqlError} from './sql-errors.js'

/** One checked SELECT statement and the columns it returns. */
export interface PreparedQuery {
  /** The statement's text, without a trailing semicolon; it runs as a subquery of what writes it. */
  sql: string
  columns: {name: string; type: DuckDBType}[]
}

export interface ColumnInfo {
  name: string
  type: string
}

export interface WriteOptions {
  format: QueryFormat
  /** A file path, or `-` for `stdout`. */
  output: string
  /** The stream `-` stands for (the command passes process.stdout). */
  stdout: NodeJS.WritableStream
  /** The flag that named the output, for messages. */
  outputFlag?: string
  /** Rows shown by the `table` format. */
  maxRows?: number
  /** Colour the `table` format's header and borders. */
  color?: boolean
  signal?: AbortSignal
}

export interface WriteSummary {
  format: QueryFormat
  /** The absolute path written, or null for stdout. */
  output: string | null
  rows: number
  bytes: number
  columns: ColumnInfo[]
  /** `table` only: the result had more rows than were shown. */
  truncated: boolean
  /** The reader of stdout went away before the end (`| head`); what was written is all it wanted. */
  outputClosed: boolean
}

/** Rows per Arrow record batch: big enough that readers are fast, small enough to stay a few MB in memory. */
const ARROW_BATCH_ROWS = 16_384

/**
 * Checks that `sql` is one statement that returns rows, and returns its columns. Syntax and binder errors are usage
 * errors with DuckDB's message. Nothing runs yet.
 */
export async function prepareQuery(engine: Engine, sql: string, code = 'SQL_INVALID'): Promise<PreparedQuery> {
  const text = sql.trim().replace(/;\s*$/, '')
  if (text === '') throw new UsageError('SQL_EMPTY', 'The SQL is empty.', {hints: ['ecap query "SELECT 42"']})
  try {
    const statements = await engine.connection.extractStatements(text)
    if (statements.count !== 1) {
      throw new UsageError('SQL_MULTIPLE_STATEMENTS', `The SQL holds ${statements.count} statements; give one query.`, {
        hints: ['Combine steps with WITH: WITH a AS (...) SELECT ... FROM a'],
      })
    }
    const prepared = await statements.prepare(0)
    try {
      const columns = Array.from({length: prepared.columnCount}, (_, i) => ({
        name: prepared.columnName(i),
        type: prepared.columnType(i),
      }))
      if (columns.length === 0) {
        throw new UsageError('SQL_NO_RESULT', 'The statement returns no rows; ecap query runs queries.', {
          hints: ['SELECT ..., FROM ..., WITH ... SELECT, DESCRIBE orders, SHOW TABLES'],
        })
      }
      // Writers run the statement as a subquery; some statements (PRAGMA, EXPLAIN) cannot be one.
      await (await engine.connection.prepare(`SELECT * FROM (\n${text}\n)`)).destroySync()
      return {sql: text, columns}
    } finally {
      prepared.destroySync()
    }
  } catch (error) {
    throw sqlError(error, code, [
      'ecap query "SHOW TABLES" lists the views; ecap query "DESCRIBE orders" shows the columns of one.',
    ])
  }
}

/**
 * Runs the query and streams its result to a file or stdout in `format`, one DuckDB chunk at a time: memory stays
 * bounded whatever the size of the result. A file appears under its name only when complete.
 */
export async function writeResult(engine: Engine, query: PreparedQuery, options: WriteOptions): Promise<WriteSummary> {
  const flag = options.outputFlag ?? '--output'
  const toStdout = options.output === '-'
  const columns = query.columns.map((c) => ({name: c.name, type: c.type.toString()}))
  const summary: WriteSummary = {
    format: options.format,
    output: toStdout ? null : checkOutputPath(options.output, flag),
    rows: 0,
    bytes: 0,
    columns,
    truncated: false,
    outputClosed: false,
  }
  const onAbort = () => engine.connection.interrupt()
  options.signal?.addEventListener('abort', onAbort)
  try {
    if (options.format === 'parquet') {
      await writeParquet(engine, query, options, summary)
      return summary
    }
    if (!toStdout && options.format !== 'table' && options.format !== 'arrow') {
      await copyToFile(engine, query, options.format, summary.output!, summary)
      return summary
    }
    const sink: ByteSink = toStdout ? new StreamSink(options.stdout) : new FileSink(options.output, flag)
    try {
      if (options.format === 'arrow') summary.rows = await writeArrow(engine, query, sink, options.signal)
      else if (options.format === 'table') await writeTable(engine, query, sink, options, summary)
      else summary.rows = await writeText(engine, query, options.format, sink, options.signal)
      await sink.commit()
      summary.bytes = sink.bytes
      return summary
    } catch (error) {
      sink.abort()
      if (error instanceof OutputClosedError) {
        summary.outputClosed = true
        summary.bytes = sink.bytes
        return summary
      }
      throw error
    }
  } catch (error) {
    options.signal?.throwIfAborted()
    throw sqlError(error, 'SQL_FAILED')
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** Runs `sql` as a stream of chunks; errors of the user's SQL become usage errors with DuckDB's message. */
async function stream(engine: Engine, sql: string): Promise<DuckDBResult> {
  try {
    return await engine.connection.stream(sql)
  } catch (error) {
    throw sqlError(error, 'SQL_FAILED')
  }
}

async function* chunksOf(result: DuckDBResult, signal?: AbortSignal) {
  for (;;) {
    signal?.throwIfAborted()
    const chunk = await result.fetchChunk()
    if (!chunk || chunk.rowCount === 0) return
    yield chunk
  }
}

/** The query as a subquery whose columns are renamed c0, c1, ... (duplicate or odd names cannot clash). */
function positional(query: PreparedQuery): string {
  return `(\n${query.sql}\n) AS q(${query.columns.map((_, i) => `c${i}`).join(', ')})`
}

/**
 * SQL that turns each row into one line of text, so DuckDB does the formatting (vectorised, on all its threads)
 * and Node only joins the lines of a chunk. NULL is an empty CSV field; an empty string is `""`.
 */
function lineSql(query: PreparedQuery, format: 'csv' | 'ndjson' | 'json'): string {
  const n = query.columns.length
  if (format === 'csv') {
    const cells = Array.from(
      {length: n},
      (_, i) =>
        `CASE WHEN c${i} IS NULL THEN '' WHEN c${i} = '' OR regexp_matches(c${i}, '[",\\r\\n]') ` +
        `THEN '"' || replace(c${i}, '"', '""') || '"' ELSE c${i} END`,
    )
    const text = Array.from({length: n}, (_, i) => `CAST(c${i} AS VARCHAR) AS c${i}`)
    return `SELECT concat_ws(',', ${cells.join(', ')}) AS line FROM (SELECT ${text.join(', ')} FROM ${positional(query)})`
  }
  const pairs = query.columns.map((c, i) => `${sqlString(c.name)}, c${i}`)
  return `SELECT CAST(json_object(${pairs.join(', ')}) AS VARCHAR) AS line FROM ${positional(query)}`
}

function csvField(text: string): string {
  return text === '' || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

async function writeText(
  engine: Engine,
  query: PreparedQuery,
  format: 'csv' | 'ndjson' | 'json',
  sink: ByteSink,
  signal?: AbortSignal,
): Promise<number> {
  const result = await stream(engine, lineSql(query, format))
  let rows = 0
  if (format === 'csv') await sink.write(`${query.columns.map((c) => csvField(c.name)).join(',')}\n`)
  const separator = format === 'json' ? ',\n' : '\n'
  for await (const chunk of chunksOf(result, signal)) {
    const lines = chunk.getColumnValues(0) as string[]
    const prefix = format === 'json' ? (rows === 0 ? '[\n' : ',\n') : ''
    rows += lines.length
    await sink.write(`${prefix}${lines.join(separator)}${format === 'json' ? '' : '\n'}`)
  }
  if (format === 'json') await sink.write(rows === 0 ? '[]\n' : '\n]\n')
  return rows
}

async function writeArrow(engine: Engine, query: PreparedQuery, sink: ByteSink, signal?: AbortSignal): Promise<number> {
  const schema = arrowSchemaOf(
    query.columns.map((c) => c.name),
    query.columns.map((c) => c.type),
  )
  const encoder = new ArrowStreamEncoder(schema)
  const result = await stream(engine, `SELECT * FROM ${positional(query)}`)
  let pending: DuckDBValue[][] = query.columns.map(() => [])
  let pendingRows = 0
  let rows = 0
  const flush = async () => {
    if (pendingRows === 0) return
    for (const bytes of encoder.encode(recordBatchOf(schema, pending, pendingRows))) await sink.write(bytes)
    rows += pendingRows
    pending = query.columns.map(() => [])
    pendingRows = 0
  }
  for await (const chunk of chunksOf(result, signal)) {
    for (let i = 0; i < query.columns.length; i++) {
      const values = chunk.getColumnValues(i)
      const column = pending[i]!
      for (const value of values) column.push(value)
    }
    pendingRows += chunk.rowCount
    if (pendingRows >= ARROW_BATCH_ROWS) await flush()
  }
  await flush()
  for (const bytes of encoder.finish()) await sink.write(bytes)
  return rows
}

const COPY_OPTIONS: Record<'parquet' | 'csv' | 'ndjson' | 'json', string> = {
  parquet: 'FORMAT parquet, COMPRESSION zstd',
  csv: 'FORMAT csv, HEADER true',
  ndjson: 'FORMAT json',
  json: 'FORMAT json, ARRAY true',
}

/**
 * Files are written by DuckDB COPY, which streams the result on all threads without holding it, to a temp file
 * beside the target that is renamed into place when complete (and deleted if anything fails).
 */
async function copyToFile(
  engine: Engine,
  query: PreparedQuery,
  format: keyof typeof COPY_OPTIONS,
  path: string,
  summary: WriteSummary,
): Promise<void> {
  const target = new TempTarget(path)
  try {
    summary.rows = await copy(engine, query, format, target.tempPath)
    target.commit()
  } finally {
    target.abort()
  }
  summary.bytes = statSync(path).size
}

async function copy(engine: Engine, query: PreparedQuery, format: keyof typeof COPY_OPTIONS, path: string) {
  const [row] = await engine.rows(
    `COPY (SELECT * FROM (\n${query.sql}\n)) TO ${sqlString(path)} (${COPY_OPTIONS[format]})`,
  )
  return Number(Object.values(row ?? {})[0] ?? 0)
}

/**
 * Parquet has its footer at the end, so it is never streamed as it is made: for stdout DuckDB writes it to a temp
 * file in the system temp folder, which is then copied out in 1 MiB pieces and deleted.
 */
async function writeParquet(
  engine: Engine,
  query: PreparedQuery,
  options: WriteOptions,
  summary: WriteSummary,
): Promise<void> {
  if (summary.output !== null) {
    await copyToFile(engine, query, 'parquet', summary.output, summary)
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'ecap-export-'))
  const sink = new StreamSink(options.stdout)
  try {
    const file = join(dir, 'result.parquet')
    summary.rows = await copy(engine, query, 'parquet', file)
    for await (const buffer of createReadStream(file, {highWaterMark: 1 << 20})) {
      options.signal?.throwIfAborted()
      await sink.write(buffer as Buffer)
    }
    await sink.commit()
  } catch (error) {
    if (!(error instanceof OutputClosedError)) throw error
    summary.outputClosed = true
  } finally {
    sink.abort()
    summary.bytes = sink.bytes
    rmSync(dir, {recursive: true, force: true})
  }
}

const NUMERIC_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.FLOAT,
  DuckDBTypeId.DOUBLE,
  DuckDBTypeId.DECIMAL,
])

function tableCell(value: DuckDBValue): string {
  return value === null ? 'NULL' : String(value)
}

/** The first `maxRows` rows as a terminal table; DuckDB stops producing the rest once they are not asked for. */
async function writeTable(
  engine: Engine,
  query: PreparedQuery,
  sink: ByteSink,
  options: WriteOptions,
  summary: WriteSummary,
): Promise<void> {
  const maxRows = options.maxRows ?? 100
  const text = query.columns.map((_, i) => `CAST(c${i} AS VARCHAR) AS c${i}`)
  const result = await stream(engine, `SELECT ${text.join(', ')} FROM ${positional(query)}`)
  const table = new Table({
    head: query.columns.map((c) => c.name),
    colAligns: query.columns.map((c) => (NUMERIC_TYPES.has(c.type.typeId) ? 'right' : 'left')),
    style: options.color ? {compact: true} : {head: [], border: [], compact: true},
  })
  let rows = 0
  for await (const chunk of chunksOf(result, options.signal)) {
    for (const row of chunk.getRows()) {
      if (rows === maxRows) {
        summary.truncated = true
        break
      }
      table.push(row.map(tableCell))
      rows++
    }
    if (summary.truncated) break
  }
  summary.rows = rows
  await sink.write(`${table.toString()}\n`)
}
