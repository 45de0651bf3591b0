import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {fitLogistic} from '../src/lib/analytics/fraud/logistic.js'
import {ensurePythonTools, PYTHON} from './helpers/python.js'

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'fraud', 'logistic-fit.csv')

beforeAll(() => {
  ensurePythonTools()
})

/** scikit-learn's fit of the fixture, as {intercept, coefficients}. */
function sklearnFit(l2: number): {intercept: number; coefficients: number[]} {
  const script = [
    'import json, sys',
    'import numpy as np',
    'from sklearn.linear_model import LogisticRegression',
    'data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)',
    'x, y = data[:, :-1], data[:, -1]',
    // Newton-Cholesky with a tolerance far below the comparison's, so the reference is the optimum itself.
    'm = LogisticRegression(C=1 / float(sys.argv[2]), solver="newton-cholesky", tol=1e-14, max_iter=1000).fit(x, y)',
    'print(json.dumps({"intercept": float(m.intercept_[0]), "coefficients": [float(c) for c in m.coef_[0]]}))',
  ].join('\n')
  return JSON.parse(execFileSync(PYTHON, ['-c', script, FIXTURE, String(l2)], {encoding: 'utf8'}))
}

function fixture(): {x: number[][]; y: number[]} {
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n').slice(1)
  const rows = lines.map((line) => line.split(',').map(Number))
  return {x: rows.map((r) => r.slice(0, -1)), y: rows.map((r) => r[r.length - 1] as number)}
}

describe('analytics-fraud-learn logistic regression', () => {
  for (const l2 of [1, 0.01, 10]) {
    it(`matches scikit-learn's LogisticRegression (C = ${1 / l2}) to 1e-6 on the fixture`, () => {
      const {x, y} = fixture()
      const ours = fitLogistic(x, y, {l2})
      const reference = sklearnFit(l2)
      expect(ours.converged).toBe(true)
      expect(Math.abs(ours.intercept - reference.intercept)).toBeLessThan(1e-6)
      expect(ours.coefficients).toHaveLength(reference.coefficients.length)
      for (const [i, c] of reference.coefficients.entries()) {
        expect(Math.abs((ours.coefficients[i] as number) - c), `coefficient ${i}`).toBeLessThan(1e-6)
      }
    })
  }
})
