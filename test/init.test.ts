import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {resolveConfig} from '../src/lib/config/resolve.js'
import {connectionFromConfig} from '../src/lib/kafka/settings.js'
import {
  askInitAnswers,
  configFromAnswers,
  INIT_DEFAULTS,
  type InitAnswers,
  type Prompter,
  writeInitConfig,
} from '../src/lib/setup/init.js'
import {cleanEnv, ecap, RUN} from './helpers/cli.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

const BUILT_COMMAND = fileURLToPath(new URL('../dist/commands/init.js', import.meta.url))
const SECRET = 'hunter2-do-not-write-me'

let root: string
let cwd: string
let xdgHome: string
let configFile: string

beforeAll(() => {
  expect(existsSync(BUILT_COMMAND), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
})

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecap-init-'))
  cwd = join(root, 'work')
  xdgHome = join(root, 'xdg')
  await mkdir(cwd)
  await mkdir(xdgHome)
  configFile = join(cwd, 'ecap.config.json')
})

afterEach(async () => {
  await rm(root, {recursive: true, force: true})
})

function init(args: string[], env: NodeJS.ProcessEnv = {}) {
  return ecap(['init', ...args], {cwd, xdgHome, env})
}

async function written(): Promise<Record<string, string>> {
  return JSON.parse(await readFile(configFile, 'utf8'))
}

describe('ecap init --yes', () => {
  it('writes the flags and defaults as ./ecap.config.json, which ecap then reads', async () => {
    const run = init(['--yes', '--no-check', '--brokers', 'kafka-1:9092,kafka-2:9092', '--lake', '/data/lake'])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(await written()).toEqual({
      lake: '/data/lake',
      brokers: 'kafka-1:9092,kafka-2:9092',
      topic: 'ecap.events',
      group: 'ecap-ingest',
      tls: false,
    })
    expect(run.stdout).toContain(`Wrote ${configFile}`)
    const show = JSON.parse(ecap(['config', 'show', '--json'], {cwd, xdgHome}).stdout).result
    expect(show.brokers).toEqual({value: 'kafka-1:9092,kafka-2:9092', source: 'project', origin: configFile})
    expect(show.group).toEqual({value: 'ecap-ingest', source: 'project', origin: configFile})
  })

  it('writes TLS and SASL settings that name where the password is, never the password', async () => {
    const run = init(
      [
        '--yes',
        '--no-check',
        '--tls',
        '--tls-ca',
        '/etc/ssl/kafka-ca.pem',
        '--sasl-mechanism',
        'scram-sha-512',
        '--sasl-username',
        'ecap',
        '--sasl-password-env',
        'SHOP_KAFKA_PASSWORD',
        '--group',
        'shop-ingest',
        '--topic',
        'shop.events',
      ],
      {SHOP_KAFKA_PASSWORD: SECRET, ECAP_KAFKA_PASSWORD: SECRET},
    )
    expect(run.status).toBe(0)
    const text = await readFile(configFile, 'utf8')
    expect(text).not.toContain(SECRET)
    expect(run.stdout).not.toContain(SECRET)
    expect(JSON.parse(text)).toEqual({
      lake: './ecap-lake',
      brokers: 'localhost:9092',
      topic: 'shop.events',
      group: 'shop-ingest',
      tls: true,
      'tls-ca': '/etc/ssl/kafka-ca.pem',
      'sasl-mechanism': 'scram-sha-512',
      'sasl-username': 'ecap',
      'sasl-password-env': 'SHOP_KAFKA_PASSWORD',
    })
    // What ecap makes of the file: the password from the variable it names.
    const config = resolveConfig({env: {}, cwd})
    const connection = connectionFromConfig(config, {SHOP_KAFKA_PASSWORD: SECRET})
    expect(connection).toEqual({
      brokers: 'localhost:9092',
      tls: true,
      tlsCaFile: '/etc/ssl/kafka-ca.pem',
      sasl: {mechanism: 'scram-sha-512', username: 'ecap', passwordFile: undefined, passwordEnv: 'SHOP_KAFKA_PASSWORD'},
    })
    // Without the variable the settings are incomplete, and ecap says which variable before connecting.
    expect(() => connectionFromConfig(config, {})).toThrow(/SHOP_KAFKA_PASSWORD is not set/)
  })

  it('writes a password file path, and no secret, with --sasl-password-file', async () => {
    const secretFile = join(root, 'kafka-password')
    await writeFile(secretFile, `${SECRET}\n`)
    const run = init([
      '--yes',
      '--sasl-mechanism',
      'plain',
      '--sasl-username',
      'ecap',
      '--sasl-password-file',
      secretFile,
      '--brokers',
      '127.0.0.1:1',
    ])
    expect(run.status).toBe(0)
    const text = await readFile(configFile, 'utf8')
    expect(text).not.toContain(SECRET)
    expect(JSON.parse(text)['sasl-password-file']).toBe(secretFile)
    expect(JSON.parse(text)).not.toHaveProperty('sasl-password-env')
    expect(run.stdout).toMatch(/✓ password\s+.*kafka-password is readable/)
  })

  it('reports, and does not fail on, unreachable Kafka and a password variable that is not set', async () => {
    const run = init(['--yes', '--brokers', '127.0.0.1:1', '--json'])
    expect(run.status).toBe(0)
    const result = JSON.parse(run.stdout).result
    expect(result.checks.find((c: {name: string}) => c.name === 'kafka')).toMatchObject({status: 'warn'})
    expect(result.checks.find((c: {name: string}) => c.name === 'lake')).toMatchObject({status: 'ok'})

    const sasl = init(['--yes', '--force', '--sasl-mechanism', 'plain', '--sasl-username', 'u', '--json'])
    expect(sasl.status).toBe(0)
    const checks = JSON.parse(sasl.stdout).result.checks as {name: string; status: string}[]
    expect(checks.find((c) => c.name === 'password')).toMatchObject({status: 'warn'})
    expect(checks.find((c) => c.name === 'kafka')).toMatchObject({status: 'skip'})
  })

  it('checks the real test broker and the topic', async () => {
    const topic = uniqueName('init')
    const admin = testKafka().admin()
    await admin.connect()
    try {
      await admin.createTopics({topics: [{topic, numPartitions: 2, replicationFactor: 1}], waitForLeaders: true})
    } finally {
      await admin.disconnect()
    }
    const run = init(['--yes', '--brokers', testBrokers(), '--topic', topic])
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(/✓ kafka\s+127\.0\.0\.1:\d+: 1 broker/)
    expect(run.stdout).toMatch(new RegExp(`✓ topic\\s+${topic}: 2 partitions`))
  })

  it('exits 2 and leaves an existing config alone without --force; replaces it with --force', async () => {
    await writeFile(configFile, '{"lake": "./mine"}\n')
    const run = init(['--yes', '--no-check', '--lake', './other'])
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('CONFIG_EXISTS')
    expect(run.stderr).toContain('--force')
    expect(await readFile(configFile, 'utf8')).toBe('{"lake": "./mine"}\n')

    const forced = init(['--yes', '--no-check', '--force', '--lake', './other'])
    expect(forced.status).toBe(0)
    expect((await written()).lake).toBe('./other')
    // Atomic: no temp file left beside it.
    expect(await readdir(cwd)).toEqual(['ecap.config.json'])
  })

  it('replaces a broken config with --force', async () => {
    await writeFile(configFile, '{"lake": ')
    const run = init(['--yes', '--no-check', '--force'])
    expect(run.status).toBe(0)
    expect((await written()).lake).toBe('./ecap-lake')
  })

  it('takes the defaults of the questions from ECAP_* variables', async () => {
    const run = init(['--yes', '--no-check'], {ECAP_BROKERS: 'env-kafka:9092', ECAP_GROUP: 'env-group'})
    expect(run.status).toBe(0)
    expect(await written()).toMatchObject({brokers: 'env-kafka:9092', group: 'env-group'})
  })

  it('exits 2 on bad answers given as flags, writing nothing', async () => {
    const bad = init(['--yes', '--no-check', '--brokers', 'not a broker'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('INVALID_BROKERS')
    const noUser = init(['--yes', '--no-check', '--sasl-mechanism', 'plain'])
    expect(noUser.status).toBe(2)
    expect(noUser.stderr).toContain('--sasl-username')
    const both = init(['--yes', '--sasl-password-env', 'A', '--sasl-password-file', '/x'])
    expect(both.status).toBe(2)
    expect(existsSync(configFile)).toBe(false)
  })
})

describe('ecap init without a terminal', () => {
  it('exits 2 without --yes, naming the flags to use, and writes nothing', () => {
    const run = init(['--brokers', 'kafka-1:9092'])
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('INIT_NEEDS_A_TERMINAL')
    expect(run.stderr).toContain('--yes --brokers kafka-1:9092')
    expect(run.stdout).toBe('')
    expect(existsSync(configFile)).toBe(false)
  })

  it('exits 2 under --json without --yes, with the error envelope', () => {
    const run = init(['--json'])
    expect(run.status).toBe(2)
    expect(JSON.parse(run.stdout)).toMatchObject({status: 2, error: {code: 'INIT_NEEDS_A_TERMINAL'}})
  })
})

/** A Prompter that answers from a script and records the questions it was asked. */
function scripted(answers: (string | boolean)[]): Prompter & {asked: string[]} {
  const queue = [...answers]
  const asked: string[] = []
  const next = <T>(message: string): T => {
    asked.push(message)
    if (queue.length === 0) throw new Error(`unexpected question: ${message}`)
    return queue.shift() as T
  }
  return {
    asked,
    input: async (q) => {
      // As inquirer does: an empty answer takes the default, and the validator sees the result.
      const given = next<string>(q.message)
      const answer = given === '' ? (q.default ?? '') : given
      const valid = q.validate?.(answer) ?? true
      if (valid !== true) throw new Error(`invalid answer to "${q.message}": ${valid}`)
      return answer
    },
    confirm: async (q) => next<boolean>(q.message),
    select: async (q) => {
      const answer = next<string>(q.message)
      expect(q.choices.map((c) => c.value)).toContain(answer)
      return answer as never
    },
  }
}

describe('the wizard (askInitAnswers)', () => {
  it('asks every question when no flag was given, and skips what does not apply', async () => {
    const prompt = scripted([
      'kafka:9093',
      'shop.events',
      '',
      '/data/lake',
      true,
      '/ca.pem',
      'scram-sha-256',
      'ecap',
      'env',
      'SHOP_PW',
    ])
    const answers = await askInitAnswers(INIT_DEFAULTS, {}, prompt)
    expect(answers).toEqual({
      ...INIT_DEFAULTS,
      brokers: 'kafka:9093',
      topic: 'shop.events',
      group: 'ecap-ingest',
      lake: '/data/lake',
      tls: true,
      tlsCa: '/ca.pem',
      saslMechanism: 'scram-sha-256',
      saslUsername: 'ecap',
      passwordSource: 'env',
      passwordEnv: 'SHOP_PW',
    } satisfies InitAnswers)
    expect(prompt.asked).toHaveLength(10)
    expect(prompt.asked.some((m) => /password/i.test(m) && /never/i.test(m))).toBe(true)
  })

  it('asks nothing about a CA without TLS, or about users and passwords without SASL', async () => {
    const prompt = scripted(['', '', '', '', false, 'none'])
    const answers = await askInitAnswers(INIT_DEFAULTS, {}, prompt)
    expect(answers).toEqual(INIT_DEFAULTS)
    expect(prompt.asked).toHaveLength(6)
  })

  it('does not ask what a flag answered', async () => {
    const prompt = scripted(['file', '/run/secrets/kafka'])
    const answers = await askInitAnswers(
      INIT_DEFAULTS,
      {brokers: 'b:1', topic: 't', group: 'g', lake: 'l', tls: false, saslMechanism: 'plain', saslUsername: 'u'},
      prompt,
    )
    expect(prompt.asked).toHaveLength(2)
    expect(configFromAnswers(answers)).toEqual({
      lake: 'l',
      brokers: 'b:1',
      topic: 't',
      group: 'g',
      tls: false,
      'sasl-mechanism': 'plain',
      'sasl-username': 'u',
      'sasl-password-file': '/run/secrets/kafka',
    })
  })

  it('rejects a broker list that is not host:port at the prompt', async () => {
    await expect(askInitAnswers(INIT_DEFAULTS, {}, scripted(['kafka without port']))).rejects.toThrow(/host:port/)
  })

  it('writes what the wizard answered, atomically, with no secret in it', async () => {
    const answers = await askInitAnswers(
      INIT_DEFAULTS,
      {},
      scripted(['k:9092', '', '', './lake', false, 'plain', 'u', 'env', 'PW_VAR']),
    )
    const result = await writeInitConfig({path: configFile, answers, force: false, check: false, env: {PW_VAR: SECRET}})
    expect(result.checks).toEqual([])
    const text = await readFile(configFile, 'utf8')
    expect(text).not.toContain(SECRET)
    expect(JSON.parse(text)).toEqual(result.config)
    await expect(writeInitConfig({path: configFile, answers, force: false, check: false})).rejects.toMatchObject({
      code: 'CONFIG_EXISTS',
      exitCode: 2,
    })
  })
})

const PTY_DRIVE = fileURLToPath(new URL('./helpers/pty-drive.py', import.meta.url))

/** Runs `ecap init` on a pseudo-terminal, answering each prompt (text to wait for, keys to type) like a person. */
function initOnTerminal(args: string[], steps: [string, string][]) {
  return spawnSync('python3', [PTY_DRIVE, cwd, JSON.stringify(steps), process.execPath, RUN, 'init', ...args], {
    encoding: 'utf8',
    env: onTerminalEnv(),
    timeout: 60_000,
  })
}

/** CI=true (set by CI services) means "nobody is there to answer", so the wizard would refuse: a terminal test runs without it. */
function onTerminalEnv(): NodeJS.ProcessEnv {
  const env = cleanEnv(xdgHome)
  delete env.CI
  return env
}

describe('ecap init on a terminal (the inquirer wizard)', () => {
  it('asks its questions, takes defaults on Enter, and writes the answers', async () => {
    const down = '\u001b[B'
    const run = initOnTerminal(
      ['--no-check'],
      [
        ['Kafka brokers', 'kafka-9:9092\r'],
        ['Topic', '\r'],
        ['Consumer group', '\r'],
        ['Lake folder', './my-lake\r'],
        ['TLS', 'n\r'],
        ['SASL', `${down}\r`],
        ['user name', 'bob\r'],
        ['password', '\r'],
        ['environment variable', 'SHOP_PW\r'],
      ],
    )
    expect(run.status, run.stdout + run.stderr).toBe(0)
    expect(await written()).toEqual({
      lake: './my-lake',
      brokers: 'kafka-9:9092',
      topic: 'ecap.events',
      group: 'ecap-ingest',
      tls: false,
      'sasl-mechanism': 'plain',
      'sasl-username': 'bob',
      'sasl-password-env': 'SHOP_PW',
    })
  })

  it('asks only what no flag answered', async () => {
    const run = initOnTerminal(
      ['--no-check', '--brokers', 'k:1', '--topic', 't', '--group', 'g', '--tls', '--sasl-mechanism', 'none'],
      [
        ['Lake folder', '\r'],
        ['CA certificate', '/ca.pem\r'],
      ],
    )
    expect(run.status, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).not.toContain('Kafka brokers')
    expect(await written()).toMatchObject({brokers: 'k:1', lake: './ecap-lake', tls: true, 'tls-ca': '/ca.pem'})
  })

  it('exits 130 on Ctrl-C at a prompt, writing nothing', () => {
    const run = initOnTerminal(['--no-check'], [['Kafka brokers', '\u0003']])
    expect(run.status).toBe(130)
    expect(existsSync(configFile)).toBe(false)
  })
})
