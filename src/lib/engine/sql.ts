/**
 * The one quoting helper for text that SQL cannot take as a parameter (table function paths in views, identifiers).
 * Everything else goes in as a bound parameter.
 */
export function sqlString(text: string): string {
  if (text.includes('\u0000')) throw new Error('SQL text may not contain NUL characters')
  return `'${text.replaceAll("'", "''")}'`
}

export function sqlIdentifier(name: string): string {
  if (name.includes('\u0000')) throw new Error('SQL identifiers may not contain NUL characters')
  return `"${name.replaceAll('"', '""')}"`
}

/** A DuckDB list literal of strings, e.g. the files of a snapshot for read_parquet. */
export function sqlStringList(items: readonly string[]): string {
  return `[${items.map(sqlString).join(', ')}]`
}
