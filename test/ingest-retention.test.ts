import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Engine} from '../src/lib/engine/engine.js'
import {listCommitVersions, readCommit} from '../src/lib/lake/delta-log.js'
import {EVENTS_TABLE, tablePath} from '../src/lib/lake/lake.js'
import {registerTableView} from '../src/lib/lake/views.js'
import {ecap as runEcap} from './helpers/cli.js'
import {testBrokers, testKafka, uniqueName} from './helpers/kafka.js'

/**
 * Messages Kafka's retention deleted before ecap read them: a real broker whose low-water mark is moved past the
 * lake's resume point (DeleteRecords, what retention does segment by segment), then `ecap ingest` as a user runs it.
 */

let dir: string
let engine: Engine

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecap-ingest-retention-'))
  engine = await Engine.open()
})

afterAll(() => {
  engine.close()
  rmSync(dir, {recursive: true, force: true})
})

function ecap(args: string[]) {
  return runEcap(args, {timeoutMs: 120_000})
}

/** The event ids `ecap generate` makes for a seed, in the order it produces them. */
function generatedIds(events: number, seed: number): string[] {
  const file = join(dir, `seed-${seed}.ndjson`)
  const run = ecap(['generate', '--events', String(events), '--seed', String(seed), '-o', file, '-q'])
  expect(run.status, run.stderr).toBe(0)
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as {event_id: string}).event_id)
}

describe('ecap ingest and Kafka retention', () => {
  it('resumes at the low-water mark, reports and records the offsets retention deleted, and keeps what is retained', async () => {
    const brokers = testBrokers()
    const topic = uniqueName('retention')
    const lake = join(dir, 'lake')
    const common = ['--brokers', brokers, '--topic', topic, '--lake', lake, '--group', uniqueName('g')]
    const produce = (seed: number) => {
      const run = ecap(
        ['generate', '--to', 'kafka', ...common.slice(0, 4), '--partitions', '1'].concat([
          '--events',
          '100',
          '--seed',
          String(seed),
          '-q',
        ]),
      )
      expect(run.status, run.stderr).toBe(0)
    }
    produce(1)
    const first = ecap(['ingest', ...common, '--until-caught-up', '--json'])
    expect(first.status, first.stderr).toBe(0)

    // 100 more messages arrive while ingest is not running, and retention deletes the first half of them.
    produce(2)
    const admin = testKafka().admin()
    await admin.connect()
    try {
      // kafkajs finds the partition leaders from metadata it must have loaded first.
      await admin.fetchTopicMetadata({topics: [topic]})
      await admin.deleteTopicRecords({topic, partitions: [{partition: 0, offset: '150'}]})
    } finally {
      await admin.disconnect()
    }

    // --from latest must not apply to a partition the lake has seen: the retained 150..199 are ingested.
    const second = ecap(['ingest', ...common, '--from', 'latest', '--until-caught-up', '--json'])
    expect(second.status, second.stderr).toBe(0)
    const {result, warnings} = JSON.parse(second.stdout)
    expect(result.retentionGaps).toEqual([{topic, partition: 0, firstOffset: 100, lastOffset: 149}])
    expect(result.offsets).toEqual({0: 199})
    expect(warnings.join('\n')).toContain('offsets 100-149 were deleted by Kafka')

    await registerTableView(engine, 'events', tablePath(lake, EVENTS_TABLE))
    const landed = (await engine.rows('SELECT event_id FROM events')).map((r) => String(r.event_id)).sort()
    expect(landed).toEqual([...generatedIds(100, 1), ...generatedIds(100, 2).slice(50)].sort())

    // The gap is in the log too, for whoever reads the table's history.
    const table = tablePath(lake, EVENTS_TABLE)
    const gaps = []
    for (const v of await listCommitVersions(table)) {
      gaps.push(
        ...(await readCommit(table, v)).flatMap((a) => ('commitInfo' in a && a.commitInfo.ecapRetentionGaps) || []),
      )
    }
    expect(gaps).toEqual([{topic, partition: 0, firstOffset: 100, lastOffset: 149}])

    // A rerun finds nothing new and no new gap.
    const third = ecap(['ingest', ...common, '--until-caught-up', '--json'])
    expect(third.status, third.stderr).toBe(0)
    expect(JSON.parse(third.stdout).result.retentionGaps).toEqual([])
  })
})
