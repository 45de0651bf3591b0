import {Flags} from '@oclif/core'
import {SETTINGS, type SettingKey} from './lib/config/settings.js'

/**
 * Flags for configurable settings. They carry no oclif `env` or `default`: ecap resolves env vars, config files and
 * defaults itself (lib/config) so it can tell where each value came from. The help text names the env var.
 */
function settingFlag(key: SettingKey, extra: {char?: 'b' | 'l' | 't'} = {}) {
  const setting = SETTINGS[key]
  return Flags.string({
    ...extra,
    description: `${setting.description} [env: ${setting.env}] [default: ${setting.default}]`,
    helpGroup: 'CONFIG',
  })
}

export const lakeFlag = settingFlag('lake')
export const brokersFlag = settingFlag('brokers')
export const topicFlag = settingFlag('topic')
