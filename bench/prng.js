// mulberry32: a small seeded PRNG for benchmarks, so the same seed replays the same run on every machine. Apart from
// the simulator's own generator on purpose: what a benchmark plants or kills must not echo what the simulator drew.

/** Returns a function giving uniform numbers in [0, 1) from `seed`. */
export function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
