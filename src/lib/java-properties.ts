/**
 * The text of a java.util.Properties file (Kafka's server.properties, Trino's etc/*.properties), with keys and values
 * escaped so that a value holding `=`, `:`, `\`, a newline or a leading space reads back as it was written.
 */
export function propertiesText(settings: Record<string, string | number | boolean>, header: string): string {
  const lines = Object.entries(settings).map(
    ([key, value]) => `${escapeProperty(key, true)}=${escapeProperty(String(value))}`,
  )
  return `# ${header}\n${lines.join('\n')}\n`
}

/** Escapes a key or value for a java.util.Properties file. */
function escapeProperty(text: string, isKey = false): string {
  let escaped = ''
  for (const [index, char] of [...text].entries()) {
    const code = char.codePointAt(0)!
    if (char === '\\') escaped += '\\\\'
    else if (char === '\n') escaped += '\\n'
    else if (char === '\r') escaped += '\\r'
    else if (char === '\t') escaped += '\\t'
    else if ((isKey || index === 0) && ' =:#!'.includes(char)) escaped += `\\${char}`
    else if (code < 0x20 || code > 0x7e) {
      for (const unit of char) escaped += `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`
    } else escaped += char
  }
  return escaped
}
