import {EcapCommand} from '../../ecap-command.js'
import type {ResolvedConfig} from '../../lib/config/resolve.js'
import {brokersFlag, lakeFlag, topicFlag} from '../../shared-flags.js'

export default class ConfigShow extends EcapCommand<ResolvedConfig> {
  static override summary = 'Show each setting, its value and where the value came from.'

  static override description =
    `Settings resolve by precedence: flag > ECAP_* environment variable > ./ecap.config.json > the user config file (<%= config.configDir %>/config.json) > built-in default.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    'ECAP_LAKE=/data/lake <%= config.bin %> <%= command.id %> --json',
    '<%= config.bin %> <%= command.id %> --brokers kafka-1:9092',
  ]

  static override flags = {
    lake: lakeFlag,
    brokers: brokersFlag,
    topic: topicFlag,
  }

  public async run(): Promise<ResolvedConfig> {
    const {flags} = await this.parse(ConfigShow)
    const config = this.resolveConfig({lake: flags.lake, brokers: flags.brokers, topic: flags.topic})
    if (!this.jsonEnabled()) {
      const width = Math.max(...Object.keys(config).map((key) => key.length))
      for (const [key, {value, source, origin}] of Object.entries(config)) {
        this.out(`${key.padEnd(width)}  ${value}  (${source}${origin ? `: ${origin}` : ''})`)
      }
    }
    return config
  }
}
