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

/** Up to here the power series is summed directly: its terms shrink at least as fast as z^k (about 55 for 1e-16). */
const SERIES_LIMIT = 0.9
/** Each Taylor step of the continuation covers this share of the distance left to z = 1. */
const STEP_SHARE = 0.5
/** Beyond SERIES_LIMIT the series is still tried where c - a - b is at least this: its terms then fall fast. */
const FAST_TAIL = 10
/** Terms per series before it counts as not converging (the plain series at z = SERIES_LIMIT with a + b - c large). */
const MAX_TERMS = 3_000

/**
 * ln 2F1(a, b; c; z), Gauss's hypergeometric function, for 0 <= z < 1 and the positive parameters of the CLV models
 * (NaN where it cannot be summed). When c - b > 0 and c - a > 0 and a + b - c > 0 it takes Euler's transform
 * (1 - z)^(c-a-b) 2F1(c-a, c-b; c; z), whose series has positive terms that shrink at least as fast as z^k, where the
 * plain series first grows by k^(a+b-c-1) (the Pareto/NBD's b is r + x or s + 1). Either way there is no cancellation.
 *
 * Near z = 1 the power series needs about 37 / (1 - z) terms (3.7 million at z = 1 - 1e-5: the Pareto/NBD's z is
 * 1 - min(alpha, beta) / max(alpha, beta) at recency 0, so a shop whose beta / alpha is 1e5 gets there). Beyond
 * z = SERIES_LIMIT (0.9) the function is therefore carried on from there along its differential equation instead, by
 * Taylor steps that each cover at most half the distance left to 1 (about 55 terms each, one step per halving of 1 - z). Unlike the 1 - z
 * connection formula this has no special case where c - a - b is an integer (a Pareto/NBD r or s near a whole
 * number), and no cancellation: the Taylor coefficients of such a function at any z in (0, 1) are all positive.
 */
export function logHyp2f1(a: number, b: number, c: number, z: number): number {
  if (!(z >= 0 && z < 1)) return Number.NaN
  if (c - a > 0 && c - b > 0 && a + b - c > 0)
    return (c - a - b) * Math.log1p(-z) + Math.log(positiveHyp2f1(c - a, c - b, c, z))
  return Math.log(positiveHyp2f1(a, b, c, z))
}

/** 2F1(a, b; c; z) for 0 <= z < 1: see logHyp2f1 (this one overflows where the function exceeds 1.8e308). */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  return Math.exp(logHyp2f1(a, b, c, z))
}

/**
 * The power series where it converges within MAX_TERMS (always up to SERIES_LIMIT, and beyond where its terms fall
 * like k^-(c-a-b+1) with c - a - b large); else the continuation from SERIES_LIMIT. NaN if neither converges.
 */
function positiveHyp2f1(a: number, b: number, c: number, z: number): number {
  const sigma = c - a - b
  if (z <= SERIES_LIMIT || sigma >= FAST_TAIL) {
    const [sum] = hyp2f1Series(a, b, c, z)
    if (z <= SERIES_LIMIT || !Number.isNaN(sum)) return sum
  }
  let [w, dw] = hyp2f1Series(a, b, c, SERIES_LIMIT)
  // Each step goes at most as far as keeps the rounding errors of its Taylor coefficients from growing. The other
  // solutions of the equation behave like z^(1-c) near 0, whose coefficients at x sum to (1 - h/x)^-(c-1) over a
  // step h (2^299 from 0.5 to 0.75 at c = 300), and like (1 - z)^(c-a-b) near 1, whose sum to (1 + h/(1-x))^|c-a-b|.
  const fromZero = 1 / Math.max(1, Math.abs(c - 1))
  const fromOne = Math.min(STEP_SHARE, 1 / Math.max(1, Math.abs(sigma)))
  for (let x = SERIES_LIMIT; x < z && Number.isFinite(w); ) {
    const next = Math.min(z, x + Math.min(fromOne * (1 - x), fromZero * x))
    ;[w, dw] = taylorStep(a, b, c, x, w, dw, next)
    x = next
  }
  return w
}

/** The power series and its derivative at z. */
function hyp2f1Series(a: number, b: number, c: number, z: number): [number, number] {
  let term = 1
  let sum = 1
  let derivative = 0
  for (let k = 0; k < MAX_TERMS; k++) {
    term *= (((a + k) * (b + k)) / ((c + k) * (k + 1))) * z
    sum += term
    derivative += (k + 1) * term
    if (Math.abs(term) * (k + 1) <= 1e-17 * Math.abs(sum)) return [sum, z === 0 ? (a * b) / c : derivative / z]
    if (!Number.isFinite(sum)) break
  }
  return [Number.NaN, Number.NaN]
}

/**
 * From w = 2F1(a, b; c; x) and w' at x in (0, 1), the two at `to` (x < to <= x + (1 - x) / 2), by the Taylor series
 * around x whose coefficients follow from z(1 - z)w'' + [c - (a + b + 1)z]w' - ab w = 0. The coefficients are kept
 * scaled by (1 - x)^n, the radius of convergence, so they stay near 1 whatever the distance to z = 1.
 */
function taylorStep(a: number, b: number, c: number, x: number, w: number, dw: number, to: number): [number, number] {
  const rho = 1 - x
  const u = (to - x) / rho
  const p1 = 1 - 2 * x
  const q0 = c - (a + b + 1) * x
  const q1 = -(a + b + 1)
  const r = -a * b
  // d[n] = w^(n)(x) / n! * rho^n; the sums of d[n] u^n and of n d[n] u^(n-1).
  let previous = w
  let current = dw * rho
  let sum = previous + current * u
  let derivative = current
  let power = u
  let small = 0
  for (let n = 0; n < MAX_TERMS; n++) {
    const next =
      -((p1 * n + q0) * (n + 1) * current + (-n * (n - 1) + q1 * n + r) * rho * previous) / (x * (n + 2) * (n + 1))
    const term = next * power * u
    sum += term
    derivative += (n + 2) * next * power
    power *= u
    previous = current
    current = next
    // Two small terms in a row: a three-term recurrence can pass close to zero once.
    small = Math.abs(term) * (n + 2) <= 1e-17 * Math.abs(sum) ? small + 1 : 0
    if (small === 2) return [sum, derivative / rho]
    if (!Number.isFinite(sum)) break
  }
  return [Number.NaN, Number.NaN]
}

/** Adds `values` into `into` element by element (a gradient or a Hessian, as the likelihoods accumulate them). */
export function addInto<T extends number[] | number[][]>(into: T, values: T): void {
  values.forEach((value: number | number[], i: number) => {
    if (Array.isArray(value)) addInto(into[i] as number[], value)
    else (into as number[])[i] = ((into as number[])[i] ?? 0) + value
  })
}
