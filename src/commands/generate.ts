import {Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {UsageError} from '../lib/errors.js'
import {
  type EventSink,
  FRAUD_PATTERNS,
  FRAUD_VARIANTS,
  type FraudPattern,
  GENERATE_DEFAULTS,
  type GenerateOptions,
  type GenerateResult,
  generateShop,
  NdjsonSink,
  validateGenerateOptions,
} from '../lib/generate/index.js'
import {KafkaSink} from '../lib/generate/sinks/kafka-sink.js'
import {LakeSink} from '../lib/generate/sinks/lake-sink.js'
import {PacedSink} from '../lib/generate/sinks/paced-sink.js'
import {connectionFromConfig} from '../lib/kafka/settings.js'
import type {AppendResult} from '../lib/lake/lake.js'
import {S3CommitUnknownError} from '../lib/lake/s3-client.js'
import {kafkaConnectionFlags, kafkaSettingsFromFlags, lakeFlag, number, topicFlag} from '../shared-flags.js'

const SINKS = ['ndjson', 'lake', 'kafka'] as const

export interface GenerateCommandResult extends GenerateResult {
  /** The Delta commit of a --to lake run. */
  lake?: AppendResult
}

export default class Generate extends EcapCommand<GenerateCommandResult> {
  static override summary = 'Generate a realistic, seeded stream of shop events.'

  static override description =
    `Simulates a shop: customers who buy again by the BG/NBD story and spend by the Gamma-Gamma model, a catalogue with Zipf-like popularity, sessions that walk the funnel with daily and weekly seasonality, refunds, anonymous traffic, legitimate habits that look odd to a fraud scorer (gifts shipped abroad, customers living abroad, several cards, shared household cards, bursts of small orders, other devices), and fraud in six patterns (card testing, account takeover, slow fraud, rings sharing a stolen card, friendly fraud, outsized first orders) in a tune or a holdout variant. Events come out sorted by event time; the same flags and --seed give byte-identical output.

Size the shop by --customers and --days, or ask for exactly --events N. --truth writes the true model parameters and --labels the fraudulent orders (pattern and incident), so analyses can be checked against what really happened. Files appear only when the run completes.

The summary (events by type, customers, orders, revenue, refunds, fraud) goes to stderr, or to stdout as the --json result.`

  static override examples = [
    {
      description: 'A year of a 10,000-customer shop into a file',
      command: '<%= config.bin %> <%= command.id %> -o shop.ndjson',
    },
    {
      description: 'Exactly one million events to stdout',
      command: '<%= config.bin %> <%= command.id %> --events 1000000 -o - | head',
    },
    {
      description: 'A live stream of 500 events/s into Kafka, until Ctrl-C',
      command: '<%= config.bin %> <%= command.id %> --to kafka --rate 500 --days 3650',
    },
    {
      description: 'A small shop with its ground truth for checking analyses',
      command:
        '<%= config.bin %> <%= command.id %> --customers 2000 --days 90 --seed 7 -o shop.ndjson --truth truth.json --labels fraud.ndjson',
    },
  ]

  static override flags = {
    to: Flags.option({
      options: SINKS,
      default: 'ndjson',
      description: 'Where events go: an NDJSON file, or the lake.',
    })(),
    output: Flags.string({char: 'o', description: 'With --to ndjson: file to write, or - for stdout.'}),
    lake: lakeFlag,
    topic: topicFlag,
    partitions: Flags.integer({
      default: 6,
      min: 1,
      description: 'With --to kafka: partitions of the topic if ecap creates it.',
    }),
    compression: Flags.option({
      options: ['gzip', 'zstd', 'none'] as const,
      default: 'gzip',
      description:
        'With --to kafka: codec of the produced record batches. zstd (Node.js 22.15+) costs the producer far less CPU than gzip.',
    })(),
    ...kafkaConnectionFlags,
    rate: Flags.integer({
      min: 1,
      description:
        'With --to kafka: a live stream of this many events per second, stamped with the current time (default: as fast as possible, with simulated times).',
    }),
    seed: Flags.integer({default: GENERATE_DEFAULTS.seed, min: 0, max: 4_294_967_295, description: 'Random seed.'}),
    start: Flags.string({
      default: GENERATE_DEFAULTS.start,
      description: 'First day of the simulated period (UTC), YYYY-MM-DD.',
    }),
    days: Flags.integer({default: GENERATE_DEFAULTS.days, min: 1, description: 'Length of the period in days.'}),
    customers: Flags.integer({
      min: 1,
      description: `Customers acquired over the period [default: ${GENERATE_DEFAULTS.customers}, or derived from --events].`,
    }),
    events: Flags.integer({min: 1, description: 'Stop after exactly this many events.'}),
    products: Flags.integer({default: GENERATE_DEFAULTS.products, min: 10, description: 'Products in the catalogue.'}),
    'fraud-rate': number({
      default: GENERATE_DEFAULTS.fraudRate,
      description: 'Share of orders that are fraudulent (0-0.5).',
    }),
    'fraud-patterns': Flags.string({
      multiple: true,
      delimiter: ',',
      options: FRAUD_PATTERNS,
      default: [...FRAUD_PATTERNS],
      description: 'Fraud patterns that occur, comma-separated; --fraud-rate is shared among them.',
      helpGroup: 'FRAUD',
    }),
    'fraud-variant': Flags.option({
      options: FRAUD_VARIANTS,
      default: GENERATE_DEFAULTS.fraudVariant,
      description:
        'tune: the fraud shapes to build a scorer on; holdout: other ranges and countries, to measure it on fraud it was not built for.',
      helpGroup: 'FRAUD',
    })(),
    'refund-rate': number({default: GENERATE_DEFAULTS.refundRate, description: 'Share of orders refunded (0-0.5).'}),
    'gift-rate': number({
      default: GENERATE_DEFAULTS.giftRate,
      description: 'Share of legitimate orders shipped to another country than billing (gifts), 0-1.',
      helpGroup: 'LEGITIMATE HABITS',
    }),
    'abroad-rate': number({
      default: GENERATE_DEFAULTS.abroadRate,
      description: 'Share of customers living abroad: sessions from another country than billing, 0-1.',
      helpGroup: 'LEGITIMATE HABITS',
    }),
    'multi-card-rate': number({
      default: GENERATE_DEFAULTS.multiCardRate,
      description: 'Share of customers with 2-3 cards, one picked per order, 0-1.',
      helpGroup: 'LEGITIMATE HABITS',
    }),
    'household-rate': number({
      default: GENERATE_DEFAULTS.householdRate,
      description: "Share of new customers paying with an existing customer's card (a household), 0-1.",
      helpGroup: 'LEGITIMATE HABITS',
    }),
    'burst-rate': number({
      default: GENERATE_DEFAULTS.burstRate,
      description: 'Share of purchase visits followed by 1-4 more small orders within the hour, 0-1.',
      helpGroup: 'LEGITIMATE HABITS',
    }),
    'new-device-rate': number({
      default: GENERATE_DEFAULTS.newDeviceRate,
      description: "Share of a returning customer's sessions on another kind of device, 0-1.",
      helpGroup: 'LEGITIMATE HABITS',
    }),
    currency: Flags.string({default: GENERATE_DEFAULTS.currency, description: 'ISO 4217 currency of all amounts.'}),
    seasonality: Flags.boolean({default: true, allowNo: true, description: 'Daily and weekly traffic cycles.'}),
    truth: Flags.string({description: 'Write the true model parameters of the run to this JSON file.'}),
    labels: Flags.string({
      description: 'Write ground-truth fraud labels (one line per fraudulent order) to this NDJSON file.',
    }),
    'bgnbd-r': number({
      default: GENERATE_DEFAULTS.bgnbd.r,
      description: 'BG/NBD: shape r of the purchase-rate Gamma.',
      helpGroup: 'MODEL',
    }),
    'bgnbd-alpha': number({
      default: GENERATE_DEFAULTS.bgnbd.alpha,
      description: 'BG/NBD: rate alpha of the purchase-rate Gamma, in days.',
      helpGroup: 'MODEL',
    }),
    'bgnbd-a': number({
      default: GENERATE_DEFAULTS.bgnbd.a,
      description: 'BG/NBD: a of the drop-out Beta.',
      helpGroup: 'MODEL',
    }),
    'bgnbd-b': number({
      default: GENERATE_DEFAULTS.bgnbd.b,
      description: 'BG/NBD: b of the drop-out Beta.',
      helpGroup: 'MODEL',
    }),
    'spend-p': number({
      default: GENERATE_DEFAULTS.gammaGamma.p,
      description: 'Gamma-Gamma: shape p of order values.',
      helpGroup: 'MODEL',
    }),
    'spend-q': number({
      default: GENERATE_DEFAULTS.gammaGamma.q,
      description: 'Gamma-Gamma: shape q of the customer scale.',
      helpGroup: 'MODEL',
    }),
    'spend-gamma': number({
      default: GENERATE_DEFAULTS.gammaGamma.gamma,
      description: 'Gamma-Gamma: rate gamma of the customer scale.',
      helpGroup: 'MODEL',
    }),
  }

  public async run(): Promise<GenerateCommandResult> {
    const {flags} = await this.parse(Generate)
    const options: GenerateOptions = {
      seed: flags.seed,
      start: flags.start,
      days: flags.days,
      customers: flags.customers ?? (flags.events === undefined ? GENERATE_DEFAULTS.customers : undefined),
      events: flags.events,
      products: flags.products,
      fraudRate: flags['fraud-rate'],
      fraudPatterns: flags['fraud-patterns'] as FraudPattern[],
      fraudVariant: flags['fraud-variant'],
      refundRate: flags['refund-rate'],
      giftRate: flags['gift-rate'],
      abroadRate: flags['abroad-rate'],
      multiCardRate: flags['multi-card-rate'],
      householdRate: flags['household-rate'],
      burstRate: flags['burst-rate'],
      newDeviceRate: flags['new-device-rate'],
      currency: flags.currency,
      seasonality: flags.seasonality,
      bgnbd: {r: flags['bgnbd-r'], alpha: flags['bgnbd-alpha'], a: flags['bgnbd-a'], b: flags['bgnbd-b']},
      gammaGamma: {p: flags['spend-p'], q: flags['spend-q'], gamma: flags['spend-gamma']},
    }
    // Checked before any file or folder is created, so a bad flag leaves nothing behind.
    validateGenerateOptions(options)
    if (flags.to !== 'ndjson' && flags.output !== undefined) {
      throw new UsageError(
        'OUTPUT_NOT_A_FILE_SINK',
        `-o/--output is for --to ndjson; --to ${flags.to} writes elsewhere.`,
        {
          hints: [`--to ${flags.to}`, '--to ndjson -o shop.ndjson'],
        },
      )
    }
    if (flags.rate !== undefined && flags.to !== 'kafka') {
      throw new UsageError('RATE_NEEDS_KAFKA', '--rate makes a live stream, which only --to kafka carries.', {
        hints: ['--to kafka --rate 1000'],
      })
    }
    if (flags.to === 'lake') {
      const lake = this.resolveConfig({lake: flags.lake}).lake.value
      return this.withEngine(async (engine) => {
        const sink = new LakeSink(engine, lake)
        const result = await this.generate(options, sink, flags)
        if (sink.result?.checkpointError) {
          this.warn(`The lake commit landed, but its checkpoint failed: ${sink.result.checkpointError}`)
        }
        return {...result, lake: sink.result}
      })
    }
    if (flags.to === 'kafka') {
      const config = this.resolveConfig({...kafkaSettingsFromFlags(flags), topic: flags.topic})
      const sink = await KafkaSink.open({
        connection: connectionFromConfig(config),
        topic: config.topic.value,
        partitions: flags.partitions,
        compression: flags.compression,
      })
      return this.generate(options, flags.rate ? new PacedSink(sink, flags.rate) : sink, flags)
    }
    if (flags.output === undefined) {
      throw new UsageError('MISSING_OUTPUT', '--to ndjson needs -o/--output: a file, or - for stdout.', {
        hints: ['-o shop.ndjson', '-o -', '--to lake'],
      })
    }
    const toStdout = flags.output === '-'
    if (toStdout && this.jsonEnabled()) {
      throw new UsageError('STDOUT_TAKEN', '--json prints the summary on stdout, so events cannot go there too.', {
        hints: ['-o shop.ndjson --json', '-o - (without --json)'],
      })
    }
    const sink: EventSink = toStdout ? NdjsonSink.toStream(process.stdout) : NdjsonSink.toFile(flags.output)
    return this.generate(options, sink, flags)
  }

  private async generate(
    options: GenerateOptions,
    sink: EventSink,
    flags: {labels?: string; truth?: string},
  ): Promise<GenerateResult> {
    const progress = this.progress()
    progress.start('Generating events')
    try {
      const result = await generateShop(
        options,
        {events: sink, labelsPath: flags.labels, truthPath: flags.truth},
        {
          signal: this.signal,
          onProgress: (p) =>
            progress.update(
              `Generating events: ${p.events.toLocaleString('en-US')} (${Math.round(p.events / Math.max(p.elapsedMs / 1000, 0.001)).toLocaleString('en-US')}/s), up to ${p.eventTime}`,
            ),
        },
      )
      progress.succeed(
        `Generated ${result.events.toLocaleString('en-US')} events in ${(result.elapsedMs / 1000).toFixed(1)} s`,
      )
      this.note(renderSummary(result, sink))
      return result
    } catch (error) {
      // A commit whose outcome the store left unknown may be in the lake: its error says so, and nothing else may.
      progress.fail(
        error instanceof S3CommitUnknownError
          ? 'Generation stopped; its commit may have landed.'
          : sink.onAbort === 'sent-events-stay'
            ? `Generation stopped; the events already sent to ${sink.target} stay there (a stream cannot be unsent).`
            : 'Generation stopped; nothing was left behind.',
      )
      throw error
    }
  }
}

function renderSummary(r: GenerateResult, sink: EventSink): string {
  const n = (x: number) => x.toLocaleString('en-US')
  const money = (x: number) =>
    `${x.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2})} ${r.currency}`
  const rows: [string, string][] = [
    ['output', r.outputClosed ? `${r.output} (reader closed early)` : r.output],
    ['period', `${r.firstEventTime ?? '-'} .. ${r.lastEventTime ?? '-'}`],
    ['events', n(r.events)],
    ...Object.entries(r.eventsByType).map(([type, count]): [string, string] => [`  ${type}`, n(count)]),
    ['customers', n(r.customers)],
    ['sessions', `${n(r.sessions)} (${n(r.anonymousSessions)} anonymous)`],
    ['orders', n(r.orders)],
    ['revenue', money(r.revenue)],
    ['refunds', `${n(r.refunds)} (${money(r.refundedAmount)})`],
    [
      'fraud orders',
      `${n(r.fraudOrders)} (${Object.entries(r.fraudOrdersByPattern)
        .map(([p, c]) => `${p} ${n(c)}`)
        .join(', ')})`,
    ],
    ['speed', `${n(r.eventsPerSecond)} events/s`],
  ]
  if (sink instanceof LakeSink && sink.result) {
    const {version, files, bytes} = sink.result
    rows.push(['lake commit', `version ${version}: ${n(files)} files, ${(bytes / 2 ** 20).toFixed(1)} MiB`])
  }
  if (r.truth) rows.push(['truth', r.truth])
  if (r.labels) rows.push(['labels', r.labels])
  const width = Math.max(...rows.map(([k]) => k.length))
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`
}
