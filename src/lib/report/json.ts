/** A report's typed data as indented JSON, numbers raw: the shape `ecap report --format json` documents. */
export function renderJson(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`
}
