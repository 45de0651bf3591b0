import {readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {UsageError} from '../errors.js'
import {type ConfigSource, isBooleanSetting, SETTING_KEYS, SETTINGS, type SettingKey} from './settings.js'

export const PROJECT_CONFIG_FILE = 'ecap.config.json'
export const USER_CONFIG_FILE = 'config.json'

export interface ResolvedValue {
  value: string
  source: ConfigSource
  /** The env var name or file path the value came from, for `ecap config show`. */
  origin?: string
}

export type ResolvedConfig = Record<SettingKey, ResolvedValue>

export interface ResolveConfigOptions {
  /** Values given as flags on this command line; undefined means "not given". */
  flags?: Partial<Record<SettingKey, string | undefined>>
  env?: NodeJS.ProcessEnv
  /** Folder searched for `ecap.config.json` (the working directory). */
  cwd?: string
  /** Folder holding the user's `config.json` (oclif's configDir, e.g. ~/.config/ecap). */
  userConfigDir?: string
}

/**
 * Resolves every setting by precedence: flag > `ECAP_*` env > `./ecap.config.json` > user config file > default.
 * A config file that exists but is not valid gets a usage error naming the file, never a silent default.
 */
export function resolveConfig(options: ResolveConfigOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env
  const projectPath = resolve(options.cwd ?? process.cwd(), PROJECT_CONFIG_FILE)
  const project = readConfigFile(projectPath)
  const userPath = options.userConfigDir ? join(options.userConfigDir, USER_CONFIG_FILE) : undefined
  const user = userPath ? readConfigFile(userPath) : {}

  const resolved = {} as ResolvedConfig
  for (const key of SETTING_KEYS) {
    const setting = SETTINGS[key]
    const flag = options.flags?.[key]
    const fromEnv = env[setting.env]
    if (flag !== undefined) resolved[key] = {value: flag, source: 'flag'}
    else if (fromEnv !== undefined && fromEnv !== '')
      resolved[key] = {value: fromEnv, source: 'env', origin: setting.env}
    else if (project[key] !== undefined) resolved[key] = {value: project[key], source: 'project', origin: projectPath}
    else if (user[key] !== undefined) resolved[key] = {value: user[key], source: 'user', origin: userPath}
    else resolved[key] = {value: setting.default, source: 'default'}
  }
  return resolved
}

function readConfigFile(path: string): Partial<Record<SettingKey, string>> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new UsageError('CONFIG_UNREADABLE', `Cannot read config file ${path}: ${(error as Error).message}`, {
      cause: error,
    })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new UsageError('CONFIG_INVALID', `Config file ${path} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      hints: [`Fix or remove ${path}; it must hold one JSON object such as {"lake": "./ecap-lake"}.`],
    })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError('CONFIG_INVALID', `Config file ${path} must hold one JSON object.`, {
      hints: ['Example: {"lake": "./ecap-lake", "brokers": "localhost:9092"}'],
    })
  }
  const values: Partial<Record<SettingKey, string>> = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (!(SETTING_KEYS as string[]).includes(key)) {
      throw new UsageError('CONFIG_UNKNOWN_KEY', `Config file ${path} has an unknown key "${key}".`, {
        hints: [`Known keys: ${SETTING_KEYS.join(', ')}.`],
      })
    }
    if (typeof value === 'boolean' && isBooleanSetting(key as SettingKey)) {
      values[key as SettingKey] = String(value)
      continue
    }
    if (typeof value !== 'string') {
      const expected = isBooleanSetting(key as SettingKey) ? 'true or false' : 'a string'
      throw new UsageError('CONFIG_INVALID', `Config key "${key}" in ${path} must be ${expected}.`, {
        hints: [isBooleanSetting(key as SettingKey) ? `"${key}": true` : `"${key}": "${String(value)}"`],
      })
    }
    values[key as SettingKey] = value
  }
  return values
}
