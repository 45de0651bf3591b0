import {mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ecap} from './helpers/cli.js'

let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecap-completion-'))
  await mkdir(join(root, 'xdg'))
})

afterAll(async () => {
  await rm(root, {recursive: true, force: true})
})

describe('shell completion (@oclif/plugin-autocomplete)', () => {
  it('documents ecap autocomplete for bash, zsh and powershell', () => {
    const run = ecap(['autocomplete', '--help'], {cwd: root, xdgHome: join(root, 'xdg')})
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('$ ecap autocomplete bash')
    expect(run.stdout).toContain('zsh')
  })

  it('prints a bash setup line that sources the completion script, and builds that script with ecap commands', async () => {
    const xdgHome = join(root, 'xdg')
    const script = ecap(['autocomplete', 'script', 'bash'], {cwd: root, xdgHome})
    expect(script.status).toBe(0)
    expect(script.stdout).toContain('ECAP_AC_BASH_SETUP_PATH=')
    expect(script.stdout).toContain('# ecap autocomplete setup')

    const refresh = ecap(['autocomplete', '--refresh-cache'], {cwd: root, xdgHome})
    expect(refresh.status, refresh.stderr).toBe(0)
    const functions = await readFile(join(xdgHome, 'ecap', 'autocomplete', 'functions', 'bash', 'ecap.bash'), 'utf8')
    for (const command of ['demo', 'doctor', 'init', 'ingest', 'analyze', 'report'])
      expect(functions).toContain(command)
  })
})
