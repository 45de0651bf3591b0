import {DOUBLE, DuckDBDataChunk} from '@duckdb/node-api'
import type {Engine} from '../../engine/engine.js'
import {sqlIdentifier} from '../../engine/sql.js'

/** DuckDB's standard vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048

/**
 * Replaces `table` with columns of doubles, appended a data chunk at a time (a DOUBLE vector is filled in JavaScript
 * and copied once; an appender call per value costs about a microsecond each).
 */
export async function writeColumns(
  engine: Engine,
  table: string,
  columns: Record<string, ArrayLike<number>>,
): Promise<void> {
  const names = Object.keys(columns)
  const data = Object.values(columns)
  const rows = data[0]?.length ?? 0
  await engine.run(
    `CREATE OR REPLACE TABLE ${sqlIdentifier(table)} (${names.map((name) => `${sqlIdentifier(name)} DOUBLE`).join(', ')})`,
  )
  const appender = await engine.connection.createAppender(table)
  try {
    for (let start = 0; start < rows; start += CHUNK_ROWS) {
      const size = Math.min(CHUNK_ROWS, rows - start)
      const chunk = DuckDBDataChunk.create(
        names.map(() => DOUBLE),
        size,
      )
      data.forEach((column, j) => {
        const vector = chunk.getColumnVector(j)
        for (let i = 0; i < size; i++) vector.setItem(i, column[start + i] as number)
        vector.flush()
      })
      appender.appendDataChunk(chunk)
    }
    appender.flushSync()
  } finally {
    appender.closeSync()
  }
}
