import {duckdbType} from './columns.js'
import {
  COMMON_FIELDS,
  EVENT_TYPES,
  FIELDS,
  type FieldName,
  type FieldSpec,
  MAX_EVENT_TIME,
  MIN_EVENT_TIME,
  SCHEMA_VERSION,
} from './contract.js'

function describeSpec(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'string':
      return `string, at most ${spec.maxLength} characters${spec.pattern ? `, matching \`${spec.pattern.source}\`` : ''}`
    case 'enum':
      return `one of ${spec.values.map((v) => `\`${v}\``).join(', ')}`
    case 'int':
      return `integer from ${spec.min} to ${spec.max}`
    case 'money':
      return 'number >= 0 with at most two decimals'
    case 'timestamp':
      return `ISO 8601 UTC string with milliseconds (\`YYYY-MM-DDTHH:MM:SS.mmmZ\`), from ${MIN_EVENT_TIME.slice(0, 4)} up to ${MAX_EVENT_TIME.slice(0, 4)}`
    case 'country':
      return 'ISO 3166-1 alpha-2 code (two capital letters)'
    case 'items':
      return 'non-empty list of `{product_id, quantity, unit_price}`'
  }
}

/**
 * Renders docs/events.md from the contract. A test compares the checked-in file with this output, so the
 * documentation cannot fall behind the code; regenerate with `npm run docs:events`.
 */
export function renderEventDocs(): string {
  const lines: string[] = [
    '# ecap event contract',
    '',
    '<!-- Generated from src/lib/events/contract.ts by `npm run docs:events`. Do not edit by hand. -->',
    '',
    `Schema version: **${SCHEMA_VERSION}**. Events travel as one JSON object per line (NDJSON) or one Kafka message each,`,
    'keyed by `customer_id`. A field that does not belong to an event type is left out (or null); unknown fields are rejected.',
    'A reader rejects events whose `schema_version` is newer than it understands. Text is Unicode: a string holding a lone',
    'UTF-16 surrogate (a JSON escape such as `\\ud800` without its partner) has no UTF-8 form and is rejected.',
    '',
    '## Fields',
    '',
    '| field | type | DuckDB / Parquet type | meaning |',
    '|---|---|---|---|',
  ]
  for (const [name, field] of Object.entries(FIELDS)) {
    lines.push(`| \`${name}\` | ${describeSpec(field.spec)} | \`${duckdbType(field.spec)}\` | ${field.description} |`)
  }
  lines.push('', '## Every event', '', fieldList(COMMON_FIELDS), '', '## Event types', '')
  for (const [type, def] of Object.entries(EVENT_TYPES)) {
    lines.push(`### \`${type}\``, '', def.description, '', fieldList(def.fields), '')
  }
  return `${lines.join('\n').trimEnd()}\n`
}

function fieldList(fields: Partial<Record<FieldName, string>>): string {
  return Object.entries(fields)
    .map(([name, presence]) => `- \`${name}\`${presence === 'nullable' ? ' (may be null)' : ''}`)
    .join('\n')
}
