import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {resultPath} from '../src/lib/analytics/store.js'
import {EcapError} from '../src/lib/errors.js'
import {logPath} from '../src/lib/lake/delta-log.js'
import {tablePath} from '../src/lib/lake/lake.js'
import {
  childLocation,
  isObjectStore,
  lakeLocation,
  locationName,
  parentLocation,
  relativeLocation,
  s3Parts,
} from '../src/lib/lake/location.js'

/** The usage error (exit 2) lakeLocation throws for `text`, with its code, message and hints. */
function refusal(text: string): EcapError {
  try {
    lakeLocation(text)
  } catch (error) {
    expect(error).toBeInstanceOf(EcapError)
    expect((error as EcapError).exitCode).toBe(2)
    return error as EcapError
  }
  throw new Error(`lakeLocation accepted ${JSON.stringify(text)}`)
}

describe('lakeLocation', () => {
  it('accepts s3://bucket/prefix and normalises it: no trailing slash, no surrounding blanks', () => {
    expect(lakeLocation('s3://shop/lake')).toBe('s3://shop/lake')
    expect(lakeLocation('s3://shop/lake/')).toBe('s3://shop/lake')
    expect(lakeLocation('s3://shop/lake///')).toBe('s3://shop/lake')
    expect(lakeLocation('  s3://shop/a/b \n')).toBe('s3://shop/a/b')
    expect(lakeLocation('s3://shop')).toBe('s3://shop')
    expect(lakeLocation('s3://shop/')).toBe('s3://shop')
    expect(lakeLocation('s3://my.shop-2026/x')).toBe('s3://my.shop-2026/x')
    expect(lakeLocation(`s3://${'a'.repeat(63)}/x`)).toBe(`s3://${'a'.repeat(63)}/x`)
  })

  it('makes a local path absolute, resolving . and .. parts and dropping a trailing slash', () => {
    expect(lakeLocation('lake')).toBe(resolve('lake'))
    expect(lakeLocation('./a/../lake/')).toBe(resolve('lake'))
    expect(lakeLocation('/tmp/shop/lake/')).toBe('/tmp/shop/lake')
    // A path that only contains a colon further on is a folder name, not a URL.
    expect(lakeLocation('./s3:/bucket')).toBe(resolve('s3:', 'bucket'))
  })

  it('refuses a lake URL it cannot write instead of taking it for a local folder (s3: s3:/x gs:// file:// https://)', () => {
    for (const text of ['s3:', 's3:/shop/lake', 's3:shop', 'S3://shop/lake', 'gs://shop/lake', 'file:///tmp/lake']) {
      const error = refusal(text)
      expect(error.code, text).toBe('LAKE_URL_UNSUPPORTED')
      expect(error.message, text).toContain(text)
      expect(error.hints.join('\n'), text).toContain('s3://')
    }
    expect(refusal('https://shop.example/lake').code).toBe('LAKE_URL_UNSUPPORTED')
    expect(refusal('abfss://c@a.dfs.core.windows.net/lake').code).toBe('LAKE_URL_UNSUPPORTED')
  })

  it('refuses bucket names S3 does not allow', () => {
    for (const bucket of ['', 'ab', 'Shop', 'my_shop', '-shop', 'shop-', '.shop', 'a'.repeat(64)]) {
      const error = refusal(`s3://${bucket}/lake`)
      expect(error.code, bucket).toBe('LAKE_URL_INVALID')
      expect(error.message, bucket).toContain('is not an S3 bucket name')
    }
  })

  it('refuses a key prefix with an empty, "." or ".." part, hinting the prefix without them', () => {
    for (const [text, hint] of [
      ['s3://shop/a/../lake', 's3://shop/a/lake'],
      ['s3://shop/./lake', 's3://shop/lake'],
      ['s3://shop/a//lake', 's3://shop/a/lake'],
      ['s3://shop/..', 's3://shop/'],
    ] as const) {
      const error = refusal(text)
      expect(error.code, text).toBe('LAKE_URL_INVALID')
      expect(error.hints, text).toEqual([`--lake ${hint}`])
    }
  })

  it('refuses an empty lake path', () => {
    expect(refusal('').code).toBe('LAKE_EMPTY')
    expect(refusal('   ').code).toBe('LAKE_EMPTY')
  })
})

describe('locations of both kinds', () => {
  it('tells an object store from a local folder, and splits an s3:// location into bucket and prefix', () => {
    expect(isObjectStore('s3://shop/lake')).toBe(true)
    expect(isObjectStore('/tmp/lake')).toBe(false)
    expect(isObjectStore(resolve('s3:'))).toBe(false)
    expect(s3Parts('s3://shop/a/b')).toEqual({bucket: 'shop', prefix: 'a/b'})
    expect(s3Parts('s3://shop')).toEqual({bucket: 'shop', prefix: ''})
  })

  it('childLocation joins with / in a store (never s3:/ as path.join does) and as the OS does on disk', () => {
    expect(childLocation('s3://shop/lake', 'events')).toBe('s3://shop/lake/events')
    expect(childLocation('s3://shop/lake', 'analytics', 'rfm')).toBe('s3://shop/lake/analytics/rfm')
    expect(childLocation('s3://shop/lake', 'analytics/rfm')).toBe('s3://shop/lake/analytics/rfm')
    expect(childLocation('s3://shop', 'events')).toBe('s3://shop/events')
    expect(childLocation('s3://shop/lake', '', 'events', '')).toBe('s3://shop/lake/events')
    expect(childLocation('s3://shop/lake')).toBe('s3://shop/lake')
    expect(childLocation('/tmp/lake', 'analytics/rfm')).toBe(join('/tmp/lake', 'analytics', 'rfm'))
    expect(childLocation('lake', 'events')).toBe(resolve('lake', 'events'))
  })

  it('parentLocation goes one level up; a bucket and the file system root are their own parents', () => {
    expect(parentLocation('s3://shop/lake/analytics/rfm')).toBe('s3://shop/lake/analytics')
    expect(parentLocation('s3://shop/lake')).toBe('s3://shop')
    expect(parentLocation('s3://shop')).toBe('s3://shop')
    expect(parentLocation('/tmp/lake/events')).toBe('/tmp/lake')
    expect(parentLocation('/')).toBe('/')
  })

  it('locationName is the last part of the name', () => {
    expect(locationName('s3://shop/lake/analytics/rfm')).toBe('rfm')
    expect(locationName('s3://shop')).toBe('shop')
    expect(locationName('/tmp/lake/events')).toBe('events')
  })

  it('relativeLocation is the /-separated path under the root, or undefined outside it', () => {
    expect(relativeLocation('s3://shop/lake', 's3://shop/lake/analytics/rfm')).toBe('analytics/rfm')
    expect(relativeLocation('s3://shop/lake', 's3://shop/lake')).toBe('')
    expect(relativeLocation('s3://shop', 's3://shop/events')).toBe('events')
    // A sibling whose name starts with the root's is not under it.
    expect(relativeLocation('s3://shop/lake', 's3://shop/lakes/events')).toBeUndefined()
    expect(relativeLocation('s3://shop/lake', 's3://other/lake/events')).toBeUndefined()
    expect(relativeLocation('s3://shop/lake', '/tmp/lake/events')).toBeUndefined()
    expect(relativeLocation('/tmp/lake', '/tmp/lake/analytics/rfm')).toBe('analytics/rfm')
    expect(relativeLocation('/tmp/lake', '/tmp/lake/')).toBe('')
    expect(relativeLocation('/tmp/lake', '/tmp/lakes/events')).toBeUndefined()
    expect(relativeLocation('lake', resolve('lake', 'events'))).toBe('events')
  })

  it('tables and saved results of an s3:// lake stay in the store; on disk they are where they always were', () => {
    expect(tablePath('s3://shop/lake/', 'events')).toBe('s3://shop/lake/events')
    expect(tablePath('s3://shop/lake', 'analytics/rfm')).toBe('s3://shop/lake/analytics/rfm')
    expect(resultPath('s3://shop/lake', 'rfm')).toBe('s3://shop/lake/analytics/rfm')
    expect(resultPath('s3://shop', 'kpi_daily')).toBe('s3://shop/analytics/kpi_daily')
    expect(resultPath('lake', 'rfm')).toBe(join(resolve('lake'), 'analytics', 'rfm'))
    expect(() => resultPath('s3:/shop/lake', 'rfm')).toThrow(EcapError)
    // The log a missing-table error names.
    expect(logPath('s3://shop/lake/events')).toBe('s3://shop/lake/events/_delta_log')
    expect(logPath('/tmp/lake/events')).toBe(join('/tmp/lake/events', '_delta_log'))
  })
})

describe('table paths inside an s3:// lake', () => {
  it('refuse steps out of the lake or empty steps, which a key would keep literally', () => {
    for (const table of ['../x', 'a/../b', './events', 'a//b']) {
      expect(() => childLocation('s3://shop/lake', table)).toThrow(/not a table path/)
    }
    expect(childLocation('s3://shop/lake', 'analytics/rfm')).toBe('s3://shop/lake/analytics/rfm')
  })
})

describe('s3:// lake prefixes', () => {
  it('refuse characters outside the safe key set: a ? would hand DuckDB settings of the user’s choosing', () => {
    for (const lake of [
      's3://shop/lake?s3_endpoint=127.0.0.1:9418',
      's3://shop/a#b',
      's3://shop/a b',
      's3://shop/50%',
      's3://shop/a\tb',
    ]) {
      expect(() => lakeLocation(lake)).toThrow(/does not accept/)
    }
    expect(lakeLocation("s3://shop/my_lake-2026.v1/(eu)=x/*!'")).toBe("s3://shop/my_lake-2026.v1/(eu)=x/*!'")
  })
})
