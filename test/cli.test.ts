import {type SpawnSyncReturns, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

// End-to-end: the built CLI as a user runs it. `npm test` builds dist/ first (pretest).
const RUN = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const BUILT_COMMAND = fileURLToPath(new URL('../dist/commands/config/show.js', import.meta.url))

let cwd: string
let xdgHome: string

beforeAll(() => {
  expect(existsSync(BUILT_COMMAND), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
})

beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'ecap-cli-'))
  xdgHome = join(cwd, '.xdg')
  await mkdir(xdgHome)
})

afterEach(async () => {
  await rm(cwd, {recursive: true, force: true})
})

/**
 * Runs `ecap <args>` in the temp dir with a private user config dir, and without the caller's ECAP_* variables or
 * Vitest's NODE_ENV=test (under which oclif goes looking for TypeScript sources and warns on stderr).
 */
function ecap(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('ECAP_') && !name.startsWith('VITEST') && name !== 'NODE_ENV',
    ),
  )
  return spawnSync(process.execPath, [RUN, ...args], {
    cwd,
    encoding: 'utf8',
    env: {
      ...base,
      XDG_CONFIG_HOME: xdgHome,
      XDG_DATA_HOME: xdgHome,
      XDG_CACHE_HOME: xdgHome,
      NO_COLOR: '1',
      ...env,
    },
    timeout: 30_000,
  })
}

describe('ecap config show', () => {
  it('prints the --json envelope with each value and its source', () => {
    const run = ecap(['config', 'show', '--json'])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 0,
      result: {
        lake: {value: './ecap-lake', source: 'default'},
        brokers: {value: 'localhost:9092', source: 'default'},
        topic: {value: 'ecap.events', source: 'default'},
        group: {value: 'ecap-ingest', source: 'default'},
      },
      warnings: [],
    })
  })

  it('prints one line per setting naming where it came from', () => {
    const run = ecap(['config', 'show', '--topic', 'shop.events'])
    expect(run.status).toBe(0)
    const width = 'sasl-password-file'.length
    expect(run.stdout.trimEnd().split('\n').slice(0, 3)).toEqual([
      `${'lake'.padEnd(width)}  ./ecap-lake  (default)`,
      `${'brokers'.padEnd(width)}  localhost:9092  (default)`,
      `${'topic'.padEnd(width)}  shop.events  (flag)`,
    ])
  })

  it('reports a value from ECAP_LAKE as coming from env', () => {
    const run = ecap(['config', 'show', '--json'], {ECAP_LAKE: '/data/lake'})
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout).result.lake).toEqual({value: '/data/lake', source: 'env', origin: 'ECAP_LAKE'})
  })

  it('reads ./ecap.config.json and the user config file', async () => {
    await writeFile(join(cwd, 'ecap.config.json'), JSON.stringify({brokers: 'kafka-1:9092'}))
    const userDir = join(xdgHome, 'ecap')
    await mkdir(userDir)
    await writeFile(join(userDir, 'config.json'), JSON.stringify({brokers: 'ignored:9092', topic: 'user.events'}))
    const result = JSON.parse(ecap(['config', 'show', '--json']).stdout).result
    expect(result.brokers).toEqual({value: 'kafka-1:9092', source: 'project', origin: join(cwd, 'ecap.config.json')})
    expect(result.topic).toEqual({value: 'user.events', source: 'user', origin: join(userDir, 'config.json')})
  })
})

describe('ecap errors', () => {
  it('exits 2 on an unknown flag, explaining on stderr and printing nothing on stdout', () => {
    const run = ecap(['config', 'show', '--no-such-flag'])
    expect(run.status).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('Error (INVALID_ARGUMENTS)')
    expect(run.stderr).toContain('--no-such-flag')
    expect(run.stderr).toContain('Try this:')
    expect(run.stderr).not.toMatch(/^\s+at /m)
  })

  it('puts the error envelope on stdout with --json', () => {
    const run = ecap(['config', 'show', '--no-such-flag', '--json'])
    expect(run.status).toBe(2)
    const envelope = JSON.parse(run.stdout)
    expect(envelope).toMatchObject({
      status: 2,
      result: null,
      error: {code: 'INVALID_ARGUMENTS', message: expect.stringContaining('--no-such-flag')},
      warnings: [],
    })
    expect(envelope.error.hints).toEqual(['See the flags and examples with --help.'])
    expect(run.stderr).toBe('')
  })

  it('exits 2 with CONFIG_INVALID for a broken ./ecap.config.json', async () => {
    const file = join(cwd, 'ecap.config.json')
    await writeFile(file, '{"lake": ')
    const run = ecap(['config', 'show'])
    expect(run.status).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('Error (CONFIG_INVALID)')
    expect(run.stderr).toContain(file)

    const json = ecap(['config', 'show', '--json'])
    expect(json.status).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({status: 2, result: null, error: {code: 'CONFIG_INVALID'}})
  })
})

describe('ecap --help', () => {
  it('exits 0 and lists the config show command', () => {
    const run = ecap(['--help'])
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('USAGE')
    expect(run.stdout).toContain('config')
  })

  it('gives each topic a line of its own, not the summary of one of its commands', async () => {
    const run = ecap(['--help'], {COLUMNS: '200'})
    expect(run.status).toBe(0)
    const topicsSection = run.stdout.split('TOPICS\n')[1]?.split('\n\n')[0] ?? ''
    const lines = new Map(
      topicsSection
        .split('\n')
        .map((line) => /^ {2}(\S+)\s+(.+)$/.exec(line))
        .filter((match) => match !== null)
        .map((match) => [match[1], (match[2] ?? '').trim()]),
    )
    // Every folder of commands is a topic: each must be listed with a description...
    const commandsDir = fileURLToPath(new URL('../dist/commands', import.meta.url))
    const topics = (await readdir(commandsDir, {withFileTypes: true})).filter((e) => e.isDirectory()).map((e) => e.name)
    expect([...lines.keys()].sort()).toEqual(topics.sort())
    for (const topic of topics) {
      // ...that is not the summary of any command under it (oclif's fallback when a topic has none).
      for (const file of (await readdir(join(commandsDir, topic))).filter((f) => f.endsWith('.js'))) {
        const {default: command} = await import(join(commandsDir, topic, file))
        expect(lines.get(topic), `${topic} is described by ${topic} ${file}`).not.toBe(command.summary)
      }
    }
  })

  it('documents the env var of each setting flag', () => {
    const run = ecap(['config', 'show', '--help'])
    expect(run.status).toBe(0)
    // Help wraps to the terminal width; compare with the wrapping undone.
    const help = run.stdout.replace(/\s+/g, ' ')
    for (const env of ['ECAP_LAKE', 'ECAP_BROKERS', 'ECAP_TOPIC']) expect(help).toContain(`[env: ${env}]`)
  })
})
