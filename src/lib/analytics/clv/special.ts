import gammaln from '@stdlib/math-base-special-gammaln'

export {gammaln}

/**
 * The digamma function ψ(x) = d ln Γ(x) / dx for x > 0 (the likelihoods' gradients need it; @stdlib's is not a
 * dependency): the recurrence ψ(x) = ψ(x + 1) - 1/x up to x >= 10, then the asymptotic series, whose first omitted
 * term is below 2e-14 there.
 */
export function digamma(x: number): number {
  let shift = 0
  let y = x
  while (y < 10) {
    shift -= 1 / y
    y += 1
  }
  const f = 1 / (y * y)
  const tail = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f * (1 / 132)))))
  return shift + Math.log(y) - 0.5 / y - tail
}

/**
 * The trigamma function ψ'(x) for x > 0 (the likelihoods' Hessians need it): ψ'(x) = ψ'(x + 1) + 1/x² up to x >= 10,
 * then the asymptotic series, whose first omitted term is below 1e-13 there.
 */
export function trigamma(x: number): number {
  let shift = 0
  let y = x
  while (y < 10) {
    shift += 1 / (y * y)
    y += 1
  }
  const f = 1 / (y * y)
  const tail = (1 + (1 / 2 + (1 / 6 - f * (1 / 30 - f * (1 / 42 - f * (1 / 30 - (f * 5) / 66)))) / y) / y) / y
  return shift + tail
}

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

const HYP2F1_MAX_TERMS = 3_000

/**
 * Gauss's hypergeometric 2F1(a, b; c; z) for 0 <= z < 1 and positive a, b, c, summed as a power series. @stdlib has
 * no 2F1; the CLV models only need it on [0, 1) with positive parameters. When c - b > 0 and c - a > 0 it sums Euler's
 * transform (1 - z)^(c-a-b) 2F1(c-a, c-b; c; z) instead: its terms are positive too but shrink at least as fast as
 * z^k, where the plain series first grows by k^(a+b-c-1) (slow for the Pareto/NBD, whose b is r + x or s + 1).
 * Either way there is no cancellation. Returns NaN if it does not converge within HYP2F1_MAX_TERMS terms (z very
 * close to 1), which a likelihood treats as a point to avoid rather than a value.
 */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(z >= 0 && z < 1)) return Number.NaN
  if (c - a > 0 && c - b > 0 && a + b - c > 0) return (1 - z) ** (c - a - b) * hyp2f1Series(c - a, c - b, c, z)
  return hyp2f1Series(a, b, c, z)
}

function hyp2f1Series(a: number, b: number, c: number, z: number): number {
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

/** Adds `values` into `into` element by element (a gradient or a Hessian, as the likelihoods accumulate them). */
export function addInto<T extends number[] | number[][]>(into: T, values: T): void {
  values.forEach((value: number | number[], i: number) => {
    if (Array.isArray(value)) addInto(into[i] as number[], value)
    else (into as number[])[i] = ((into as number[])[i] ?? 0) + value
  })
}
