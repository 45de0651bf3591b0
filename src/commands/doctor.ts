import {Flags} from '@oclif/core'
import {EcapCommand, type JsonEnvelope} from '../ecap-command.js'
import {renderCheck} from '../lib/setup/check-lines.js'
import {type DoctorResult, runDoctor} from '../lib/setup/doctor.js'
import {brokersFlag, engineFlag, lakeFlag, topicFlag, trinoTableFlag} from '../shared-flags.js'

export default class Doctor extends EcapCommand<DoctorResult> {
  static override summary =
    'Check that ecap can work here: Node, the config, Kafka and the topic, the lake, Trino when used, DuckDB.'

  static override description =
    `One line per check: ✓ fine, ! works but look (a topic or lake not created yet, files left by a crash), ✗ broken, - not checked. Nothing is written and nothing is consumed.

A lake in S3 (s3://bucket/prefix) gets two checks of its own before its tables: store (the AWS_* settings, and the bucket answering to these credentials) and httpfs (DuckDB's extension that reads the tables' files). Staging folders left by crashed writers are looked for on this machine, where they are.

With --engine trino (or ECAP_ENGINE=trino, or ECAP_TRINO_URL set) two more checks: trino (the server answers a query within 10 s, as TRINO_USER) and trino-table (ECAP_TRINO_CATALOG.ECAP_TRINO_SCHEMA.ECAP_TRINO_TABLE exists and reads this lake's events table; ecap lake register --engine trino registers it). See docs/trino.md.

Exit codes: 0 nothing needed is broken (warnings included); 2 the config is invalid (a broken ecap.config.json, a bad setting, SASL without a password, a missing bucket or refused S3 credentials, AWS_ALLOW_HTTP not set for an http:// endpoint, the Trino events table not registered or reading another lake); 3 a lake table's log cannot be read (corrupt); 4 Kafka, the S3 store or Trino is unreachable (retry later); 1 DuckDB does not load. With --json each check is in the result and the envelope's status is the exit code.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --brokers kafka-1:9092 --lake /data/lake',
    '<%= config.bin %> <%= command.id %> --json | jq \'.result.checks[] | select(.status != "ok")\'',
  ]

  static override flags = {
    lake: lakeFlag,
    brokers: brokersFlag,
    topic: topicFlag,
    engine: engineFlag,
    'trino-table': trinoTableFlag,
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
        flags: {
          lake: flags.lake,
          brokers: flags.brokers,
          topic: flags.topic,
          engine: flags.engine,
          'trino-table': flags['trino-table'],
        },
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
