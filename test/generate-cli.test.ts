import {type ChildProcess, type SpawnSyncReturns, spawn, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {EVENT_TYPE_NAMES, parseEventLine} from '../src/lib/events/index.js'
import {cleanEnv, RUN, ecap as runEcap} from './helpers/cli.js'

// End-to-end: the built CLI as a user runs it. `npm test` builds dist/ first (pretest).
const BUILT_COMMAND = fileURLToPath(new URL('../dist/commands/generate.js', import.meta.url))

let root: string
/** The working directory of each run; it holds nothing but what ecap writes, so leftovers are easy to see. */
let cwd: string
let xdgHome: string
let child: ChildProcess | undefined

beforeAll(() => {
  expect(existsSync(BUILT_COMMAND), 'dist/ is missing: run `npm run build` (npm test does it for you)').toBe(true)
})

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecap-generate-cli-'))
  cwd = join(root, 'work')
  xdgHome = join(root, 'xdg')
  await mkdir(cwd)
  await mkdir(xdgHome)
})

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  child = undefined
  await rm(root, {recursive: true, force: true})
})

/** Runs the built `ecap` in this test's own working and config folders. */
function ecap(args: string[]): SpawnSyncReturns<string> {
  return runEcap(args, {cwd, xdgHome})
}

function lines(text: string): string[] {
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
}

describe('ecap generate', () => {
  it('writes the same valid events to a file and to stdout', async () => {
    const args = ['generate', '--customers', '50', '--days', '10', '--seed', '3']
    const toFile = ecap([...args, '-o', 'shop.ndjson'])
    expect(toFile.status).toBe(0)
    expect(toFile.stdout).toBe('')
    const toStdout = ecap([...args, '-o', '-'])
    expect(toStdout.status).toBe(0)
    const file = await readFile(join(cwd, 'shop.ndjson'), 'utf8')
    expect(toStdout.stdout).toBe(file)
    const events = lines(file)
    expect(events.length).toBeGreaterThan(100)
    expect(events.filter((line) => !parseEventLine(line).ok)).toEqual([])
    // The summary is not data: it goes to stderr.
    expect(toStdout.stderr).toContain('events')
  })

  it('prints one --json envelope whose summary matches the file', async () => {
    const run = ecap(['generate', '--customers', '300', '--days', '30', '-o', 'shop.ndjson', '--json'])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const envelope = JSON.parse(run.stdout)
    expect(envelope).toMatchObject({status: 0, warnings: []})
    const {result} = envelope
    expect(result).toMatchObject({
      output: 'shop.ndjson',
      outputClosed: false,
      seed: 42,
      currency: 'EUR',
      labels: null,
      truth: null,
    })
    for (const key of ['events', 'customers', 'orders', 'revenue', 'fraudOrders', 'refunds', 'sessions']) {
      expect(typeof result[key], key).toBe('number')
    }
    expect(Object.keys(result.eventsByType).sort()).toEqual([...EVENT_TYPE_NAMES].sort())
    const byType = Object.values(result.eventsByType as Record<string, number>)
    expect(byType.reduce((a, b) => a + b, 0)).toBe(result.events)
    expect(result.orders).toBe(result.eventsByType.purchase)
    expect(result.customers).toBeGreaterThanOrEqual(300)
    expect(result.revenue).toBeGreaterThan(0)

    const file = await readFile(join(cwd, 'shop.ndjson'), 'utf8')
    expect(lines(file)).toHaveLength(result.events)
    expect(await readdir(cwd)).toEqual(['shop.ndjson'])
  })

  it('refuses -o - with --json, which would mix events and the summary on stdout', async () => {
    const run = ecap(['generate', '--customers', '10', '--days', '5', '-o', '-', '--json'])
    expect(run.status).toBe(2)
    expect(JSON.parse(run.stdout)).toMatchObject({status: 2, result: null, error: {code: 'STDOUT_TAKEN'}})
    expect(await readdir(cwd)).toEqual([])
  })

  it.each<[string, string[]]>([
    ['a negative --customers', ['--customers', '-5']],
    ['a --fraud-rate above 0.5', ['--fraud-rate', '2']],
    ['a --fraud-rate that is not a number', ['--fraud-rate', 'abc']],
    ['a --start that is not a date', ['--start', '2026-13-45']],
    ['a --start of February 30th', ['--start', '2026-02-30']],
    ['an unknown --to', ['--to', 'parquet']],
    ['--spend-q at most 1', ['--spend-q', '0.5']],
    ['an --output in a missing folder', ['-o', '/nonexistent-dir/x.ndjson']],
    ['--labels in a missing folder', ['--labels', '/nonexistent-dir/labels.ndjson']],
  ])('exits 2 with a hint and leaves no file behind for %s', async (_name, args) => {
    const output = args.includes('-o') ? [] : ['-o', 'shop.ndjson']
    const run = ecap(['generate', '--days', '5', ...output, '--truth', 'truth.json', ...args])
    expect(run.status).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(/^Error \([A-Z_]+\): /m)
    expect(run.stderr).toContain('Try this:')
    expect(run.stderr).not.toMatch(/^\s+at /m)
    // Hidden temp files count too: readdir lists dotfiles.
    expect(await readdir(cwd)).toEqual([])
  })

  it('exits 0 when the reader of stdout goes away early (| head -1)', () => {
    const command = `"${process.execPath}" "${RUN}" generate --events 200000 -o - | head -1; echo "\${PIPESTATUS[0]}"`
    const run = spawnSync('bash', ['-c', command], {cwd, encoding: 'utf8', env: cleanEnv(xdgHome), timeout: 30_000})
    const [first, status, ...rest] = lines(run.stdout)
    expect(rest).toEqual([])
    expect(status, `ecap's exit status; stderr: ${run.stderr}`).toBe('0')
    expect(parseEventLine(first ?? '').ok).toBe(true)
    expect(run.stderr).not.toMatch(/EPIPE|Error/)
  })

  it('exits 130 on SIGINT and leaves neither the output nor its temp file behind', async () => {
    const started = spawn(
      process.execPath,
      [RUN, 'generate', '--events', '100000000', '-o', 'big.ndjson', '--labels', 'labels.ndjson'],
      {cwd, env: cleanEnv(xdgHome), stdio: ['ignore', 'pipe', 'pipe']},
    )
    child = started
    let stderr = ''
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((resolve) => started.on('exit', (code) => resolve(code)))

    // Interrupt only once events are reaching the disk, so the run is caught in the middle.
    const deadline = Date.now() + 20_000
    let writing = false
    while (!writing && Date.now() < deadline && started.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      for (const name of await readdir(cwd)) {
        if (name.startsWith('.big.ndjson.tmp-') && (await stat(join(cwd, name)).catch(() => undefined))?.size) {
          writing = true
        }
      }
    }
    expect(writing, `no temp file filled up; stderr: ${stderr}`).toBe(true)
    started.kill('SIGINT')

    expect(await exited, stderr).toBe(130)
    expect(stderr).toContain('INTERRUPTED')
    expect(stderr).toContain('nothing was left behind')
    expect(await readdir(cwd)).toEqual([])
  })

  it('says on SIGINT that what went to stdout stays there, rather than that nothing was left behind', async () => {
    const started = spawn(process.execPath, [RUN, 'generate', '--events', '100000000', '-o', '-'], {
      cwd,
      env: cleanEnv(xdgHome),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child = started
    let stderr = ''
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((resolve) => started.on('exit', (code) => resolve(code)))
    // Interrupt once events have reached the reader.
    await new Promise((resolve) => started.stdout?.once('data', resolve))
    started.stdout?.resume()
    started.kill('SIGINT')

    expect(await exited, stderr).toBe(130)
    expect(stderr).toContain('the events already sent to stdout stay there')
    expect(stderr).not.toContain('nothing was left behind')
  })
})
