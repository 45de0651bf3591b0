import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it, vi} from 'vitest'
import {AtomicFile} from '../src/lib/atomic-file.js'
import {NdjsonSink} from '../src/lib/generate/index.js'
import {makeEvent} from './helpers/events.js'

/**
 * NdjsonSink.abort says the file is closed "only once no write can still use it". An abort that
 * comes while a write() is still pending (its flush waiting for the previous background write) closes the file
 * while the flush's write, started a microtask earlier, is still in flight.
 */
describe('NdjsonSink abort while a flush is pending', () => {
  const dirs: string[] = []
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, {recursive: true, force: true})))
  })

  it('closes the file only after every background write has settled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecap-review-'))
    dirs.push(dir)
    let inFlight = 0
    let closedWhileInFlight = 0
    const write = AtomicFile.prototype.writeBytesInBackground
    vi.spyOn(AtomicFile.prototype, 'writeBytesInBackground').mockImplementation(function (this: AtomicFile, bytes) {
      inFlight++
      return write.call(this, bytes).finally(() => {
        inFlight--
      })
    })
    const abort = AtomicFile.prototype.abort
    vi.spyOn(AtomicFile.prototype, 'abort').mockImplementation(function (this: AtomicFile) {
      if (inFlight > 0) closedWhileInFlight++
      abort.call(this)
    })
    const sink = NdjsonSink.toFile(join(dir, 'e.ndjson'))
    const event = makeEvent('page_view', {page: '/a'})
    // Fill until a write returns a pending flush; abort without waiting for it (an interrupt arriving meanwhile).
    let pending: void | Promise<void>
    do pending = sink.write(event)
    while (!pending)
    const aborted = sink.abort()
    await Promise.allSettled([pending, aborted])
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(closedWhileInFlight).toBe(0)
    expect(await readdir(dir)).toEqual([])
  })
})
