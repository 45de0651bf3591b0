import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'
import {cleanEnv} from './helpers/cli.js'
import {testBrokers} from './helpers/kafka.js'

/**
 * Random kills with real processes: bench/kill-round.js runs 3 `ecap ingest` members in one group on a 6-partition
 * topic of valid and bad messages (a second wave arrives mid-round), SIGKILLs one at seeded times and restarts it,
 * stops the rest with SIGINT and finishes with `--until-caught-up`; then reads the lake with DuckDB and delta-rs.
 * The seed fixes the kill times and victims, so a failure can be replayed; `npm run bench -- soak` runs the same round
 * with random seeds for as long as it is given.
 */

const ROUND = join(import.meta.dirname, '..', 'bench', 'kill-round.js')

interface RoundReport {
  seed: number
  kills: number
  restarts: number
  memberExits: (number | string)[]
  events: number
  deadLetters: number
  alerts: number
  mismatches: Record<string, unknown>
  ok: boolean
}

describe('ingest under random kills', () => {
  it('3 members, one SIGKILLed and restarted at seeded times: every event and dead letter once, alerts once and on Kafka', async () => {
    const {stdout} = await promisify(execFile)(
      process.execPath,
      [ROUND, '--brokers', testBrokers(), '--seed', '20261203', '--seconds', '45', '--events', '8000'],
      {env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000},
    ).catch((error: {stdout?: string; stderr?: string}) => {
      // A mismatch exits 1 with its report on stdout; anything else is a failure of the round itself.
      if (error.stdout?.trim()) return {stdout: error.stdout}
      throw new Error(`kill round failed: ${error.stderr ?? error}`)
    })
    const report = JSON.parse(stdout.trim().split('\n').pop() as string) as RoundReport
    expect(report.mismatches, JSON.stringify(report, null, 2)).toEqual({})
    expect(report.kills).toBeGreaterThanOrEqual(2)
    expect(report.restarts).toBe(report.kills)
    expect(report.events).toBe(16_000)
    expect(report.deadLetters).toBe(18)
    expect(report.alerts).toBeGreaterThan(0)
  }, 660_000)
})
