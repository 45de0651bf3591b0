import gammaln from '@stdlib/math-base-special-gammaln'

export {gammaln}

/** ln B(a, b). The arguments of the CLV likelihoods stay far below where the three-gammaln form loses digits. */
export function betaln(a: number, b: number): number {
  return gammaln(a) + gammaln(b) - gammaln(a + b)
}

/** ln(e^x + e^y) without overflow; either side may be -Infinity. */
export function logAddExp(x: number, y: number): number {
  if (x === Number.NEGATIVE_INFINITY) return y
  if (y === Number.NEGATIVE_INFINITY) return x
  const max = Math.max(x, y)
  return max + Math.log1p(Math.exp(-Math.abs(x - y)))
}

/** ln(e^x - e^y) for x > y; NaN when x <= y (the difference is not positive). */
export function logSubExp(x: number, y: number): number {
  if (y === Number.NEGATIVE_INFINITY) return x
  if (!(x > y)) return Number.NaN
  return x + Math.log1p(-Math.exp(y - x))
}

const HYP2F1_MAX_TERMS = 1_000_000

/**
 * Gauss's hypergeometric 2F1(a, b; c; z) for 0 <= z < 1 and positive a, b, c, summed as its power series. @stdlib has
 * no 2F1; the CLV models only need it on [0, 1) with positive parameters, where every term is positive, so the series
 * has no cancellation and its relative error is that of the last term. Returns NaN if it does not converge.
 */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(z >= 0 && z < 1)) return Number.NaN
  let term = 1
  let sum = 1
  for (let k = 0; k < HYP2F1_MAX_TERMS; k++) {
    term *= (((a + k) * (b + k)) / ((c + k) * (k + 1))) * z
    sum += term
    if (term <= 1e-16 * sum) return sum
    if (!Number.isFinite(sum)) return Number.NaN
  }
  return Number.NaN
}
