/**
 * The first key that appears twice in one object of a JSON text, or undefined. JSON.parse keeps the last of
 * duplicate keys silently, so `{"total": 5, "total": 5000}` would otherwise be accepted as whichever came last: a
 * message whose meaning depends on the parser is rejected instead. Expects text JSON.parse has already accepted.
 */
export function duplicateKey(json: string): string | undefined {
  // One set of seen keys per open object; null for an open array.
  const open: (Set<string> | null)[] = []
  const n = json.length
  let i = 0
  while (i < n) {
    const c = json.charCodeAt(i)
    if (c === QUOTE) {
      // Jump to the closing quote with indexOf (native, fast on long values); a quote preceded by an odd number of
      // backslashes is escaped and does not close the string.
      let end = json.indexOf('"', i + 1)
      while (end > 0 && isEscaped(json, end)) end = json.indexOf('"', end + 1)
      if (end < 0) return undefined
      const keys = open[open.length - 1]
      if (keys) {
        let next = end + 1
        while (next < n && isWhitespace(json.charCodeAt(next))) next++
        if (json.charCodeAt(next) === COLON) {
          // Escapes are decoded, so "a" and "\u0061" are the same key, as they are to every JSON parser.
          const raw = json.slice(i + 1, end)
          const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw
          if (keys.has(key)) return key
          keys.add(key)
        }
      }
      i = end + 1
      continue
    }
    if (c === OPEN_OBJECT) open.push(new Set())
    else if (c === OPEN_ARRAY) open.push(null)
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) open.pop()
    i++
  }
  return undefined
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d

function isEscaped(json: string, quote: number): boolean {
  let backslashes = 0
  for (let k = quote - 1; json.charCodeAt(k) === BACKSLASH; k--) backslashes++
  return backslashes % 2 === 1
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}
