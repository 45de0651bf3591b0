import numeric from 'numeric'

/** A fitted model: parameters by name, their standard errors and the maximised log-likelihood. */
export interface FittedModel<Name extends string> {
  parameters: Record<Name, number>
  /** From the inverse of the observed information (minus the Hessian of the log-likelihood) at the optimum. */
  standardErrors: Record<Name, number | null>
  logLikelihood: number
  /** Customers whose data the likelihood summed over. */
  customers: number
  /** Iterations the optimiser took (Newton or BFGS steps, with BFGS's line-search halvings). */
  iterations: number
  /**
   * Parameters the data do not pin down: without a standard error (minus the Hessian is not positive definite), with
   * one larger than the estimate itself, or at the e^±12 bound. The likelihood is all but flat along a ridge there:
   * parameter values that fit the data equally well can give very different predictions.
   */
  poorlyDetermined: Name[]
}

/** What a fit may be told besides its problem. */
export interface FitControl {
  /** Once aborted, the fit stops at its next pause (within about PAUSE_MS) and throws the signal's reason. */
  signal?: AbortSignal
}

export interface MaximumLikelihoodProblem<Name extends string> {
  names: readonly Name[]
  /** Starting values (all positive). */
  start: Record<Name, number>
  /**
   * The total log-likelihood of the data at positive parameters (NaN or -Infinity where it is undefined). Given
   * `gradient` (only when `derivatives` >= 1), it also adds its gradient, in the order of `names`, into that array;
   * given `hessian` too (only when `derivatives` is 2), its matrix of second derivatives.
   */
  logLikelihood: (parameters: Record<Name, number>, gradient?: number[], hessian?: number[][]) => number
  /**
   * The derivatives logLikelihood computes in closed form. With both, Newton's method fits in a handful of steps and
   * the standard errors come from the exact Hessian. With the gradient only, BFGS takes it along with the value at
   * each point (instead of two more log-likelihoods per parameter) and the Hessian is differenced from gradients.
   * Without, both are differenced from values.
   */
  derivatives?: 0 | 1 | 2
  customers: number
}

export class FitError extends Error {}

/**
 * A standard error above this multiple of its estimate marks a parameter as poorly determined: its 95% interval spans
 * more than a factor e^4 (about 55). CDNOW's largest is Pareto/NBD's beta at 0.53; a 7-day shop's run to 20 and more.
 */
const RELATIVE_ERROR_LIMIT = 1
/** Milliseconds of computing between pauses for the event loop (so SIGINT and SIGTERM are heard during a fit). */
const PAUSE_MS = 50

/**
 * A function to await between steps of a long computation: it lets the event loop run when PAUSE_MS have passed since
 * it last did, and throws the signal's reason once the signal is aborted.
 */
export function pauser(signal?: AbortSignal): () => Promise<void> {
  let last = performance.now()
  return async () => {
    signal?.throwIfAborted()
    if (performance.now() - last < PAUSE_MS) return
    await new Promise<void>((resolve) => setImmediate(resolve))
    last = performance.now()
    signal?.throwIfAborted()
  }
}

/** Parameters stay within e^-12 .. e^12 (about 6e-6 .. 1.6e5) whatever the time unit. */
const LOG_BOUND = 12
/** BFGS iterations per round; fits of the published data sets take well under a hundred. */
const MAX_ITERATIONS = 500
/** Newton steps before BFGS takes over; from the usual starting values the fits take about ten. */
const MAX_NEWTON_STEPS = 50

/**
 * Maximises a log-likelihood over positive parameters. The optimiser (Newton's method where the problem gives its
 * Hessian, else BFGS) works on their logarithms, so it needs no bounds and no penalizer, and the scale of a rate (per
 * day or per week) does not slow it down. It pauses for the event loop every PAUSE_MS and stops with the signal's
 * reason once `control.signal` is aborted.
 */
export async function maximizeLikelihood<Name extends string>(
  problem: MaximumLikelihoodProblem<Name>,
  control: FitControl = {},
): Promise<FittedModel<Name>> {
  const {names} = problem
  const pause = pauser(control.signal)
  const toRecord = (values: readonly number[]) =>
    Object.fromEntries(names.map((name, i) => [name, values[i] as number])) as Record<Name, number>
  // Scaled by the number of customers so the gradient tolerance means the same whatever the size of the data.
  const scale = Math.max(problem.customers, 1)
  // The gradient computed with the last value, in the objective's terms: BFGS asks for it at the point it just accepted.
  let cached: {logs: number[]; gradient: number[]} | undefined
  const objective = (logs: number[]) => {
    // Beyond e^±LOG_BOUND a parameter is running off along a ridge where the data cannot tell values apart (BG/NBD's
    // a and b, or Pareto/NBD's s and beta, growing together when every customer drops out alike): the walk stops
    // there. Predictions along such a ridge are all but equal; the standard errors of those parameters come out null.
    if (logs.some((x) => Math.abs(x) > LOG_BOUND)) return Number.POSITIVE_INFINITY
    const parameters = logs.map(Math.exp)
    const gradient = (problem.derivatives ?? 0) >= 1 ? names.map(() => 0) : undefined
    const ll = problem.logLikelihood(toRecord(parameters), gradient)
    if (!Number.isFinite(ll)) return Number.POSITIVE_INFINITY
    // d/d(ln θ) = θ · d/dθ, scaled and signed as the objective.
    if (gradient) cached = {logs, gradient: gradient.map((g, i) => (-g * (parameters[i] as number)) / scale)}
    return -ll / scale
  }
  const objectiveGradient = (logs: number[]): number[] => {
    if ((problem.derivatives ?? 0) === 0) return centralGradient(objective, logs)
    if (!cached?.logs.every((x, i) => x === logs[i])) {
      cached = undefined
      objective(logs)
    }
    const found = cached as {gradient: number[]} | undefined
    return found?.gradient ?? logs.map(() => Number.NaN)
  }
  const start = names.map((name) => Math.log(problem.start[name]))
  if (!Number.isFinite(objective(start))) throw new FitError('the log-likelihood is not finite at the starting values')
  const newton = problem.derivatives === 2 ? await newtonMinimum(problem, scale, start, pause) : undefined
  // Where Newton did not converge, BFGS starts afresh, as it did before Newton was tried.
  let solution = newton?.converged ? newton.solution : start
  let iterations = newton?.iterations ?? 0
  // A restart from the first optimum resets BFGS's Hessian approximation, which a long walk can leave poorly scaled.
  for (let round = newton?.converged ? 3 : 0; round < 3; round++) {
    const result = await bfgs(objective, solution, 1e-10, objectiveGradient, MAX_ITERATIONS, pause)
    iterations += result.iterations
    const moved = Math.max(...result.solution.map((x, i) => Math.abs(x - (solution[i] as number))))
    solution = result.solution
    if (!result.solution.every(Number.isFinite)) throw new FitError(`the optimiser failed: ${result.message}`)
    if (moved < 1e-7) break
  }
  const parameters = toRecord(solution.map(Math.exp))
  const logLikelihood = problem.logLikelihood(parameters)
  if (!Number.isFinite(logLikelihood)) throw new FitError('the log-likelihood is not finite at the optimum')
  const errors = await standardErrors(problem, parameters, pause)
  return {
    parameters,
    standardErrors: errors,
    logLikelihood,
    customers: problem.customers,
    iterations,
    poorlyDetermined: names.filter((name) => {
      const se = errors[name]
      const estimate = parameters[name]
      return se === null || se > RELATIVE_ERROR_LIMIT * estimate || Math.abs(Math.log(estimate)) > LOG_BOUND - 1
    }),
  }
}

/**
 * Minimises f by BFGS with a backtracking line search: numeric.uncmin 1.2.6 step for step (the same updates and
 * stopping rules), with a pause between iterations and between the line search's tries, where uncmin runs to the end
 * without letting the event loop (and so a signal) in.
 */
async function bfgs(
  f: (x: number[]) => number,
  start: number[],
  tolerance: number,
  gradient: (x: number[]) => number[],
  maxIterations: number,
  pause: () => Promise<void>,
): Promise<{solution: number[]; iterations: number; message: string}> {
  const n = start.length
  const tol = Math.max(tolerance, Number.EPSILON)
  const dot = (u: readonly number[], v: readonly number[]) => u.reduce((sum, ui, i) => sum + ui * (v[i] as number), 0)
  const times = (matrix: number[][], v: readonly number[]) => matrix.map((row) => dot(row, v))
  let x0 = start.slice()
  let f0 = f(x0)
  if (Number.isNaN(f0)) throw new FitError('the objective is NaN at the starting values')
  let inverse: number[][] = Array.from({length: n}, (_, i) => Array.from({length: n}, (_, j) => (i === j ? 1 : 0)))
  let g0 = gradient(x0)
  let it = 0
  let message = ''
  while (it < maxIterations) {
    await pause()
    if (!g0.every(Number.isFinite)) {
      message = 'Gradient has Infinity or NaN'
      break
    }
    const step = times(inverse, g0).map((v) => -v)
    if (!step.every(Number.isFinite)) {
      message = 'Search direction has Infinity or NaN'
      break
    }
    const stepNorm = Math.sqrt(dot(step, step))
    if (stepNorm < tol) {
      message = 'Newton step smaller than tol'
      break
    }
    let t = 1
    const slope = dot(g0, step)
    let x1 = x0
    let f1 = f0
    let s = step
    while (it < maxIterations) {
      if (t * stepNorm < tol) break
      s = step.map((v) => v * t)
      x1 = x0.map((v, i) => v + (s[i] as number))
      f1 = f(x1)
      if (f1 - f0 >= 0.1 * t * slope || Number.isNaN(f1)) {
        t *= 0.5
        ++it
        await pause()
        continue
      }
      break
    }
    if (t * stepNorm < tol) {
      message = 'Line search step size smaller than tol'
      break
    }
    if (it === maxIterations) {
      message = 'maxit reached during line search'
      break
    }
    const g1 = gradient(x1)
    const y = g1.map((v, i) => v - (g0[i] as number))
    const ys = dot(y, s)
    const hy = times(inverse, y)
    const scale = (ys + dot(y, hy)) / (ys * ys)
    inverse = inverse.map((row, i) =>
      row.map(
        (v, j) =>
          v +
          scale * (s[i] as number) * (s[j] as number) -
          ((hy[i] as number) * (s[j] as number) + (s[i] as number) * (hy[j] as number)) / ys,
      ),
    )
    x0 = x1
    f0 = f1
    g0 = g1
    ++it
  }
  return {solution: x0, iterations: it, message}
}

/**
 * Newton's method on the log-parameters u (θ = e^u) for the objective -ℓ/scale, whose derivatives there are
 * -θ_i ∂ℓ/∂θ_i and -(θ_i θ_j ∂²ℓ/∂θ_i∂θ_j + δ_ij θ_i ∂ℓ/∂θ_i), over scale. Where that Hessian is not positive
 * definite (far from the optimum) a multiple of the identity is added until it is, so each step goes downhill; steps
 * are halved until they decrease the objective enough (Armijo). It stops where the next step would be shorter than
 * 1e-8 (so the point is within about 1e-16 of the optimum: Newton's steps shrink quadratically). When it does not
 * get there (a parameter running off along a ridge to the bound, say), BFGS starts afresh.
 */
async function newtonMinimum<Name extends string>(
  problem: MaximumLikelihoodProblem<Name>,
  scale: number,
  start: number[],
  pause: () => Promise<void>,
): Promise<{solution: number[]; iterations: number; converged: boolean}> {
  const {names} = problem
  const evaluate = (logs: number[]) => {
    if (logs.some((x) => !(Math.abs(x) <= LOG_BOUND))) return undefined
    const theta = logs.map(Math.exp)
    const g = names.map(() => 0)
    const h = names.map(() => names.map(() => 0))
    const ll = problem.logLikelihood(
      Object.fromEntries(names.map((name, i) => [name, theta[i] as number])) as Record<Name, number>,
      g,
      h,
    )
    if (!Number.isFinite(ll) || !g.every(Number.isFinite) || !h.every((row) => row.every(Number.isFinite))) {
      return undefined
    }
    const t = (i: number) => theta[i] as number
    return {
      value: -ll / scale,
      gradient: g.map((gi, i) => (-gi * t(i)) / scale),
      hessian: h.map((row, i) =>
        row.map((hij, j) => (-(hij * t(i) * t(j)) - (i === j ? (g[i] as number) * t(i) : 0)) / scale),
      ),
    }
  }
  let x = start
  let current = evaluate(x)
  for (let step = 1; current && step <= MAX_NEWTON_STEPS; step++) {
    await pause()
    const direction = descentDirection(current.hessian, current.gradient)
    if (!direction) return {solution: x, iterations: step - 1, converged: false}
    if (Math.max(...direction.map(Math.abs)) < 1e-8) return {solution: x, iterations: step - 1, converged: true}
    // Heading for the bound along a ridge: BFGS knows how to stop there.
    if (x.some((xi) => Math.abs(xi) > LOG_BOUND - 1)) return {solution: x, iterations: step - 1, converged: false}
    const slope = direction.reduce((sum, d, i) => sum + d * (current?.gradient[i] as number), 0)
    let t = 1
    for (;;) {
      const candidate = x.map((xi, i) => xi + t * (direction[i] as number))
      const next = evaluate(candidate)
      // A full step whose predicted decrease is below the rounding of the value (a flat ridge, such as Gamma-Gamma's
      // p·v) is taken on the quadratic model's word: the value cannot confirm it.
      const unresolved = t === 1 && -slope < 1e-12 * Math.max(1, Math.abs(current.value))
      if (next && (next.value <= current.value + 1e-4 * t * slope || unresolved)) {
        x = candidate
        current = next
        break
      }
      t /= 2
      if (t < 1e-10) return {solution: x, iterations: step, converged: false}
      await pause()
    }
  }
  return {solution: x, iterations: MAX_NEWTON_STEPS, converged: false}
}

/**
 * The Newton step -H⁻¹g, with H + λI in place of H when H is not positive definite (λ growing tenfold from 1e-8 of its
 * largest diagonal element until Cholesky succeeds). Undefined if nothing works.
 */
function descentDirection(hessian: number[][], gradient: number[]): number[] | undefined {
  const n = gradient.length
  const largest = Math.max(...hessian.map((row, i) => Math.abs(row[i] as number)), 1e-300)
  for (let lambda = 0, tries = 0; tries < 30; tries++, lambda = lambda === 0 ? 1e-8 * largest : lambda * 10) {
    const shifted = hessian.map((row, i) => row.map((v, j) => v + (i === j ? lambda : 0)))
    const lower = cholesky(shifted)
    if (!lower) continue
    // Solve L y = -g, then Lᵀ d = y.
    const y = new Array<number>(n).fill(0)
    for (let i = 0; i < n; i++) {
      let sum = -(gradient[i] as number)
      for (let k = 0; k < i; k++) sum -= (lower[i]?.[k] as number) * (y[k] as number)
      y[i] = sum / (lower[i]?.[i] as number)
    }
    const d = new Array<number>(n).fill(0)
    for (let i = n - 1; i >= 0; i--) {
      let sum = y[i] as number
      for (let k = i + 1; k < n; k++) sum -= (lower[k]?.[i] as number) * (d[k] as number)
      d[i] = sum / (lower[i]?.[i] as number)
    }
    if (d.every(Number.isFinite)) return d
  }
  return undefined
}

/** The lower Cholesky factor of a symmetric matrix; undefined unless it is positive definite. */
function cholesky(matrix: number[][]): number[][] | undefined {
  const n = matrix.length
  const lower = matrix.map(() => new Array<number>(n).fill(0))
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = matrix[i]?.[j] as number
      for (let k = 0; k < j; k++) sum -= (lower[i]?.[k] as number) * (lower[j]?.[k] as number)
      if (i === j) {
        if (!(sum > 0)) return undefined
        ;(lower[i] as number[])[i] = Math.sqrt(sum)
      } else {
        ;(lower[i] as number[])[j] = sum / (lower[j]?.[j] as number)
      }
    }
  }
  return lower
}

/** Central differences; the step is relative to each log-parameter's size. */
function centralGradient(f: (x: number[]) => number, x: number[]): number[] {
  return x.map((xi, i) => {
    const h = 1e-6 * Math.max(1, Math.abs(xi))
    const up = x.slice()
    const down = x.slice()
    up[i] = xi + h
    down[i] = xi - h
    return (f(up) - f(down)) / (2 * h)
  })
}

/**
 * Standard errors from the observed information: the Hessian of the log-likelihood in the natural parameters (exact,
 * else by central differences, with steps relative to each parameter, of the gradient where there is one or of the
 * log-likelihood), inverted. Null for a parameter whose variance is not positive (a flat or non-concave direction: the
 * fit does not pin it down).
 */
async function standardErrors<Name extends string>(
  problem: MaximumLikelihoodProblem<Name>,
  at: Record<Name, number>,
  pause: () => Promise<void>,
): Promise<Record<Name, number | null>> {
  const {names} = problem
  const x0 = names.map((name) => at[name])
  const record = (x: number[]) =>
    Object.fromEntries(names.map((name, i) => [name, x[i] as number])) as Record<Name, number>
  const gradient = async (x: number[]) => {
    await pause()
    const g = names.map(() => 0)
    problem.logLikelihood(record(x), g)
    return g
  }
  const exactHessian = () => {
    const h = names.map(() => names.map(() => 0))
    problem.logLikelihood(
      at,
      names.map(() => 0),
      h,
    )
    return h
  }
  const derivatives = problem.derivatives ?? 0
  const hessian =
    derivatives === 2
      ? exactHessian()
      : derivatives === 1
        ? await gradientHessian(gradient, x0)
        : await valueHessian(async (x) => {
            await pause()
            return problem.logLikelihood(record(x))
          }, x0)
  let covariance: number[][] | undefined
  try {
    covariance = numeric.inv(hessian.map((row) => row.map((v) => -v)))
  } catch {
    covariance = undefined
  }
  return Object.fromEntries(
    names.map((name, i) => {
      const variance = covariance?.[i]?.[i]
      return [name, variance !== undefined && variance > 0 && Number.isFinite(variance) ? Math.sqrt(variance) : null]
    }),
  ) as Record<Name, number | null>
}

/** Hessian by central differences of the gradient (relative steps of 1e-5, about the cube root of the precision). */
async function gradientHessian(gradient: (x: number[]) => Promise<number[]>, x0: number[]): Promise<number[][]> {
  const n = x0.length
  const columns: number[][] = []
  for (const [j, xj] of x0.entries()) {
    const h = 1e-5 * xj
    const up = x0.slice()
    const down = x0.slice()
    up[j] = xj + h
    down[j] = xj - h
    const gUp = await gradient(up)
    const gDown = await gradient(down)
    columns.push(gUp.map((g, i) => (g - (gDown[i] as number)) / (2 * h)))
  }
  return Array.from({length: n}, (_, i) =>
    Array.from(
      {length: n},
      (_, j) => (((columns[j] as number[])[i] as number) + ((columns[i] as number[])[j] as number)) / 2,
    ),
  )
}

/** Hessian by central differences of the function (relative steps of 1e-4). */
async function valueHessian(f: (x: number[]) => Promise<number>, x0: number[]): Promise<number[][]> {
  const n = x0.length
  const h = x0.map((xi) => 1e-4 * xi)
  const shifted = (moves: [number, number][]) => {
    const x = x0.slice()
    for (const [i, sign] of moves) x[i] = (x[i] as number) + sign * (h[i] as number)
    return f(x)
  }
  const f0 = await f(x0)
  const hessian: number[][] = Array.from({length: n}, () => new Array<number>(n).fill(0))
  for (let i = 0; i < n; i++) {
    const hi = h[i] as number
    ;(hessian[i] as number[])[i] = ((await shifted([[i, 1]])) - 2 * f0 + (await shifted([[i, -1]]))) / (hi * hi)
    for (let j = 0; j < i; j++) {
      const value =
        ((await shifted([
          [i, 1],
          [j, 1],
        ])) -
          (await shifted([
            [i, 1],
            [j, -1],
          ])) -
          (await shifted([
            [i, -1],
            [j, 1],
          ])) +
          (await shifted([
            [i, -1],
            [j, -1],
          ]))) /
        (4 * hi * (h[j] as number))
      ;(hessian[i] as number[])[j] = value
      ;(hessian[j] as number[])[i] = value
    }
  }
  return hessian
}
