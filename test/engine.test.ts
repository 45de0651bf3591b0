import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'

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
