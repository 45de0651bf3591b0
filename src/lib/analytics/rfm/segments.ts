import {readFile} from 'node:fs/promises'
import {UsageError} from '../../errors.js'

/** A score range, both ends included: R or F from `min` to `max`, each 1 to 5. */
export interface ScoreRange {
  min: number
  max: number
}

/** One rectangle of the R x F grid. */
export interface SegmentRule {
  r: ScoreRange
  f: ScoreRange
}

export interface SegmentDefinition {
  name: string
  description: string
  /** The cells of the segment: a union of rectangles of the R x F grid. */
  rules: SegmentRule[]
}

/** A complete, non-overlapping map of the 25 R x F cells to named segments, in display order (best first). */
export interface SegmentMap {
  /** `default`, or the file the map was read from. */
  source: string
  segments: SegmentDefinition[]
}

const range = (min: number, max = min): ScoreRange => ({min, max})

/**
 * The widely used 10-segment R x F map (recency and frequency scores 1-5, 5 best), as published with the classic
 * RFM segmentation recipes and the `rfm` packages. M does not pick the segment; it is reported beside it.
 * docs/rfm.md shows the same table; a test keeps the two equal.
 */
export const DEFAULT_SEGMENT_MAP: SegmentMap = {
  source: 'default',
  segments: [
    {
      name: 'champions',
      description: 'Bought recently and buy often.',
      rules: [{r: range(5), f: range(4, 5)}],
    },
    {
      name: 'loyal customers',
      description: 'Buy often; bought fairly recently.',
      rules: [{r: range(3, 4), f: range(4, 5)}],
    },
    {
      name: 'potential loyalists',
      description: 'Recent customers with a few orders.',
      rules: [{r: range(4, 5), f: range(2, 3)}],
    },
    {
      name: 'new customers',
      description: 'Bought very recently, for the first time or nearly.',
      rules: [{r: range(5), f: range(1)}],
    },
    {
      name: 'promising',
      description: 'Bought recently, but rarely.',
      rules: [{r: range(4), f: range(1)}],
    },
    {
      name: 'need attention',
      description: 'Average recency and frequency.',
      rules: [{r: range(3), f: range(3)}],
    },
    {
      name: 'about to sleep',
      description: 'Below-average recency and frequency.',
      rules: [{r: range(3), f: range(1, 2)}],
    },
    {
      name: 'at risk',
      description: 'Bought often, but long ago.',
      rules: [{r: range(1, 2), f: range(3, 4)}],
    },
    {
      name: "can't lose them",
      description: 'Bought most often, but not for a long time.',
      rules: [{r: range(1, 2), f: range(5)}],
    },
    {
      name: 'hibernating',
      description: 'Last bought long ago, and rarely.',
      rules: [{r: range(1, 2), f: range(1, 2)}],
    },
  ],
}

/** One cell of the grid as the docs and error messages name it, e.g. R5F1. */
export function cellName(r: number, f: number): string {
  return `R${r}F${f}`
}

/** Every (r, f) cell of a map with its segment, and the index of the segment in the map (its display order). */
export function segmentCells(map: SegmentMap): {r: number; f: number; segment: string; order: number}[] {
  const cells: {r: number; f: number; segment: string; order: number}[] = []
  map.segments.forEach((segment, order) => {
    for (const rule of segment.rules) {
      for (let r = rule.r.min; r <= rule.r.max; r++) {
        for (let f = rule.f.min; f <= rule.f.max; f++) cells.push({r, f, segment: segment.name, order})
      }
    }
  })
  return cells
}

/** The segment of one (R, F) pair. The map must be valid (see validateSegmentMap). */
export function segmentOf(map: SegmentMap, r: number, f: number): string {
  const cell = segmentCells(map).find((c) => c.r === r && c.f === f)
  if (!cell) throw new Error(`No segment covers ${cellName(r, f)}`)
  return cell.segment
}

const HINT_FORMAT = 'See docs/rfm.md for the file format; every R x F cell (R1F1 ... R5F5) in exactly one segment.'

/**
 * Checks that a map covers every one of the 25 R x F cells exactly once, naming the cells left out and the cells
 * claimed by more than one segment.
 */
export function validateSegmentMap(map: SegmentMap): void {
  const owners = new Map<string, string[]>()
  for (const cell of segmentCells(map)) {
    const key = cellName(cell.r, cell.f)
    const list = owners.get(key) ?? []
    // A segment listing one cell twice (overlapping rectangles of its own) is harmless but still double-counted.
    list.push(cell.segment)
    owners.set(key, list)
  }
  const missing: string[] = []
  const doubled: string[] = []
  for (let r = 1; r <= 5; r++) {
    for (let f = 1; f <= 5; f++) {
      const list = owners.get(cellName(r, f)) ?? []
      if (list.length === 0) missing.push(cellName(r, f))
      if (list.length > 1) doubled.push(`${cellName(r, f)} (${list.map((s) => `"${s}"`).join(', ')})`)
    }
  }
  const problems: string[] = []
  if (missing.length > 0) problems.push(`no segment covers ${missing.join(', ')}`)
  if (doubled.length > 0) problems.push(`more than one segment covers ${doubled.join(', ')}`)
  if (problems.length > 0) {
    throw new UsageError('SEGMENTS_INCOMPLETE', `Segment map ${map.source}: ${problems.join('; ')}.`, {
      hints: [HINT_FORMAT],
    })
  }
}

/** Reads, checks the shape of, and validates a custom segment map (JSON, format in docs/rfm.md). */
export async function readSegmentMap(path: string): Promise<SegmentMap> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new UsageError('SEGMENTS_UNREADABLE', `Cannot read the segment map ${path}: ${(error as Error).message}`, {
      hints: ['--segments segments.json'],
      cause: error,
    })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new UsageError('SEGMENTS_INVALID', `The segment map ${path} is not JSON: ${(error as Error).message}`, {
      hints: [HINT_FORMAT],
      cause: error,
    })
  }
  const map = parseSegmentMap(json, path)
  validateSegmentMap(map)
  return map
}

/** Turns the JSON of a segment map file into a SegmentMap, rejecting anything not in the documented shape. */
export function parseSegmentMap(json: unknown, source: string): SegmentMap {
  const fail = (where: string, message: string): never => {
    throw new UsageError('SEGMENTS_INVALID', `Segment map ${source}: ${where} ${message}.`, {hints: [HINT_FORMAT]})
  }
  const list = isObject(json) ? json.segments : undefined
  if (!Array.isArray(list) || list.length === 0)
    fail('the top level', 'must be an object with a non-empty "segments" list')
  const names = new Set<string>()
  const segments = (list as unknown[]).map((item, i): SegmentDefinition => {
    const where = `segments[${i}]`
    if (!isObject(item)) return fail(where, 'must be an object')
    const name = item.name
    if (typeof name !== 'string' || name.trim() === '' || name.length > 64) {
      return fail(`${where}.name`, 'must be a non-empty string of at most 64 characters')
    }
    if (names.has(name)) fail(`${where}.name`, `repeats the segment "${name}"`)
    names.add(name)
    const description = item.description ?? ''
    if (typeof description !== 'string') fail(`${where}.description`, 'must be a string')
    if (!Array.isArray(item.rules) || item.rules.length === 0) fail(`${where}.rules`, 'must be a non-empty list')
    const rules = (item.rules as unknown[]).map((rule, j): SegmentRule => {
      if (!isObject(rule)) return fail(`${where}.rules[${j}]`, 'must be an object with "r" and "f"')
      return {
        r: parseRange(rule.r, `${where}.rules[${j}].r`, fail),
        f: parseRange(rule.f, `${where}.rules[${j}].f`, fail),
      }
    })
    return {name, description: description as string, rules}
  })
  return {source, segments}
}

/** A score range is a single score (3) or both ends ([2, 4]), each an integer from 1 to 5. */
function parseRange(value: unknown, where: string, fail: (where: string, message: string) => never): ScoreRange {
  const isScore = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 5
  if (isScore(value)) return {min: value, max: value}
  if (Array.isArray(value) && value.length === 2 && isScore(value[0]) && isScore(value[1]) && value[0] <= value[1]) {
    return {min: value[0], max: value[1]}
  }
  return fail(where, 'must be a score from 1 to 5 or a range [min, max] with 1 <= min <= max <= 5')
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
