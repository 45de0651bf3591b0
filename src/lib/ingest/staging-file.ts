import {closeSync, openSync, rmSync, writeSync} from 'node:fs'

const DATES_PER_COPY = 8
const ROWS_PER_COPY = 65_536

/**
 * NDJSON lines collected in memory and appended to a file by `spill()`, so a flush never holds all its text at once.
 * The file is created by the first spill.
 */
export class StagingFile {
  private pending: string[] = []
  private closed = false
  /** An upper bound of the longest line's UTF-8 size (three bytes per UTF-16 unit at most). */
  maxLineBytes = 0
  lines = 0

  constructor(readonly path: string) {}

  add(line: string): void {
    this.pending.push(line)
    this.lines++
    if (line.length * 3 > this.maxLineBytes) this.maxLineBytes = line.length * 3
  }

  spill(): void {
    if (this.pending.length === 0) return
    const fd = openSync(this.path, 'a')
    try {
      writeSync(fd, `${this.pending.join('\n')}\n`)
    } finally {
      closeSync(fd)
    }
    this.pending = []
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.spill()
  }

  remove(): void {
    this.pending = []
    this.closed = true
    rmSync(this.path, {force: true})
  }
}

/**
 * Groups a flush's per-date files into COPY statements. DuckDB keeps every open partition of a partitioned COPY in
 * memory until the partition's file ends or fills a row group (column blocks per partition, per thread), so a COPY
 * over months of dates, or over a few big dates, holds most of a flush. A group is a few dates and a bounded number of
 * rows; a date with more rows than that is a COPY of its own, which DuckDB writes out one row group at a time.
 */
export function copyGroups(files: StagingFile[]): StagingFile[][] {
  const groups: StagingFile[][] = []
  let group: StagingFile[] = []
  let rows = 0
  for (const file of files) {
    if (group.length > 0 && (group.length >= DATES_PER_COPY || rows + file.lines > ROWS_PER_COPY)) {
      groups.push(group)
      group = []
      rows = 0
    }
    group.push(file)
    rows += file.lines
  }
  if (group.length > 0) groups.push(group)
  return groups
}
