import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {PROJECT_CONFIG_FILE, resolveConfig, USER_CONFIG_FILE} from '../src/lib/config/resolve.js'
import {SETTING_KEYS, SETTINGS} from '../src/lib/config/settings.js'
import {UsageError} from '../src/lib/errors.js'

let root: string
let projectDir: string
let userDir: string
let projectFile: string
let userFile: string

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecap-config-'))
  projectDir = join(root, 'project')
  userDir = join(root, 'user')
  await mkdir(projectDir)
  await mkdir(userDir)
  projectFile = join(projectDir, PROJECT_CONFIG_FILE)
  userFile = join(userDir, USER_CONFIG_FILE)
})

afterEach(async () => {
  await rm(root, {recursive: true, force: true})
})

/** Resolves with only what a test gives: no process.env, no real working directory or home. */
function resolveWith(options: {flags?: Record<string, string | undefined>; env?: Record<string, string>} = {}) {
  return resolveConfig({flags: options.flags, env: options.env ?? {}, cwd: projectDir, userConfigDir: userDir})
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw, but the call returned')
}

describe('resolveConfig precedence', () => {
  it('falls back to the built-in defaults, with no origin', () => {
    expect(resolveWith()).toEqual(
      Object.fromEntries(SETTING_KEYS.map((key) => [key, {value: SETTINGS[key].default, source: 'default'}])),
    )
    expect(resolveWith()).toMatchObject({
      lake: {value: './ecap-lake', source: 'default'},
      brokers: {value: 'localhost:9092', source: 'default'},
      topic: {value: 'ecap.events', source: 'default'},
    })
  })

  it('takes the user config file over the default', async () => {
    await writeFile(userFile, JSON.stringify({lake: '/user/lake'}))
    const config = resolveWith()
    expect(config.lake).toEqual({value: '/user/lake', source: 'user', origin: userFile})
    expect(config.brokers.source).toBe('default')
  })

  it('takes ./ecap.config.json over the user config file', async () => {
    await writeFile(userFile, JSON.stringify({lake: '/user/lake', topic: 'user.topic'}))
    await writeFile(projectFile, JSON.stringify({lake: '/project/lake'}))
    const config = resolveWith()
    expect(config.lake).toEqual({value: '/project/lake', source: 'project', origin: projectFile})
    expect(config.topic).toEqual({value: 'user.topic', source: 'user', origin: userFile})
  })

  it('takes the ECAP_* env var over both files', async () => {
    await writeFile(userFile, JSON.stringify({lake: '/user/lake'}))
    await writeFile(projectFile, JSON.stringify({lake: '/project/lake'}))
    const config = resolveWith({env: {ECAP_LAKE: '/env/lake'}})
    expect(config.lake).toEqual({value: '/env/lake', source: 'env', origin: 'ECAP_LAKE'})
  })

  it('takes the flag over everything, with no origin', async () => {
    await writeFile(userFile, JSON.stringify({lake: '/user/lake'}))
    await writeFile(projectFile, JSON.stringify({lake: '/project/lake'}))
    const config = resolveWith({flags: {lake: '/flag/lake'}, env: {ECAP_LAKE: '/env/lake'}})
    expect(config.lake).toEqual({value: '/flag/lake', source: 'flag'})
  })

  it('resolves each setting on its own', async () => {
    await writeFile(userFile, JSON.stringify({lake: '/user/lake', brokers: 'user:9092', topic: 'user.topic'}))
    await writeFile(projectFile, JSON.stringify({brokers: 'project:9092', topic: 'project.topic'}))
    const config = resolveWith({flags: {lake: undefined, topic: 'flag.topic'}, env: {ECAP_BROKERS: 'env:9092'}})
    expect(config).toMatchObject({
      lake: {value: '/user/lake', source: 'user', origin: userFile},
      brokers: {value: 'env:9092', source: 'env', origin: 'ECAP_BROKERS'},
      topic: {value: 'flag.topic', source: 'flag'},
    })
  })

  it('ignores an empty env var', async () => {
    await writeFile(projectFile, JSON.stringify({lake: '/project/lake'}))
    const config = resolveWith({env: {ECAP_LAKE: '', ECAP_TOPIC: ''}})
    expect(config.lake).toEqual({value: '/project/lake', source: 'project', origin: projectFile})
    expect(config.topic).toEqual({value: SETTINGS.topic.default, source: 'default'})
  })

  it('takes a true/false setting as a JSON boolean or as text', async () => {
    await writeFile(projectFile, JSON.stringify({tls: true}))
    expect(resolveWith({env: {}}).tls).toEqual({value: 'true', source: 'project', origin: projectFile})
    await writeFile(projectFile, JSON.stringify({tls: 'false'}))
    expect(resolveWith({env: {}}).tls.value).toBe('false')
  })

  it('reads no user file when there is no user config dir, and none when the dir does not exist', async () => {
    await writeFile(userFile, JSON.stringify({lake: '/user/lake'}))
    expect(resolveConfig({env: {}, cwd: projectDir}).lake.source).toBe('default')
    expect(resolveConfig({env: {}, cwd: projectDir, userConfigDir: join(root, 'absent')}).lake.source).toBe('default')
  })
})

describe('resolveConfig with a broken config file', () => {
  const broken: [string, string, string][] = [
    ['invalid JSON', '{"lake": ', 'CONFIG_INVALID'],
    ['an array', '["./lake"]', 'CONFIG_INVALID'],
    ['a JSON string', '"./lake"', 'CONFIG_INVALID'],
    ['null', 'null', 'CONFIG_INVALID'],
    ['an unknown key', '{"lake": "./lake", "broker": "localhost:9092"}', 'CONFIG_UNKNOWN_KEY'],
    ['a non-string value', '{"lake": 42}', 'CONFIG_INVALID'],
    ['a boolean for a text setting', '{"lake": true}', 'CONFIG_INVALID'],
    ['a number for a true/false setting', '{"tls": 1}', 'CONFIG_INVALID'],
  ]

  for (const which of ['project', 'user'] as const) {
    it.each(broken)(
      `rejects a ${which} file holding %s with a usage error naming the file`,
      async (_label, text, code) => {
        const file = which === 'project' ? projectFile : userFile
        await writeFile(file, text)
        const error = thrownBy(() => resolveWith())
        expect(error).toBeInstanceOf(UsageError)
        expect(error).toMatchObject({code, exitCode: 2})
        expect((error as UsageError).message).toContain(file)
      },
    )
  }

  it('names the unknown key and lists the known ones', async () => {
    await writeFile(projectFile, '{"broker": "localhost:9092"}')
    const error = thrownBy(() => resolveWith()) as UsageError
    expect(error.message).toContain('"broker"')
    expect(error.hints).toEqual([`Known keys: ${SETTING_KEYS.join(', ')}.`])
    expect(error.hints[0]).toMatch(/^Known keys: lake, brokers, topic, /)
  })

  it('rejects a broken file even when a flag sets every value', async () => {
    await writeFile(projectFile, '{oops')
    const error = thrownBy(() => resolveWith({flags: {lake: 'a', brokers: 'b', topic: 'c'}}))
    expect(error).toMatchObject({code: 'CONFIG_INVALID', exitCode: 2})
  })

  it('rejects a config path it cannot read as a file', async () => {
    await mkdir(projectFile)
    const error = thrownBy(() => resolveWith())
    expect(error).toBeInstanceOf(UsageError)
    expect(error).toMatchObject({code: 'CONFIG_UNREADABLE', exitCode: 2})
    expect((error as UsageError).message).toContain(projectFile)
  })
})
