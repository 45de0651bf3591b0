import {describe, expect, it} from 'vitest'
import {EcapError} from '../src/lib/errors.js'
import {httpfsFailure} from '../src/lib/lake/s3-engine.js'

/** DuckDB's httpfs messages as DuckDB 1.5 words them (seen against the S3 test server behind a faulty proxy). */
const put503 =
  "HTTP Error: Request returned HTTP 503 for HTTP PUT to 'http://127.0.0.1:39601/p/lake/events/event_date%3D2026-01-02/part-1.parquet'"
const headRefused =
  "IO Error: Could not connect to server for HTTP HEAD to 'http://127.0.0.1:1/shop/lake/events/part-1.parquet'"
const get403 = "HTTP Error: HTTP GET error on 'http://127.0.0.1:9/shop/lake/x.parquet' (HTTP 403) AccessDenied"

describe('httpfs errors named as the S3 client names them', () => {
  it('a store that answers 5xx or not at all is exit 4, and says whether DuckDB was writing or reading', () => {
    const write = httpfsFailure(new Error(put503)) as EcapError
    expect(write).toBeInstanceOf(EcapError)
    expect([write.code, write.exitCode]).toEqual(['S3_UNAVAILABLE', 4])
    expect(write.message).toMatch(/^Cannot write http:\/\/127\.0\.0\.1:39601\/p\/lake\/events\//)
    const read = httpfsFailure(new Error(headRefused)) as EcapError
    expect([read.code, read.exitCode]).toEqual(['S3_UNAVAILABLE', 4])
    expect(read.message).toMatch(/^Cannot read /)
  })

  it('refused credentials are exit 2; other DuckDB errors pass unchanged', () => {
    const denied = httpfsFailure(new Error(get403)) as EcapError
    expect([denied.code, denied.exitCode]).toEqual(['S3_ACCESS_DENIED', 2])
    const binder = new Error('Binder Error: Referenced column "x" not found')
    expect(httpfsFailure(binder)).toBe(binder)
  })
})
