import {resolve} from 'node:path'
import {Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {PROJECT_CONFIG_FILE, resolveConfig} from '../lib/config/resolve.js'
import {InterruptedError, UsageError} from '../lib/errors.js'
import {renderCheck} from '../lib/setup/check-lines.js'
import {
  answersFromConfig,
  askInitAnswers,
  assertConfigWritable,
  INIT_DEFAULTS,
  type InitAnswers,
  type InitResult,
  type Prompter,
  SASL_CHOICES,
  writeInitConfig,
} from '../lib/setup/init.js'

export default class Init extends EcapCommand<InitResult> {
  static override summary = 'Write ./ecap.config.json: brokers, topic, group, lake, TLS and SASL, asked one by one.'

  static override description =
    `On a terminal, asks each question with the current value as default (from ECAP_* variables or the user config). Every question has a flag; a flag given is a question not asked. With --yes it asks nothing and takes flags and defaults, for scripts and provisioning. Without a terminal and without --yes it stops with exit 2 rather than guess.

The SASL password is never written: the config names the environment variable that holds it (--sasl-password-env) or a file whose first line is the password (--sasl-password-file).

After writing (atomically: the file appears whole or not at all), it checks what it can: the brokers and the topic, that the lake folder is writable (for an s3:// lake: that the bucket answers, with the AWS_* variables of this environment, which the config never holds), that the CA and password files are readable and the password variable is set. Those are reported, never fatal: the config may be meant for another machine. An existing config is kept unless --force.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --yes --brokers kafka-1:9092,kafka-2:9092 --lake /data/ecap-lake',
    '<%= config.bin %> <%= command.id %> --yes --tls --sasl-mechanism scram-sha-512 --sasl-username ecap --sasl-password-env SHOP_KAFKA_PASSWORD',
    '<%= config.bin %> <%= command.id %> --force --no-check   # replace the config, skip the checks',
  ]

  static override flags = {
    brokers: Flags.string({description: 'Kafka bootstrap brokers, comma-separated host:port.'}),
    topic: Flags.string({description: 'Kafka topic that carries shop events.'}),
    group: Flags.string({description: 'Kafka consumer group of ecap ingest.'}),
    lake: Flags.string({description: 'Folder of the Delta lake, or s3://bucket/prefix.'}),
    tls: Flags.boolean({allowNo: true, description: 'Connect to the brokers over TLS.', helpGroup: 'KAFKA'}),
    'tls-ca': Flags.string({
      description: "PEM file of the brokers' CA (with --tls; default: the system's CAs).",
      helpGroup: 'KAFKA',
    }),
    'sasl-mechanism': Flags.option({
      options: SASL_CHOICES,
      description: 'SASL mechanism, or none.',
      helpGroup: 'KAFKA',
    })(),
    'sasl-username': Flags.string({description: 'SASL user name.', helpGroup: 'KAFKA'}),
    'sasl-password-env': Flags.string({
      description: 'Name of the environment variable that will hold the SASL password.',
      exclusive: ['sasl-password-file'],
      helpGroup: 'KAFKA',
    }),
    'sasl-password-file': Flags.string({
      description: 'File whose first line will be the SASL password.',
      helpGroup: 'KAFKA',
    }),
    yes: Flags.boolean({char: 'y', description: 'Ask nothing: take the flags and the defaults.'}),
    force: Flags.boolean({char: 'f', description: `Replace an existing ./${PROJECT_CONFIG_FILE}.`}),
    check: Flags.boolean({
      default: true,
      allowNo: true,
      description: 'After writing, check the brokers, the lake folder and the secret sources.',
    }),
  }

  public async run(): Promise<InitResult> {
    const {flags} = await this.parse(Init)
    const path = resolve(process.cwd(), PROJECT_CONFIG_FILE)
    // Before any question: answering ten of them to be told the file exists would be rude.
    assertConfigWritable(path, flags.force)

    const given: Partial<InitAnswers> = {
      brokers: flags.brokers,
      topic: flags.topic,
      group: flags.group,
      lake: flags.lake,
      tls: flags.tls,
      tlsCa: flags['tls-ca'],
      saslMechanism: flags['sasl-mechanism'],
      saslUsername: flags['sasl-username'],
      passwordSource: flags['sasl-password-file'] ? 'file' : flags['sasl-password-env'] ? 'env' : undefined,
      passwordEnv: flags['sasl-password-env'],
      passwordFile: flags['sasl-password-file'],
    }
    for (const key of Object.keys(given) as (keyof InitAnswers)[]) if (given[key] === undefined) delete given[key]
    const defaults = this.currentAnswers()

    let answers: InitAnswers
    if (flags.yes) {
      answers = {...defaults, ...given}
    } else if (this.interactive()) {
      try {
        answers = await askInitAnswers(defaults, given, await inquirerPrompter(this.signal))
      } catch (error) {
        // Ctrl-C at a prompt (raw mode: inquirer sees the key, not a signal) is an interruption, nothing written.
        if (this.signal.aborted) throw this.signal.reason
        if ((error as Error).name === 'ExitPromptError') throw new InterruptedError('SIGINT')
        throw error
      }
    } else {
      throw new UsageError(
        'INIT_NEEDS_A_TERMINAL',
        'ecap init asks its questions on a terminal, and there is none here.',
        {
          hints: [
            'Run it unattended with --yes and the flags you need:',
            `ecap init --yes --brokers ${given.brokers ?? 'kafka-1:9092'} --lake ${given.lake ?? './ecap-lake'}`,
          ],
        },
      )
    }

    const result = await writeInitConfig({path, answers, force: flags.force, check: flags.check})
    if (!this.jsonEnabled()) {
      this.out(`Wrote ${result.path}:`)
      this.out(JSON.stringify(result.config, null, 2))
      if (result.checks.length > 0) {
        this.out('')
        const width = Math.max(...result.checks.map((c) => c.name.length))
        for (const check of result.checks) this.out(renderCheck(check, width, this.colorEnabled()))
      }
      this.out('')
      this.out('Next: ecap config show (where each value comes from), ecap doctor, ecap ingest --until-caught-up')
    }
    return result
  }

  /** Defaults from the settings as they resolve without this file (env vars, the user config), else ecap's own. */
  private currentAnswers(): InitAnswers {
    try {
      return answersFromConfig(
        resolveConfig({env: process.env, cwd: process.cwd(), userConfigDir: this.config.configDir}),
      )
    } catch {
      // A broken config being replaced with --force must not stop its replacement.
      return INIT_DEFAULTS
    }
  }

  /** Prompts only on a terminal, and never under --json or CI. */
  private interactive(): boolean {
    return process.stdin.isTTY === true && process.stdout.isTTY === true && !this.jsonEnabled() && !process.env.CI
  }
}

/** @inquirer/prompts as a Prompter, loaded only when there is someone to ask; Ctrl-C aborts the questions. */
async function inquirerPrompter(signal: AbortSignal): Promise<Prompter> {
  const {confirm, input, select} = await import('@inquirer/prompts')
  return {
    input: (question) => input(question, {signal}),
    confirm: (question) => confirm(question, {signal}),
    select: (question) => select({...question, choices: [...question.choices]}, {signal}),
  }
}
