// The function of numeric 1.2.6 that the CLV fits use (the package ships no types; @types/numeric would be a
// third dependency for one signature).
declare module 'numeric' {
  const numeric: {
    /** Inverse of a square matrix by Gauss-Jordan elimination with partial pivoting. */
    inv(matrix: number[][]): number[][]
  }
  export default numeric
}
