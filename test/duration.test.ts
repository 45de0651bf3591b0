import {Parser} from '@oclif/core'
import {describe, expect, it} from 'vitest'
import {parseDuration} from '../src/lib/config/duration.js'
import {UsageError} from '../src/lib/errors.js'
import {duration} from '../src/shared-flags.js'

describe('parseDuration', () => {
  it('reads days, hours, minutes and seconds; a bare number is seconds', () => {
    expect(parseDuration('7d')).toBe(7 * 86_400_000)
    expect(parseDuration('24h')).toBe(86_400_000)
    expect(parseDuration('30m')).toBe(1_800_000)
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('0.5s')).toBe(500)
    expect(parseDuration(' 2 h ')).toBe(7_200_000)
    expect(parseDuration('0')).toBe(0)
    expect(parseDuration('5')).toBe(5000)
  })

  it('refuses anything else with INVALID_DURATION (exit 2) and the hints it is given', () => {
    for (const text of ['', 'soon', '7 days', '-1s', '1w', '1.s', 'h']) {
      const error = (() => {
        try {
          parseDuration(text, ['--retain 7d'])
        } catch (e) {
          return e
        }
      })()
      expect(error, text).toBeInstanceOf(UsageError)
      expect((error as UsageError).code).toBe('INVALID_DURATION')
      expect((error as UsageError).exitCode).toBe(2)
      expect((error as UsageError).message).toBe(`"${text}" is not a duration.`)
      expect((error as UsageError).hints).toEqual(['--retain 7d'])
    }
  })
})

describe('duration flag', () => {
  const flags = {retain: duration({default: '7d', description: 'Retention.', tryValues: ['7d', '24h']})}

  it('parses to milliseconds, and its default too', async () => {
    expect((await Parser.parse(['--retain', '36h'], {flags})).flags.retain).toBe(36 * 3_600_000)
    expect((await Parser.parse([], {flags})).flags.retain).toBe(7 * 86_400_000)
  })

  it('fails in the parser with a usage error that names the flag in its hints', async () => {
    const error = await Parser.parse(['--retain', 'later'], {flags}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UsageError)
    expect((error as UsageError).code).toBe('INVALID_DURATION')
    expect((error as UsageError).hints).toEqual(['--retain 7d', '--retain 24h'])
  })

  it('shows its default in --help as written', async () => {
    const defaultHelp = flags.retain.defaultHelp as () => Promise<string>
    expect(await defaultHelp()).toBe('7d')
  })
})
