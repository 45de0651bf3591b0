import {Flags} from '@oclif/core'
import {EcapCommand, type JsonEnvelope} from '../ecap-command.js'
import {renderCheck} from '../lib/setup/check-lines.js'
import {type DoctorResult, runDoctor} from '../lib/setup/doctor.js'
import {brokersFlag, lakeFlag, topicFlag} from '../shared-flags.js'

export default class Doctor extends EcapCommand<DoctorResult> {
  static override summary = 'Check that ecap can work here: Node, the config, Kafka and the topic, the lake, DuckDB.'

  static override description =
    `One line per check: ✓ fine, ! works but look (a topic or lake not created yet, files left by a crash), ✗ broken, - not checked. Nothing is written and nothing is consumed.

A lake in S3 (s3://bucket/prefix) gets two checks of its own before its tables: store (the AWS_* settings, and the bucket answering to these credentials) and httpfs (DuckDB's extension that reads the tables' files). Staging folders left by crashed writers are looked for on this machine, where they are.

Exit codes: 0 nothing needed is broken (warnings included); 2 the config is invalid (a broken ecap.config.json, a bad setting, SASL without a password, a missing bucket or refused S3 credentials, AWS_ALLOW_HTTP not set for an http:// endpoint); 3 a lake table's log cannot be read (corrupt); 4 Kafka or the S3 store is unreachable (retry later); 1 DuckDB does not load. With --json each check is in the result and the envelope's status is the exit code.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --brokers kafka-1:9092 --lake /data/lake',
    '<%= config.bin %> <%= command.id %> --json | jq \'.result.checks[] | select(.status != "ok")\'',
  ]

  static override flags = {
    lake: lakeFlag,
    brokers: brokersFlag,
    topic: topicFlag,
    timeout: Flags.integer({
      default: 3000,
      min: 100,
      description: 'Milliseconds to wait for a broker to answer.',
    }),
  }

  public async run(): Promise<DoctorResult> {
    const {flags} = await this.parse(Doctor)
    const color = this.colorEnabled()
    const width = 'config'.length
    const result = await runDoctor({
      config: {
        flags: {lake: flags.lake, brokers: flags.brokers, topic: flags.topic},
        env: process.env,
        cwd: process.cwd(),
        userConfigDir: this.config.configDir,
      },
      kafkaTimeoutMs: flags.timeout,
      onCheck: (check) => {
        if (!this.jsonEnabled()) this.out(renderCheck(check, width, color))
      },
      openEngine: (work, options) => this.withEngine(work, options),
    })
    // The checks are the result whatever they found; the exit code carries the verdict for scripts.
    process.exitCode = result.exitCode
    return result
  }

  protected override toSuccessJson(result: unknown): JsonEnvelope<unknown> {
    const envelope = super.toSuccessJson(result)
    return {...envelope, status: (result as DoctorResult).exitCode}
  }
}
