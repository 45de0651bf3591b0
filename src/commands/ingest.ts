import {Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {DEFAULT_THRESHOLD} from '../lib/analytics/fraud/rules.js'
import {type IngestResult, ingest} from '../lib/ingest/ingest.js'
import {INPUT_FORMATS} from '../lib/ingest/judge.js'
import {connectionFromConfig} from '../lib/kafka/settings.js'
import {
  duration,
  groupFlag,
  kafkaConnectionFlags,
  kafkaSettingsFromFlags,
  lakeFlag,
  topicFlag,
} from '../shared-flags.js'

/** Metrics stay on this machine unless the user widens them. */
const METRICS_HOST = '127.0.0.1'

export default class Ingest extends EcapCommand<IngestResult> {
  static override summary = 'Stream events from Kafka into the lake, exactly once.'

  static override description =
    `Consumes the topic in a consumer group, buffers messages until --flush-rows or --flush-interval, validates them against the event contract, and writes valid events to <lake>/events and rejects (with the reason and raw bytes) to <lake>/dead_letters. Each flush is a Delta commit that records the Kafka offsets it holds; Kafka offsets are committed after it, so ordinary Kafka tools see the lag. On start each partition resumes from the offsets recorded in the lake: a crash at any instant neither loses nor duplicates an event.

With --input segment the messages are Segment Spec calls (track calls of its e-commerce events and page calls, as Segment and RudderStack send them), mapped to ecap events field by field as docs/segment.md describes; what cannot be mapped is a dead letter whose reason names the Segment field.

Runs until SIGINT/SIGTERM (then flushes, commits and exits 0), or with --until-caught-up consumes to the high-water marks seen at start and exits (for cron). Exit 4 when Kafka is unreachable.

With --metrics-port, serves Prometheus metrics on http://127.0.0.1:<port>/metrics while it runs: messages consumed, events, dead letters and fraud alerts committed per partition, lag per partition in messages and seconds, flush duration and size, lake commits, conflicts and versions, resident memory (docs/metrics.md lists them; docs/grafana-ingest.json is a dashboard). Exit 2 when the port is taken.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --until-caught-up',
    '<%= config.bin %> <%= command.id %> --brokers kafka-1:9092 --group ecap-ingest --flush-interval 1s',
    '<%= config.bin %> <%= command.id %> --metrics-port 9464',
    'ECAP_KAFKA_PASSWORD=... <%= config.bin %> <%= command.id %> --sasl-mechanism scram-sha-512 --sasl-username ecap --tls',
    '<%= config.bin %> <%= command.id %> --input segment --topic segment-events --until-caught-up',
  ]

  static override flags = {
    lake: lakeFlag,
    topic: topicFlag,
    ...kafkaConnectionFlags,
    group: groupFlag,
    'flush-rows': Flags.integer({default: 100_000, min: 1, description: 'Flush when this many messages are buffered.'}),
    'flush-interval': duration({
      default: '5s',
      description: 'Flush at least this often: 5s, 1s, 0.5s.',
      tryValues: ['5s', '1s'],
    }),
    input: Flags.option({
      options: INPUT_FORMATS,
      default: 'ecap',
      description:
        'What the messages are: ecap events (docs/events.md), or Segment Spec track/page calls mapped to them (docs/segment.md).',
    })(),
    from: Flags.string({
      default: 'earliest',
      description: 'Where a new group starts: earliest, latest, or an ISO time.',
    }),
    'until-caught-up': Flags.boolean({description: 'Consume to the high-water marks seen at start, then exit.'}),
    'score-fraud': Flags.boolean({
      description: 'Score each purchase for fraud as it arrives; alerts go to <lake>/fraud_alerts (see docs/fraud.md).',
      helpGroup: 'FRAUD',
    }),
    'fraud-threshold': Flags.integer({
      min: 0,
      max: 100,
      description: `Orders scoring at least this (0-100) raise an alert. [default: the learned model's threshold (<lake>/models/fraud), else ${DEFAULT_THRESHOLD}, as ecap analyze fraud]`,
      dependsOn: ['score-fraud'],
      helpGroup: 'FRAUD',
    }),
    'alerts-topic': Flags.string({
      description: 'Also produce alerts to this Kafka topic (key order_id, JSON value), at least once.',
      dependsOn: ['score-fraud'],
      helpGroup: 'FRAUD',
    }),
    'metrics-port': Flags.integer({
      min: 0,
      max: 65_535,
      description: 'Serve Prometheus metrics on this port at /metrics while ingest runs (0: any free port).',
      helpGroup: 'METRICS',
    }),
    'metrics-host': Flags.string({
      // No oclif default: with one, dependsOn would demand --metrics-port on every run.
      description: `Address the metrics server listens on; 0.0.0.0 for every interface (a Prometheus on another host). [default: ${METRICS_HOST}]`,
      dependsOn: ['metrics-port'],
      helpGroup: 'METRICS',
    }),
  }

  public async run(): Promise<IngestResult> {
    const {flags} = await this.parse(Ingest)
    const config = this.resolveConfig({
      ...kafkaSettingsFromFlags(flags),
      lake: flags.lake,
      topic: flags.topic,
      group: flags.group,
    })
    const progress = this.progress()
    progress.start(`Ingesting ${config.topic.value} from ${config.brokers.value}`)
    try {
      const result = await ingest(
        {
          connection: connectionFromConfig(config),
          topic: config.topic.value,
          group: config.group.value,
          lake: config.lake.value,
          flushRows: flags['flush-rows'],
          flushIntervalMs: flags['flush-interval'],
          from: flags.from,
          untilCaughtUp: flags['until-caught-up'],
          input: flags.input,
          fraud: flags['score-fraud']
            ? {threshold: flags['fraud-threshold'], alertsTopic: flags['alerts-topic']}
            : undefined,
          metrics:
            flags['metrics-port'] === undefined
              ? undefined
              : {port: flags['metrics-port'], host: flags['metrics-host'] ?? METRICS_HOST},
        },
        {
          signal: this.signal,
          onMetricsServing: (url) => this.note(`Serving Prometheus metrics on ${url}`),
          onProgress: (p) =>
            progress.update(
              `Ingested ${p.messages.toLocaleString('en-US')} messages: ${p.events.toLocaleString('en-US')} events, ${p.deadLetters.toLocaleString('en-US')} dead letters, ${p.commits} commits`,
            ),
        },
      )
      for (const warning of result.warnings) this.warn(warning)
      progress.succeed(
        `Ingested ${result.messages.toLocaleString('en-US')} messages (${result.events.toLocaleString('en-US')} events, ${result.deadLetters.toLocaleString('en-US')} dead letters, ${result.duplicatesSkipped} already in the lake) in ${result.commits} commits; stopped: ${result.stoppedBy}`,
      )
      return result
    } catch (error) {
      progress.fail('Ingest stopped.')
      throw error
    }
  }
}
