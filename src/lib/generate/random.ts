import betaFactory from '@stdlib/random-base-beta'
import gammaFactory from '@stdlib/random-base-gamma'
import normalFactory from '@stdlib/random-base-normal'

const HEX: string[] = Array.from({length: 256}, (_, i) => i.toString(16).padStart(2, '0'))
/** Character codes of the first and second hex digit of each byte. */
const HEX_HIGH = Uint8Array.from(HEX, (h) => h.charCodeAt(0))
const HEX_LOW = Uint8Array.from(HEX, (h) => h.charCodeAt(1))
const DASH = 45
const FOUR = 52

function high(byte: number): number {
  return HEX_HIGH[byte] as number
}

function low(byte: number): number {
  return HEX_LOW[byte] as number
}

/**
 * A seeded random source. The uniform generator is sfc32 (small, fast, passes PractRand) so output depends only on
 * the seed and the order of draws; the distributions come from stdlib, fed by that generator, so runs with the same
 * seed give byte-identical shops on any machine.
 */
export class Random {
  private a: number
  private b: number
  private c: number
  private d: number
  /** Uniform in [0, 1). Bound so stdlib's samplers can call it as a plain function. */
  readonly uniform: () => number
  private readonly gammaSampler: (shape: number, rate: number) => number
  private readonly betaSampler: (a: number, b: number) => number
  private readonly normalSampler: (mu: number, sigma: number) => number

  constructor(seed: number) {
    // Expand the seed with splitmix32 so that nearby seeds give unrelated streams.
    let s = seed >>> 0
    const next = () => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.nextUint32()
    this.uniform = () => this.nextUint32() / 4294967296
    const prng = Object.assign(this.uniform, {NAME: 'sfc32', seed: null, seedLength: 0, state: null, stateLength: 0})
    this.gammaSampler = gammaFactory.factory({prng})
    this.betaSampler = betaFactory.factory({prng})
    this.normalSampler = normalFactory.factory({prng})
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n)
  }

  /** Integer in [min, max]. */
  intBetween(min: number, max: number): number {
    return min + Math.floor(this.uniform() * (max - min + 1))
  }

  chance(p: number): boolean {
    return this.uniform() < p
  }

  /** Exponential with the given rate (mean 1/rate). */
  exponential(rate: number): number {
    return -Math.log(1 - this.uniform()) / rate
  }

  /** Gamma with shape and rate (mean shape/rate), the parameterisation of BG/NBD and Gamma-Gamma. */
  gamma(shape: number, rate: number): number {
    return this.gammaSampler(shape, rate)
  }

  beta(a: number, b: number): number {
    return this.betaSampler(a, b)
  }

  normal(mu: number, sigma: number): number {
    return this.normalSampler(mu, sigma)
  }

  lognormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma))
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.uniform() * items.length)] as T
  }

  /**
   * A random version-4 UUID string (lower-case), drawn from this stream. Made in one call from character codes: a
   * chain of concatenations leaves a rope, which every reader of the string (the NDJSON writer) first flattens.
   */
  uuid(): string {
    const a = this.nextUint32()
    const b = this.nextUint32()
    const c = this.nextUint32()
    const d = this.nextUint32()
    const v = (b >>> 8) & 15
    const y = 0x80 | ((c >>> 24) & 0x3f)
    return String.fromCharCode(
      high(a >>> 24),
      low(a >>> 24),
      high((a >>> 16) & 255),
      low((a >>> 16) & 255),
      high((a >>> 8) & 255),
      low((a >>> 8) & 255),
      high(a & 255),
      low(a & 255),
      DASH,
      high(b >>> 24),
      low(b >>> 24),
      high((b >>> 16) & 255),
      low((b >>> 16) & 255),
      DASH,
      FOUR,
      low(v),
      high(b & 255),
      low(b & 255),
      DASH,
      high(y),
      low(y),
      high((c >>> 16) & 255),
      low((c >>> 16) & 255),
      DASH,
      high((c >>> 8) & 255),
      low((c >>> 8) & 255),
      high(c & 255),
      low(c & 255),
      high(d >>> 24),
      low(d >>> 24),
      high((d >>> 16) & 255),
      low((d >>> 16) & 255),
      high((d >>> 8) & 255),
      low((d >>> 8) & 255),
      high(d & 255),
      low(d & 255),
    )
  }

  /** Random lower-case hex string of 2*bytes characters. */
  hex(bytes: number): string {
    let out = ''
    for (let i = 0; i < bytes; i++) out += HEX[this.nextUint32() & 255]
    return out
  }
}

/**
 * Draws indices with fixed weights in O(log n): a cumulative table and binary search. Used for product popularity
 * (Zipf-like), countries and devices.
 */
export class WeightedPicker {
  private readonly cumulative: Float64Array

  constructor(weights: readonly number[]) {
    this.cumulative = new Float64Array(weights.length)
    let sum = 0
    for (let i = 0; i < weights.length; i++) {
      sum += weights[i] as number
      this.cumulative[i] = sum
    }
    for (let i = 0; i < weights.length; i++) this.cumulative[i] = (this.cumulative[i] as number) / sum
  }

  pick(random: Random): number {
    const u = random.uniform()
    let lo = 0
    let hi = this.cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.cumulative[mid] as number) > u) hi = mid
      else lo = mid + 1
    }
    return lo
  }
}
