import {randomUUID} from 'node:crypto'
import {mkdirSync} from 'node:fs'
import {join, resolve} from 'node:path'
import type {Engine} from '../engine/engine.js'
import {DEFAULT_CHECKPOINT_INTERVAL, writeCheckpoint} from './checkpoint.js'
import {
  type Action,
  type AddAction,
  checkpointActions,
  commitActions,
  listCommitVersions,
  logPath,
  READER_VERSION,
  readSnapshot,
  type TxnAction,
  WRITER_VERSION,
} from './delta-log.js'
import {EVENTS_PARTITION_COLUMN, eventsDeltaSchema} from './delta-schema.js'
import {writeEventFiles} from './parquet-files.js'

export const EVENTS_TABLE = 'events'
/** Where writers stage input before it becomes Parquet; not part of any table. */
export const STAGING_DIR = '_staging'
const ENGINE_INFO = 'ecap/0.1.0'

export function tablePath(lake: string, table: string): string {
  return join(resolve(lake), table)
}

export function stagingPath(lake: string): string {
  const dir = join(resolve(lake), STAGING_DIR)
  mkdirSync(dir, {recursive: true})
  return dir
}

export interface AppendResult {
  version: number
  files: number
  rows: number
  bytes: number
}

/**
 * Appends the events of an NDJSON file to `<lake>/events` as one Delta commit, creating the table on first use.
 * `txns` (e.g. Kafka offsets) land in the same commit as the data, which is what makes ingest exactly-once.
 */
export async function appendEvents(
  engine: Engine,
  lake: string,
  ndjsonPath: string,
  options: {txns?: TxnAction[]} = {},
): Promise<AppendResult> {
  const table = tablePath(lake, EVENTS_TABLE)
  mkdirSync(table, {recursive: true})
  const adds = await writeEventFiles(engine, ndjsonPath, table)
  return commitAppend(lake, adds, options.txns, {engine})
}

export interface CommitAppendOptions {
  engine?: Engine
  /** Write a checkpoint every this many commits. */
  checkpointInterval?: number
}

/**
 * Commits files already written into `<lake>/events` (see writeEventFiles) as one blind append, then writes a
 * checkpoint when the new version is a multiple of the checkpoint interval.
 */
export async function commitAppend(
  lake: string,
  adds: AddAction[],
  txns: TxnAction[] = [],
  options: CommitAppendOptions = {},
): Promise<AppendResult> {
  const table = tablePath(lake, EVENTS_TABLE)
  const versions = listCommitVersions(table)
  const readVersion = versions.length === 0 ? -1 : (versions[versions.length - 1] as number)
  const now = Date.now()
  const version = commitActions(
    table,
    (v) => [
      {
        commitInfo: {
          timestamp: now,
          operation: v === 0 ? 'CREATE TABLE AS SELECT' : 'WRITE',
          operationParameters: {mode: 'Append', partitionBy: JSON.stringify([EVENTS_PARTITION_COLUMN])},
          engineInfo: ENGINE_INFO,
          isBlindAppend: true,
        },
      },
      ...(v === 0 ? tableHeader(now) : []),
      ...adds.map((add): Action => ({add})),
      ...txns.map((txn): Action => ({txn: {...txn, lastUpdated: now}})),
    ],
    {readVersion},
  )
  await maybeCheckpoint(table, version, options)
  return {
    version,
    files: adds.length,
    rows: adds.reduce((sum, a) => sum + rowsOf(a), 0),
    bytes: adds.reduce((sum, a) => sum + a.size, 0),
  }
}

/** Checkpoints at every interval-th version, so readers replay at most that many JSON commits. */
export async function maybeCheckpoint(
  table: string,
  version: number,
  options: CommitAppendOptions = {},
): Promise<void> {
  const interval = options.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL
  if (version === 0 || version % interval !== 0) return
  const snapshot = await readSnapshot(table, {engine: options.engine})
  // Another writer may have committed since; checkpointing its newer state is just as valid.
  await writeCheckpoint(logPath(table), snapshot.version, checkpointActions(snapshot), options.engine)
}

function tableHeader(now: number): Action[] {
  return [
    {protocol: {minReaderVersion: READER_VERSION, minWriterVersion: WRITER_VERSION}},
    {
      metaData: {
        id: randomUUID(),
        name: EVENTS_TABLE,
        format: {provider: 'parquet', options: {}},
        schemaString: JSON.stringify(eventsDeltaSchema()),
        partitionColumns: [EVENTS_PARTITION_COLUMN],
        configuration: {},
        createdTime: now,
      },
    },
  ]
}

export function rowsOf(add: AddAction): number {
  if (!add.stats) return 0
  return (JSON.parse(add.stats) as {numRecords?: number}).numRecords ?? 0
}
