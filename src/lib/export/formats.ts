import {extname} from 'node:path'

/** Formats a result can be written in, to a file or to stdout. */
export const DATA_FORMATS = ['parquet', 'csv', 'ndjson', 'json', 'arrow'] as const
export type DataFormat = (typeof DATA_FORMATS)[number]

/** `ecap query` also renders a terminal table. */
export const QUERY_FORMATS = ['table', ...DATA_FORMATS] as const
export type QueryFormat = (typeof QUERY_FORMATS)[number]

/** Formats that are bytes, not text: never written to a terminal. */
export const BINARY_FORMATS: readonly QueryFormat[] = ['parquet', 'arrow']

const EXTENSIONS: Record<string, DataFormat> = {
  '.parquet': 'parquet',
  '.pq': 'parquet',
  '.csv': 'csv',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.json': 'json',
  '.arrow': 'arrow',
  '.arrows': 'arrow',
  '.ipc': 'arrow',
}

/** The format a file name implies (`orders.parquet` → parquet), if any. */
export function formatOfPath(path: string): DataFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()]
}
