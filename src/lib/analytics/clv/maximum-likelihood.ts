import numeric from 'numeric'

/** A fitted model: parameters by name, their standard errors and the maximised log-likelihood. */
export interface FittedModel<Name extends string> {
  parameters: Record<Name, number>
  /** From the inverse of the observed information (minus the Hessian of the log-likelihood) at the optimum. */
  standardErrors: Record<Name, number | null>
  logLikelihood: number
  /** Customers whose data the likelihood summed over. */
  customers: number
  /** Quasi-Newton iterations the optimiser took. */
  iterations: number
}

export interface MaximumLikelihoodProblem<Name extends string> {
  names: readonly Name[]
  /** Starting values (all positive). */
  start: Record<Name, number>
  /**
   * The total log-likelihood of the data at positive parameters (NaN or -Infinity where it is undefined). Given
   * `gradient` (only when `hasGradient`), it also adds its gradient, in the order of `names`, into that array.
   */
  logLikelihood: (parameters: Record<Name, number>, gradient?: number[]) => number
  /**
   * Whether logLikelihood computes its gradient in closed form: BFGS then takes the gradient along with the value at
   * each point instead of two more log-likelihoods per parameter, and the Hessian for the standard errors is
   * differenced from gradients.
   */
  hasGradient?: boolean
  customers: number
}

export class FitError extends Error {}

/** Parameters stay within e^-12 .. e^12 (about 6e-6 .. 1.6e5) whatever the time unit. */
const LOG_BOUND = 12
/** BFGS iterations per round; fits of the published data sets take well under a hundred. */
const MAX_ITERATIONS = 500

/**
 * Maximises a log-likelihood over positive parameters. The optimiser (numeric's BFGS) works on their logarithms, so it
 * needs no bounds and no penalizer, and the scale of a rate (per day or per week) does not slow it down.
 */
export function maximizeLikelihood<Name extends string>(problem: MaximumLikelihoodProblem<Name>): FittedModel<Name> {
  const {names} = problem
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
    const gradient = problem.hasGradient ? names.map(() => 0) : undefined
    const ll = problem.logLikelihood(toRecord(parameters), gradient)
    if (!Number.isFinite(ll)) return Number.POSITIVE_INFINITY
    // d/d(ln θ) = θ · d/dθ, scaled and signed as the objective.
    if (gradient) cached = {logs, gradient: gradient.map((g, i) => (-g * (parameters[i] as number)) / scale)}
    return -ll / scale
  }
  const objectiveGradient = (logs: number[]): number[] => {
    if (!problem.hasGradient) return centralGradient(objective, logs)
    if (!cached?.logs.every((x, i) => x === logs[i])) {
      cached = undefined
      objective(logs)
    }
    const found = cached as {gradient: number[]} | undefined
    return found?.gradient ?? logs.map(() => Number.NaN)
  }
  const start = names.map((name) => Math.log(problem.start[name]))
  if (!Number.isFinite(objective(start))) throw new FitError('the log-likelihood is not finite at the starting values')
  let solution = start
  let iterations = 0
  // A restart from the first optimum resets BFGS's Hessian approximation, which a long walk can leave poorly scaled.
  for (let round = 0; round < 3; round++) {
    const result = numeric.uncmin(objective, solution, 1e-10, objectiveGradient, MAX_ITERATIONS)
    iterations += result.iterations
    const moved = Math.max(...result.solution.map((x, i) => Math.abs(x - (solution[i] as number))))
    solution = result.solution
    if (!result.solution.every(Number.isFinite)) throw new FitError(`the optimiser failed: ${result.message}`)
    if (moved < 1e-7) break
  }
  const parameters = toRecord(solution.map(Math.exp))
  const logLikelihood = problem.logLikelihood(parameters)
  if (!Number.isFinite(logLikelihood)) throw new FitError('the log-likelihood is not finite at the optimum')
  return {
    parameters,
    standardErrors: standardErrors(problem, parameters),
    logLikelihood,
    customers: problem.customers,
    iterations,
  }
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
 * Standard errors from the observed information: the Hessian of the log-likelihood in the natural parameters by
 * central differences (steps relative to each parameter) of the gradient where there is one, else of the
 * log-likelihood, inverted. Null for a parameter whose variance is not positive (a flat or non-concave direction: the
 * fit does not pin it down).
 */
function standardErrors<Name extends string>(
  problem: MaximumLikelihoodProblem<Name>,
  at: Record<Name, number>,
): Record<Name, number | null> {
  const {names} = problem
  const x0 = names.map((name) => at[name])
  const record = (x: number[]) =>
    Object.fromEntries(names.map((name, i) => [name, x[i] as number])) as Record<Name, number>
  const gradient = (x: number[]) => {
    const g = names.map(() => 0)
    problem.logLikelihood(record(x), g)
    return g
  }
  const hessian = problem.hasGradient
    ? gradientHessian(gradient, x0)
    : valueHessian((x) => problem.logLikelihood(record(x)), x0)
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
function gradientHessian(gradient: (x: number[]) => number[], x0: number[]): number[][] {
  const n = x0.length
  const columns = x0.map((xj, j) => {
    const h = 1e-5 * xj
    const up = x0.slice()
    const down = x0.slice()
    up[j] = xj + h
    down[j] = xj - h
    const gUp = gradient(up)
    const gDown = gradient(down)
    return gUp.map((g, i) => (g - (gDown[i] as number)) / (2 * h))
  })
  return Array.from({length: n}, (_, i) =>
    Array.from(
      {length: n},
      (_, j) => (((columns[j] as number[])[i] as number) + ((columns[i] as number[])[j] as number)) / 2,
    ),
  )
}

/** Hessian by central differences of the function (relative steps of 1e-4). */
function valueHessian(f: (x: number[]) => number, x0: number[]): number[][] {
  const n = x0.length
  const h = x0.map((xi) => 1e-4 * xi)
  const shifted = (moves: [number, number][]) => {
    const x = x0.slice()
    for (const [i, sign] of moves) x[i] = (x[i] as number) + sign * (h[i] as number)
    return f(x)
  }
  const f0 = f(x0)
  const hessian: number[][] = Array.from({length: n}, () => new Array<number>(n).fill(0))
  for (let i = 0; i < n; i++) {
    const hi = h[i] as number
    ;(hessian[i] as number[])[i] = (shifted([[i, 1]]) - 2 * f0 + shifted([[i, -1]])) / (hi * hi)
    for (let j = 0; j < i; j++) {
      const value =
        (shifted([
          [i, 1],
          [j, 1],
        ]) -
          shifted([
            [i, 1],
            [j, -1],
          ]) -
          shifted([
            [i, -1],
            [j, 1],
          ]) +
          shifted([
            [i, -1],
            [j, -1],
          ])) /
        (4 * hi * (h[j] as number))
      ;(hessian[i] as number[])[j] = value
      ;(hessian[j] as number[])[i] = value
    }
  }
  return hessian
}
