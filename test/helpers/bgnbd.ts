/** BG/NBD parameters as the generator takes them: λ ~ Gamma(r, rate alpha) per day, drop-out p ~ Beta(a, b). */
export interface BgNbd {
  r: number
  alpha: number
  a: number
  b: number
}

/**
 * Gauss's hypergeometric function 2F1(a, b; c; z) summed as its power series, which converges for |z| < 1. The
 * BG/NBD expectation only needs z = t / (alpha + t), so the series is all the tests need.
 */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(Math.abs(z) < 1)) throw new RangeError(`hyp2f1: the power series needs |z| < 1, got ${z}`)
  let term = 1
  let sum = 1
  for (let k = 0; k < 100_000; k++) {
    term *= (((a + k) * (b + k)) / ((c + k) * (k + 1))) * z
    sum += term
    if (Math.abs(term) <= 1e-15 * Math.abs(sum)) return sum
  }
  throw new Error(`hyp2f1(${a}, ${b}; ${c}; ${z}) did not converge`)
}

/**
 * E[X(t)]: the expected number of repeat purchases in the t days after a customer's first purchase (Fader, Hardie
 * and Lee 2005, eq. 9). The closed form divides by a - 1, so a = 1 is excluded.
 */
export function expectedRepeats({r, alpha, a, b}: BgNbd, t: number): number {
  if (a === 1) throw new RangeError('expectedRepeats: the closed form needs a != 1')
  const z = t / (alpha + t)
  return ((a + b - 1) / (a - 1)) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))
}

/** P(X(t) = 0): no repeat purchase within t days. Drop-out only follows a repeat purchase, so this is pure NBD. */
export function probabilityOfNoRepeat({r, alpha}: BgNbd, t: number): number {
  return (alpha / (alpha + t)) ** r
}
