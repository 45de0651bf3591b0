// Export to PostgreSQL: a URL whose password holds a character a URL reserves never shows any part of it.
import {describe, expect, it} from 'vitest'
import {UsageError} from '../src/lib/errors.js'
import {describeTarget, pgClientConfig} from '../src/lib/export/postgres-connection.js'

/** Passwords as people type them into a URL, unencoded; each secret part must never reach a message. */
const URLS = [
  // `/` ends the authority: the host became `alice`, the port 12345, and the database carried the rest of the password.
  {url: 'postgres://alice:12345/Hunter2@db.example:5432/shop', secret: 'Hunter2'},
  // `#` and `?` end it too, and the URL no longer parses at all (a TypeError, exit 1, before).
  {url: 'postgres://alice:Hunter2#x@db.example/shop', secret: 'Hunter2'},
  {url: 'postgres://alice:Hunter2?x@db.example/shop', secret: 'Hunter2'},
]

describe('a postgres:// URL with an unencoded password', () => {
  for (const {url, secret} of URLS) {
    it(`is refused with exit 2 and the fix, never showing the password: ${url.replace(secret, '***')}`, () => {
      let error: unknown
      let target: ReturnType<typeof pgClientConfig>['target'] | undefined
      try {
        target = pgClientConfig({urlEnv: 'SHOP_DB', env: {SHOP_DB: url}}).target
      } catch (caught) {
        error = caught
      }
      expect(target && describeTarget(target), 'messages name the server this way').toBeUndefined()
      expect(error).toBeInstanceOf(UsageError)
      const usage = error as UsageError
      expect(usage.code).toBe('PG_URL_INVALID')
      expect(usage.exitCode).toBe(2)
      expect(`${usage.message} ${usage.hints.join(' ')}`).not.toContain(secret)
      expect(usage.hints.join(' ')).toContain('PGPASSWORD')
    })
  }

  it('still takes a password percent-encoded', () => {
    const {target} = pgClientConfig({
      urlEnv: 'SHOP_DB',
      env: {SHOP_DB: 'postgres://alice:12345%2FHunter2%23@db.example:5432/shop?sslmode=disable'},
    })
    expect(describeTarget(target)).toBe('alice@db.example:5432/shop')
  })
})
