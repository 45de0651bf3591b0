import Table from 'cli-table3'
import {EcapCommand} from '../../ecap-command.js'
import {type IngestStatus, ingestStatus} from '../../lib/ingest/status.js'
import {connectionFromConfig} from '../../lib/kafka/settings.js'
import {groupFlag, kafkaConnectionFlags, kafkaSettingsFromFlags, lakeFlag, topicFlag} from '../../shared-flags.js'

export default class IngestStatusCommand extends EcapCommand<IngestStatus> {
  static override summary = 'Show how far the lake is behind the topic: lag per partition, in messages and seconds.'

  static override description =
    "Lag is measured from the offsets recorded in the lake (what ingest resumes from), with the group's committed Kafka offsets beside them. Lag in seconds is the age of the oldest message not yet in the lake, by its Kafka timestamp. Freshness is the age of the newest event in the lake. Nothing is consumed and no data file is read."

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --brokers kafka-1:9092 --topic shop-events --json',
  ]

  static override flags = {
    lake: lakeFlag,
    topic: topicFlag,
    ...kafkaConnectionFlags,
    group: groupFlag,
  }

  public async run(): Promise<IngestStatus> {
    const {flags} = await this.parse(IngestStatusCommand)
    const config = this.resolveConfig({
      ...kafkaSettingsFromFlags(flags),
      lake: flags.lake,
      topic: flags.topic,
      group: flags.group,
    })
    const status = await this.withEngine((engine) =>
      ingestStatus(engine, {
        connection: connectionFromConfig(config),
        topic: config.topic.value,
        group: config.group.value,
        lake: config.lake.value,
      }),
    )
    if (!this.jsonEnabled()) {
      const n = (x: number | null) => (x === null ? '-' : x.toLocaleString('en-US'))
      const table = new Table({
        head: ['partition', 'log start', 'log end', 'lake next', 'group next', 'lag', 'lag (s)'],
        style: this.colorEnabled() ? undefined : {head: [], border: []},
      })
      for (const p of status.partitions) {
        table.push([
          p.partition,
          n(p.logStart),
          n(p.logEnd),
          n(p.lakeNext),
          n(p.groupNext),
          n(p.lagMessages),
          p.lagSeconds,
        ])
      }
      table.push(['total', '', '', '', '', n(status.total.lagMessages), status.total.maxLagSeconds])
      this.out(`Topic ${status.topic}, group ${status.group}, lake ${status.lake}`)
      this.out(table.toString())
      const e = status.events
      this.out(
        e.version < 0
          ? 'The lake has no events table yet: run ecap ingest.'
          : `Events table version ${e.version}, last commit ${e.lastCommit ?? '-'}; newest event ${e.latestEventTime ?? '-'}${e.freshnessSeconds === null ? '' : ` (${e.freshnessSeconds.toLocaleString('en-US')} s ago)`}`,
      )
    }
    return status
  }
}
