import {accessSync, constants, existsSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {AtomicFile} from '../atomic-file.js'
import type {ResolvedConfig} from '../config/resolve.js'
import {type ConfigFileValues, SASL_MECHANISMS, SETTING_KEYS, SETTINGS, type SettingKey} from '../config/settings.js'
import {type EcapError, UsageError} from '../errors.js'
import {parseBrokers, type SaslMechanism} from '../kafka/client.js'
import {parseBooleanSetting} from '../kafka/settings.js'
import {isObjectStore, lakeLocation, s3Parts} from '../lake/location.js'
import {s3Settings} from '../lake/s3-client.js'
import {storageAt} from '../lake/storage.js'
import {checkKafka, type DoctorCheck} from './doctor.js'

export const SASL_CHOICES = ['none', ...SASL_MECHANISMS] as const
export type SaslChoice = (typeof SASL_CHOICES)[number]
export type PasswordSource = 'env' | 'file'

/** Everything the wizard asks. Secrets are not among them: only where the password will be found. */
export interface InitAnswers {
  brokers: string
  topic: string
  group: string
  lake: string
  tls: boolean
  /** PEM file of the brokers' CA; empty for the system's CAs. */
  tlsCa: string
  saslMechanism: SaslChoice
  saslUsername: string
  passwordSource: PasswordSource
  /** Name of the environment variable holding the password. */
  passwordEnv: string
  /** File whose first line is the password. */
  passwordFile: string
}

/** The questions' defaults: ecap's built-in defaults. */
export const INIT_DEFAULTS: InitAnswers = {
  brokers: SETTINGS.brokers.default,
  topic: SETTINGS.topic.default,
  group: SETTINGS.group.default,
  lake: SETTINGS.lake.default,
  tls: false,
  tlsCa: '',
  saslMechanism: 'none',
  saslUsername: '',
  passwordSource: 'env',
  passwordEnv: SETTINGS['sasl-password-env'].default,
  passwordFile: '',
}

/** Defaults for the questions from the settings as they resolve now (env vars, a user config), so a rerun keeps them. */
export function answersFromConfig(config: ResolvedConfig): InitAnswers {
  const mechanism = config['sasl-mechanism'].value.toLowerCase()
  return {
    brokers: config.brokers.value,
    topic: config.topic.value,
    group: config.group.value,
    lake: config.lake.value,
    tls: parseBooleanSetting('tls', config.tls.value),
    tlsCa: config['tls-ca'].value,
    saslMechanism: (SASL_CHOICES as readonly string[]).includes(mechanism) ? (mechanism as SaslChoice) : 'none',
    saslUsername: config['sasl-username'].value,
    passwordSource: config['sasl-password-file'].value ? 'file' : 'env',
    passwordEnv: config['sasl-password-env'].value || INIT_DEFAULTS.passwordEnv,
    passwordFile: config['sasl-password-file'].value,
  }
}

/** The prompt functions the wizard needs; @inquirer/prompts' `input`, `confirm` and `select` fit, and tests script them. */
export interface Prompter {
  input(question: {message: string; default?: string; validate?: (value: string) => true | string}): Promise<string>
  confirm(question: {message: string; default?: boolean}): Promise<boolean>
  select<V extends string>(question: {
    message: string
    choices: readonly {name: string; value: V}[]
    default?: V
  }): Promise<V>
}

/**
 * Asks the questions whose answer was not given (by a flag), in order, each defaulting to what `defaults` holds.
 * Questions that do not apply are not asked (no CA file without TLS, no user name without SASL).
 */
export async function askInitAnswers(
  defaults: InitAnswers,
  given: Partial<InitAnswers>,
  prompt: Prompter,
): Promise<InitAnswers> {
  const a: InitAnswers = {...defaults, ...given}
  const ask = async <K extends keyof InitAnswers>(key: K, question: () => Promise<InitAnswers[K]>) => {
    if (given[key] === undefined) a[key] = await question()
  }
  await ask('brokers', () =>
    prompt.input({message: 'Kafka brokers (host:port, comma-separated)', default: a.brokers, validate: validBrokers}),
  )
  await ask('topic', () => prompt.input({message: 'Topic of shop events', default: a.topic, validate: nonEmpty}))
  await ask('group', () =>
    prompt.input({message: 'Consumer group of ecap ingest', default: a.group, validate: nonEmpty}),
  )
  await ask('lake', () =>
    prompt.input({message: 'Lake folder (or s3://bucket/prefix)', default: a.lake, validate: validLake}),
  )
  await ask('tls', () => prompt.confirm({message: 'Connect to Kafka over TLS?', default: a.tls}))
  if (a.tls) {
    await ask('tlsCa', () =>
      prompt.input({message: "CA certificate file (PEM); empty for the system's CAs", default: a.tlsCa}),
    )
  }
  await ask('saslMechanism', () =>
    prompt.select({
      message: 'SASL authentication',
      choices: SASL_CHOICES.map((value) => ({name: value === 'none' ? 'none (no SASL)' : value, value})),
      default: a.saslMechanism,
    }),
  )
  if (a.saslMechanism !== 'none') {
    await ask('saslUsername', () =>
      prompt.input({message: 'SASL user name', default: a.saslUsername, validate: nonEmpty}),
    )
    await ask('passwordSource', () =>
      prompt.select({
        message: 'Where will ecap find the password? (it is never written to the config)',
        choices: [
          {name: 'an environment variable', value: 'env' as const},
          {name: 'a file (first line)', value: 'file' as const},
        ],
        default: a.passwordSource,
      }),
    )
    if (a.passwordSource === 'env') {
      await ask('passwordEnv', () =>
        prompt.input({message: 'Name of the environment variable', default: a.passwordEnv, validate: validEnvName}),
      )
    } else {
      await ask('passwordFile', () =>
        prompt.input({message: 'Path of the password file', default: a.passwordFile, validate: nonEmpty}),
      )
    }
  }
  return a
}

function nonEmpty(value: string): true | string {
  return value.trim() === '' ? 'A value is needed.' : true
}

function validLake(value: string): true | string {
  try {
    lakeLocation(value)
    return true
  } catch (error) {
    return (error as Error).message
  }
}

function validBrokers(value: string): true | string {
  try {
    parseBrokers(value)
    return true
  } catch (error) {
    return (error as Error).message
  }
}

function validEnvName(value: string): true | string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(value) ? true : `"${value}" is not an environment variable name.`
}

/** Checks what the flag parser cannot; the message names the flag that fixes it. */
export function validateInitAnswers(a: InitAnswers): void {
  const fail = (message: string, hint: string): never => {
    throw new UsageError('INVALID_INIT_ANSWER', message, {hints: [hint]})
  }
  parseBrokers(a.brokers)
  for (const [key, flag] of [
    ['topic', '--topic ecap.events'],
    ['group', '--group ecap-ingest'],
    ['lake', '--lake ./ecap-lake'],
  ] as const) {
    if (a[key].trim() === '') fail(`--${key} must not be empty.`, flag)
  }
  // A URL ecap cannot keep a lake at (gs://, s3:/bucket) stops here, before it is written for every command to refuse.
  lakeLocation(a.lake)
  if (a.saslMechanism === 'none') return
  if (a.saslUsername.trim() === '') fail(`SASL ${a.saslMechanism} needs a user name.`, '--sasl-username ecap')
  if (a.passwordSource === 'env' && validEnvName(a.passwordEnv) !== true) {
    fail(`"${a.passwordEnv}" is not an environment variable name.`, '--sasl-password-env ECAP_KAFKA_PASSWORD')
  }
  if (a.passwordSource === 'file' && a.passwordFile.trim() === '') {
    fail('The password file path is empty.', '--sasl-password-file /run/secrets/kafka')
  }
}

/** The config file's content: the answers as settings (tls a JSON boolean), and nothing secret. */
export function configFromAnswers(a: InitAnswers): ConfigFileValues {
  const config: ConfigFileValues = {
    // An s3:// lake as every command will name it (normalised); a folder as the user wrote it.
    lake: isObjectStore(a.lake.trim()) ? lakeLocation(a.lake) : a.lake,
    brokers: a.brokers,
    topic: a.topic,
    group: a.group,
    tls: a.tls,
  }
  if (a.tls && a.tlsCa) config['tls-ca'] = a.tlsCa
  if (a.saslMechanism !== 'none') {
    config['sasl-mechanism'] = a.saslMechanism satisfies SaslMechanism
    config['sasl-username'] = a.saslUsername
    if (a.passwordSource === 'file') config['sasl-password-file'] = a.passwordFile
    else config['sasl-password-env'] = a.passwordEnv
  }
  return config
}

/** Refuses to replace an existing config unless forced: checked before any question is asked. */
export function assertConfigWritable(path: string, force: boolean): void {
  if (existsSync(path) && !force) {
    throw new UsageError('CONFIG_EXISTS', `${path} exists already; ecap init does not replace it unless told to.`, {
      hints: ['ecap init --force   (replaces it)', 'ecap config show   (shows what it holds)'],
    })
  }
}

export interface InitOptions {
  /** The config file to write, normally ./ecap.config.json. */
  path: string
  answers: InitAnswers
  force: boolean
  /** Check the brokers, the lake folder and the secrets' sources after writing. */
  check: boolean
  env?: NodeJS.ProcessEnv
  kafkaTimeoutMs?: number
}

export interface InitResult {
  path: string
  config: ConfigFileValues
  /** What could be checked; a failing check is reported, never fatal (the config may be for another machine). */
  checks: DoctorCheck[]
}

/** Writes the config file atomically, then checks what it can: Kafka and the topic, the lake folder, TLS and SASL files. */
export async function writeInitConfig(options: InitOptions): Promise<InitResult> {
  validateInitAnswers(options.answers)
  assertConfigWritable(options.path, options.force)
  const config = configFromAnswers(options.answers)
  const file = new AtomicFile(options.path, 'ecap init')
  try {
    file.write(`${JSON.stringify(config, null, 2)}\n`)
    file.commit()
  } finally {
    file.abort()
  }
  const checks = options.check ? await checkSetup(config, options.env ?? process.env, options.kafkaTimeoutMs) : []
  return {path: options.path, config, checks}
}

async function checkSetup(written: ConfigFileValues, env: NodeJS.ProcessEnv, timeoutMs = 3000): Promise<DoctorCheck[]> {
  // As the settings will resolve from the file: every value as text.
  const config = Object.fromEntries(Object.entries(written).map(([k, v]) => [k, String(v)])) as Partial<
    Record<SettingKey, string>
  >
  const lake = config.lake as string
  const checks: DoctorCheck[] = [isObjectStore(lake) ? await checkLakeStore(lake) : checkLakeWritable(lake)]
  if (config['tls-ca']) checks.push(checkReadable('tls-ca', config['tls-ca']))
  if (config['sasl-password-file']) checks.push(checkReadable('password', config['sasl-password-file']))
  if (config['sasl-password-env']) {
    const name = config['sasl-password-env']
    checks.push(
      env[name]
        ? {name: 'password', status: 'ok', detail: `${name} is set in this environment`, hints: []}
        : {
            name: 'password',
            status: 'warn',
            detail: `${name} is not set in this environment`,
            hints: [`Set it where ecap runs (cron, systemd unit, CI secret): ${name}=...`],
          },
    )
  }
  // Resolved as the file will resolve, without env overrides: the check is of what was written.
  const resolved = Object.fromEntries(
    SETTING_KEYS.map((key) => [key, {value: config[key] ?? SETTINGS[key].default, source: 'project'}]),
  ) as ResolvedConfig
  const noPassword = checks.some((c) => c.name === 'password' && c.status !== 'ok')
  if (noPassword) {
    const skipped = 'not checked: the SASL password is not available here'
    return [
      {name: 'kafka', status: 'skip', detail: skipped, hints: []},
      {name: 'topic', status: 'skip', detail: skipped, hints: []},
      ...checks,
    ]
  }
  const kafka = await checkKafka(resolved, env, timeoutMs)
  // Unreachable Kafka is news, not an error: the config may be written for a cluster this machine cannot see yet.
  return [
    ...kafka.map((c) => (c.status === 'fail' ? {...c, status: 'warn' as const, exitCode: undefined} : c)),
    ...checks,
  ]
}

/**
 * An s3:// lake has no local folder to check: the line says what the lake is and where its settings come from, and
 * whether the bucket answers to this machine's credentials (news, like Kafka's: the config may be for another host).
 */
async function checkLakeStore(lake: string): Promise<DoctorCheck> {
  const {bucket, prefix} = s3Parts(lake)
  const what = `${lake} is a lake in S3 (bucket ${bucket}, ${prefix === '' ? 'at its root' : `prefix ${prefix}/`}); endpoint and credentials come from AWS_* variables, never from the config`
  try {
    const endpoint = s3Settings().endpoint
    await storageAt(lake).prepare()
    return {
      name: 'lake',
      status: 'ok',
      detail: `${what}; the bucket answers${endpoint ? ` at ${endpoint.href.replace(/\/$/, '')}` : ''}`,
      hints: [],
      data: {kind: 's3', bucket, prefix},
    }
  } catch (error) {
    return {
      name: 'lake',
      status: 'warn',
      detail: `${what}; not usable from here: ${(error as Error).message}`,
      hints: [...((error as EcapError).hints ?? []), 'ecap doctor checks it again where ecap will run.'],
      data: {kind: 's3', bucket, prefix},
    }
  }
}

function checkLakeWritable(lake: string): DoctorCheck {
  const root = resolve(lake)
  let dir = root
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir)
  try {
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`)
    accessSync(dir, constants.W_OK)
  } catch (error) {
    return {
      name: 'lake',
      status: 'warn',
      detail: `${root} is not writable here: ${(error as Error).message}`,
      hints: ['Choose a folder you can write to: ecap init --force --lake PATH'],
    }
  }
  return {
    name: 'lake',
    status: 'ok',
    detail: dir === root ? `${root} is writable` : `${root} will be created (${dir} is writable)`,
    hints: [],
  }
}

function checkReadable(name: string, path: string): DoctorCheck {
  try {
    accessSync(path, constants.R_OK)
    return {name, status: 'ok', detail: `${path} is readable`, hints: []}
  } catch (error) {
    return {
      name,
      status: 'warn',
      detail: `${path} is not readable here (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      hints: ['Make it readable by the user that runs ecap, or fix the path with ecap init --force.'],
    }
  }
}
