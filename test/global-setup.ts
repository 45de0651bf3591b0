import {ensurePythonTools} from './helpers/python.js'

/** Starts or installs what the integration tests need before any test runs. */
export default function setup(): void {
  ensurePythonTools()
}
