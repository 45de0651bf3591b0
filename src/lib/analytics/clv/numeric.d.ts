// The two functions of numeric 1.2.6 that the CLV fits use (the package ships no types; @types/numeric would be a
// third dependency for two signatures).
declare module 'numeric' {
  interface UncminResult {
    solution: number[]
    f: number
    gradient: number[]
    invHessian: number[][]
    iterations: number
    message: string
  }
  const numeric: {
    /** Unconstrained minimisation by BFGS with a backtracking line search. */
    uncmin(
      f: (x: number[]) => number,
      x0: number[],
      tol?: number,
      gradient?: (x: number[]) => number[],
      maxit?: number,
    ): UncminResult
    /** Inverse of a square matrix by Gauss-Jordan elimination with partial pivoting. */
    inv(matrix: number[][]): number[][]
  }
  export default numeric
}
