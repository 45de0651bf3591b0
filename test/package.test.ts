import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cleanEnv} from './helpers/cli.js'

/**
 * The package a user installs (issue 20): `npm pack` ships the built dist/ and kafkajs with ecap's patch inside it
 * (bundleDependencies), so `npm install -g ./ecap-<version>.tgz` runs no install script, prints no warning, and the
 * installed ecap runs. Checked on whichever Node.js line runs the suite (.ci/run runs it on Node 20 and Node 24).
 */

const ROOT = join(import.meta.dirname, '..')
const PATCH_MARKER = 'ecap patch (kafkajs #1751, #1704)'
const REQUEST_QUEUE = 'node_modules/kafkajs/src/network/requestQueue/index.js'

let root: string
let tarball: string

/** npm run with this process's node first on PATH, so npm and what it starts run on the line under test. */
function npm(args: string[], cwd: string, timeout = 240_000) {
  const env = {...cleanEnv(), PATH: `${dirname(process.execPath)}:${process.env.PATH}`, NO_COLOR: '1'}
  return spawnSync('npm', args, {cwd, env, encoding: 'utf8', timeout})
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecap-package-'))
  // dist/ is built by `npm test` (pretest); --ignore-scripts keeps prepack from rebuilding it under running tests.
  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', root], ROOT)
  expect(packed.status, packed.stderr).toBe(0)
  const [info] = JSON.parse(packed.stdout) as {filename: string; bundled: string[]}[]
  tarball = join(root, info?.filename as string)
}, 120_000)

afterAll(async () => {
  await rm(root, {recursive: true, force: true})
})

describe('the packed tarball', () => {
  it('carries dist/ and kafkajs with the patch applied', async () => {
    const files = execFileSync('tar', ['-tzf', tarball], {encoding: 'utf8', maxBuffer: 16 << 20}).split('\n')
    expect(files).toContain('package/dist/commands/ingest.js')
    expect(files).toContain('package/bin/run.js')
    const queue = execFileSync('tar', ['-xzOf', tarball, `package/${REQUEST_QUEUE}`], {encoding: 'utf8'})
    expect(queue).toContain(PATCH_MARKER)
    // The checkout's own copy is patched too (npm ci ran the "dependencies" script), which is what prepack bundles.
    expect(readFileSync(join(ROOT, REQUEST_QUEUE), 'utf8')).toContain(PATCH_MARKER)
  })

  it('installs globally without a warning or a script, and the installed ecap runs the demo', async () => {
    const prefix = join(root, 'prefix')
    const install = npm(
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball],
      root,
    )
    expect(install.status, install.stderr).toBe(0)
    expect(install.stderr).toBe('')
    const installed = join(prefix, 'lib', 'node_modules', 'ecap')
    expect(readFileSync(join(installed, REQUEST_QUEUE), 'utf8')).toContain(PATCH_MARKER)

    const work = join(root, 'work')
    await mkdir(work)
    const demo = spawnSync(process.execPath, [join(prefix, 'bin', 'ecap'), 'demo'], {
      cwd: work,
      env: {...cleanEnv(join(root, 'xdg')), NO_COLOR: '1'},
      encoding: 'utf8',
      timeout: 180_000,
    })
    expect(demo.status, demo.stderr).toBe(0)
    expect(demo.stderr).not.toMatch(/warn|\(node:\d+\)/i)
    expect(existsSync(join(work, 'ecap-demo', 'report.html'))).toBe(true)
  }, 480_000)
})
