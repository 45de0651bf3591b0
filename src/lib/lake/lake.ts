import {createHash, randomUUID} from 'node:crypto'
import {mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Engine} from '../engine/engine.js'
import {DataError, TxnConflictError} from '../errors.js'
import type {Action, AddAction, MetadataAction, TxnAction} from './actions.js'
import {DEFAULT_CHECKPOINT_INTERVAL, writeCheckpoint} from './checkpoint.js'
import {
  assertWritable,
  changesTable,
  checkpointActions,
  commitActions,
  listCommitVersions,
  READER_VERSION,
  readSnapshot,
  type Snapshot,
  WRITER_VERSION,
} from './delta-log.js'
import {type DeltaStruct, EVENTS_PARTITION_COLUMN, eventsDeltaSchema} from './delta-schema.js'
import {childLocation, isObjectStore, lakeLocation} from './location.js'
import {writeEventFiles} from './parquet-files.js'
import {storageAt} from './storage.js'

export const EVENTS_TABLE = 'events'
/** Where writers stage input before it becomes Parquet; not part of any table. */
export const STAGING_DIR = '_staging'
const ENGINE_INFO = 'ecap/0.1.0'

/** The location of the lake's table `table` ('/'-separated for nested ones, e.g. analytics/rfm). */
export function tablePath(lake: string, table: string): string {
  return childLocation(lakeLocation(lake), table)
}

/**
 * The local folder where writers to `lake` stage input before it becomes Parquet; not part of any table. Inside a
 * local lake (same file system, found by doctor); for a lake in an object store, under the OS temp folder ($TMPDIR),
 * one folder per lake, since staging files never leave the host that writes them.
 */
export function stagingPath(lake: string): string {
  const dir = stagingFolder(lake)
  mkdirSync(dir, {recursive: true})
  return dir
}

/** The folder stagingPath names, without creating it (doctor looks for leftovers there and writes nothing). */
export function stagingFolder(lake: string): string {
  const location = lakeLocation(lake)
  return isObjectStore(location)
    ? join(tmpdir(), 'ecap-staging', createHash('sha256').update(location).digest('hex').slice(0, 16))
    : join(location, STAGING_DIR)
}

export interface AppendResult {
  version: number
  /** Set when the commit landed but the checkpoint after it failed (reads stay correct, only slower). */
  checkpointError?: string
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
  await assertAppendable(lake, EVENTS_SPEC, engine)
  await storageAt(table).prepare()
  const adds = await writeEventFiles(engine, ndjsonPath, table)
  return commitAppend(lake, adds, options.txns, {engine})
}

/** What ecap knows of each table it writes: its name in the lake, its Delta schema and partition columns. */
export interface TableSpec {
  name: string
  schema: DeltaStruct
  partitionColumns: string[]
}

export const EVENTS_SPEC: TableSpec = {
  name: EVENTS_TABLE,
  schema: eventsDeltaSchema(),
  partitionColumns: [EVENTS_PARTITION_COLUMN],
}

export interface CommitAppendOptions {
  /** The caller's session: it reads a checkpoint of the snapshot and writes the next one. */
  engine: Engine
  /** The table appended to; the events table unless said otherwise. */
  table?: TableSpec
  /** Write a checkpoint every this many commits. */
  checkpointInterval?: number
  /**
   * The table version the caller's decisions rest on (e.g. the txn versions it read to seek Kafka). A commit with
   * txns then fails with a retriable error if another writer committed the same appIds since.
   */
  readVersion?: number
  /** Extra fields for the commit's `commitInfo` (e.g. what ingest could not read). */
  commitInfo?: Record<string, unknown>
  /** Called as soon as the commit has landed (see CommitOptions.onLanded): its files must not be deleted from then on. */
  onLanded?: (version: number) => void
}

/**
 * Commits files already written into `<lake>/events` (see writeEventFiles) as one blind append, then writes a
 * checkpoint when the new version is a multiple of the checkpoint interval.
 */
export async function commitAppend(
  lake: string,
  adds: AddAction[],
  txns: TxnAction[] = [],
  options: CommitAppendOptions,
): Promise<AppendResult> {
  const spec = options.table ?? EVENTS_SPEC
  const table = tablePath(lake, spec.name)
  let readVersion = -1
  if ((await listCommitVersions(table)).length > 0) {
    const snapshot = await readSnapshot(table, {engine: options.engine})
    assertSameTable(snapshot, spec)
    readVersion = options.readVersion ?? snapshot.version
  }
  const ourApps = new Set(txns.map((t) => t.appId))
  const now = Date.now()
  const version = await commitActions(
    table,
    (v) => [
      {
        commitInfo: {
          timestamp: now,
          operation: v === 0 ? 'CREATE TABLE AS SELECT' : 'WRITE',
          operationParameters: {mode: 'Append', partitionBy: JSON.stringify(spec.partitionColumns)},
          engineInfo: ENGINE_INFO,
          isBlindAppend: true,
          ...options.commitInfo,
        },
      },
      ...(v === 0 ? tableHeader(spec, now) : []),
      ...adds.map((add): Action => ({add})),
      ...txns.map((txn): Action => ({txn: {...txn, lastUpdated: now}})),
    ],
    {
      readVersion,
      onLanded: options.onLanded,
      onConflict: (winner, v) => {
        const header = winner.find((a): a is {metaData: MetadataAction} => 'metaData' in a)
        // Losing the race to create the table is fine if the winner created the same table; any other change of
        // protocol or metadata under our feet is not.
        if (
          (v > 0 && changesTable(winner)) ||
          (header && header.metaData.schemaString !== JSON.stringify(spec.schema))
        ) {
          throw new DataError('DELTA_METADATA_CHANGED', `Another writer changed the schema or protocol of ${table}.`, {
            hints: ['Check which tool writes to this lake; ecap appends only to tables with its own schema.'],
          })
        }
        if (winner.some((a) => 'txn' in a && ourApps.has(a.txn.appId))) {
          throw new TxnConflictError(table)
        }
      },
    },
  )
  let checkpointError: string | undefined
  try {
    await maybeCheckpoint(table, version, options)
  } catch (error) {
    // The commit is durable; a checkpoint only speeds up reading, so its failure must not fail the append.
    checkpointError = (error as Error).message
  }
  return {
    checkpointError,
    version,
    files: adds.length,
    rows: adds.reduce((sum, a) => sum + rowsOf(a), 0),
    bytes: adds.reduce((sum, a) => sum + a.size, 0),
  }
}

/** Checkpoints at every interval-th version, so readers replay at most that many JSON commits. */
export async function maybeCheckpoint(table: string, version: number, options: CommitAppendOptions): Promise<void> {
  const interval = options.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL
  if (version === 0 || version % interval !== 0) return
  const snapshot = await readSnapshot(table, {engine: options.engine})
  // Another writer may have committed since; checkpointing its newer state is just as valid, unless that writer
  // upgraded the protocol to features ecap cannot carry into a checkpoint.
  assertWritable(snapshot, 'checkpoint')
  await writeCheckpoint(options.engine, table, snapshot.version, checkpointActions(snapshot))
}

/**
 * Refuses, before any data file is written, to append to a table ecap cannot write safely: a newer protocol or table
 * features, another schema. A table that does not exist yet is fine (the commit creates it).
 */
export async function assertAppendable(lake: string, spec: TableSpec, engine: Engine): Promise<void> {
  const table = tablePath(lake, spec.name)
  if ((await listCommitVersions(table)).length === 0) return
  assertSameTable(await readSnapshot(table, {engine}), spec)
}

/** Refuses to append to a table ecap did not make or cannot write safely: newer protocol, other schema. */
function assertSameTable(snapshot: Snapshot, spec: TableSpec): void {
  const {metadata, tablePath: table} = snapshot
  assertWritable(snapshot, 'append to')
  const ours = spec.schema
  const theirs = JSON.parse(metadata.schemaString) as {fields?: {name: string; type: unknown}[]}
  const sameSchema =
    JSON.stringify((theirs.fields ?? []).map((f) => [f.name, f.type])) ===
    JSON.stringify(ours.fields.map((f) => [f.name, f.type]))
  if (!sameSchema || JSON.stringify(metadata.partitionColumns) !== JSON.stringify(spec.partitionColumns)) {
    throw new DataError(
      'DELTA_SCHEMA_MISMATCH',
      `Delta table ${table} has another schema or partitioning than ecap's ${spec.name} table.`,
      {
        hints: ['Point ecap at its own lake with --lake, or move the foreign table elsewhere.'],
      },
    )
  }
}

function tableHeader(spec: TableSpec, now: number): Action[] {
  return [
    {protocol: {minReaderVersion: READER_VERSION, minWriterVersion: WRITER_VERSION}},
    {
      metaData: {
        id: randomUUID(),
        name: spec.name,
        format: {provider: 'parquet', options: {}},
        schemaString: JSON.stringify(spec.schema),
        partitionColumns: spec.partitionColumns,
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
