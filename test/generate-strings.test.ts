import {describe, expect, it} from 'vitest'
import {GENERATE_DEFAULTS} from '../src/lib/generate/index.js'
import {Random} from '../src/lib/generate/random.js'
import {ShopSimulator} from '../src/lib/generate/simulator.js'
import {seededRandom} from './helpers/random.js'

/**
 * The simulator's ids and times are made from character codes rather than concatenated; these pin them to the
 * plain way of writing them (the golden hashes pin them too, but only for the instants those runs reach).
 */

const HEX = Array.from({length: 256}, (_, i) => i.toString(16).padStart(2, '0'))

/** The UUID of four draws, written by concatenation. */
function uuidOf(a: number, b: number, c: number, d: number): string {
  const h = (x: number) => HEX[x] as string
  return `${h(a >>> 24)}${h((a >>> 16) & 255)}${h((a >>> 8) & 255)}${h(a & 255)}-${h(b >>> 24)}${h((b >>> 16) & 255)}-4${h((b >>> 8) & 15).charAt(1)}${h(b & 255)}-${h(0x80 | ((c >>> 24) & 0x3f))}${h((c >>> 16) & 255)}-${h((c >>> 8) & 255)}${h(c & 255)}${h(d >>> 24)}${h((d >>> 16) & 255)}${h((d >>> 8) & 255)}${h(d & 255)}`
}

describe('generated strings', () => {
  it('uuid() writes the four draws it takes as a version-4 UUID', () => {
    for (const seed of [0, 1, 42, 0xffffffff]) {
      const random = new Random(seed)
      const draws = new Random(seed)
      for (let i = 0; i < 20_000; i++) {
        const id = random.uuid()
        expect(id).toBe(uuidOf(draws.nextUint32(), draws.nextUint32(), draws.nextUint32(), draws.nextUint32()))
      }
    }
    expect(new Random(7).uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  it('isoTime() writes what toISOString does, to the millisecond', () => {
    const sim = new ShopSimulator({...GENERATE_DEFAULTS, customers: 10}, Date.parse('2026-01-01'))
    const random = seededRandom(3)
    const from = Date.parse('2000-01-01T00:00:00.000Z')
    const to = Date.parse('2100-01-01T00:00:00.000Z')
    const instants = [from, to - 1, Date.parse('2024-02-29T23:59:59.999Z'), Date.parse('2026-03-01T00:00:00.000Z')]
    for (let i = 0; i < 50_000; i++) instants.push(from + random() * (to - from))
    // Runs of instants within one day, as the simulator asks, so the cached day is reused.
    for (let i = 0; i < 5_000; i++) instants.push(Date.parse('2026-06-30T00:00:00.000Z') + i * 17_281.5)
    for (const instant of instants) expect(sim.isoTime(instant)).toBe(new Date(Math.floor(instant)).toISOString())
  })
})
