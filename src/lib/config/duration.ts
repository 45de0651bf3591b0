import {UsageError} from '../errors.js'

const UNIT_MS = {d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000} as const

/**
 * Parses a duration such as 7d, 24h, 30m, 90s, 0.5s or 0 (a bare number is seconds) into milliseconds. `hints` are
 * what the error suggests instead: the literal flag and value that would work where the text came from.
 */
export function parseDuration(text: string, hints: string[] = []): number {
  const match = /^(\d+(?:\.\d+)?)\s*(d|h|m|s)?$/.exec(text.trim())
  if (!match) throw new UsageError('INVALID_DURATION', `"${text}" is not a duration.`, {hints})
  return Number(match[1]) * UNIT_MS[(match[2] ?? 's') as keyof typeof UNIT_MS]
}
