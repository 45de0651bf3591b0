import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {utcDate, utcMonth} from '../src/lib/engine/sql.js'
import {InterruptedError} from '../src/lib/errors.js'

describe('Engine', () => {
  it('spills beyond its memory limit into a folder of its own under $TMPDIR, never ./.tmp, and removes it on close', async () => {
    const engine = await Engine.open({memoryLimit: '64MB', threads: 1})
    let spill: string
    try {
      const [setting] = await engine.rows("SELECT current_setting('temp_directory') AS dir")
      spill = String(setting?.dir)
      expect(spill.startsWith(join(tmpdir(), 'ecap-duckdb-'))).toBe(true)
      // A sort of ~150 MB of strings cannot stay within 64 MB: DuckDB must spill to finish it.
      const [sorted] = await engine.rows(
        'SELECT count(*) AS n FROM (SELECT md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s FROM range(2000000) t(i) ORDER BY s)',
      )
      expect(Number(sorted?.n)).toBe(2_000_000)
      expect(existsSync(spill)).toBe(true)
      expect(existsSync(join(process.cwd(), '.tmp'))).toBe(false)
    } finally {
      engine.close()
    }
    expect(existsSync(spill)).toBe(false)
  })
})

describe('Engine with a signal', () => {
  it('stops a running statement when the signal is aborted, fails with its reason, and runs nothing after', async () => {
    const controller = new AbortController()
    const reason = new InterruptedError('SIGTERM')
    const engine = await Engine.open({signal: controller.signal, threads: 1})
    try {
      await expect(engine.rows('SELECT 42 AS answer')).resolves.toEqual([{answer: 42}])
      // 10^12 pairs: hours of work, unless the abort stops it.
      const running = engine.rows('SELECT count(*) AS n FROM range(1000000) a(i), range(1000000) b(j) WHERE i + j = -1')
      setTimeout(() => controller.abort(reason), 300)
      await expect(running).rejects.toBe(reason)
      await expect(engine.run('SELECT 1')).rejects.toBe(reason)
    } finally {
      engine.close()
    }
  })
})

describe('Engine.shielded', () => {
  it('runs shielded work to its end when the signal aborts during it, and stops at the next statement after', async () => {
    const controller = new AbortController()
    const reason = new InterruptedError('SIGINT')
    const engine = await Engine.open({signal: controller.signal, threads: 1})
    try {
      const rows = await engine.shielded(async () => {
        await engine.run('CREATE TABLE saved AS SELECT 1 AS x')
        controller.abort(reason)
        await engine.run('INSERT INTO saved VALUES (2)')
        return engine.rows('SELECT CAST(sum(x) AS INTEGER) AS total FROM saved')
      })
      expect(rows).toEqual([{total: 3}])
      await expect(engine.rows('SELECT 1')).rejects.toBe(reason)
      // Once aborted, no new shielded work begins either.
      await expect(engine.shielded(async () => 1)).rejects.toBe(reason)
    } finally {
      engine.close()
    }
  })
})

describe('utcDate and utcMonth', () => {
  it('give the same day and month as DuckDB’s own casts in UTC, before 1970, at the last microsecond and on leap days', async () => {
    const engine = await Engine.open({threads: 1})
    try {
      const rows = await engine.rows(
        `SELECT t::VARCHAR AS t, ${utcDate('t')} = CAST(t AS DATE) AS same_day,
                ${utcMonth('t')} = CAST(date_trunc('month', t) AS DATE) AS same_month, ${utcDate('t')}::VARCHAR AS day
         FROM (VALUES (TIMESTAMPTZ '1969-12-31 23:59:59.999999+00'), (TIMESTAMPTZ '1900-03-01 00:00:00+00'),
                      (TIMESTAMPTZ '2024-02-29 23:59:59.999999+00'), (TIMESTAMPTZ '2026-01-01 00:00:00+00'),
                      (TIMESTAMPTZ '2026-06-30 23:30:00-02'), (NULL)) v(t)`,
      )
      expect(rows.map((r) => [r.same_day, r.same_month])).toEqual([
        [true, true],
        [true, true],
        [true, true],
        [true, true],
        [true, true],
        [null, null],
      ])
      // An evening west of Greenwich is the next day in UTC.
      expect(rows[4]?.day).toBe('2026-07-01')
      expect(rows[0]?.day).toBe('1969-12-31')
    } finally {
      engine.close()
    }
  })
})
