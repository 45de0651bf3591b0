import {randomUUID} from 'node:crypto'
import type {Engine} from '../engine/engine.js'
import {DataError, InterruptedError, UnavailableError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import type {Action, AddAction, MetadataAction, ProtocolAction, RemoveAction} from './actions.js'
import {checkpointVersions, readCheckpoint} from './checkpoint.js'
import {childLocation} from './location.js'
import {storageAt, storagePath} from './storage.js'

/** Reader/writer protocol versions ecap writes and understands (Delta PROTOCOL.md: no table features needed). */
export const READER_VERSION = 1
export const WRITER_VERSION = 2

/** The state of a table at one version: what a reader needs to know. */
export interface Snapshot {
  tablePath: string
  version: number
  protocol: ProtocolAction
  metadata: MetadataAction
  /** Live data files by path. */
  files: Map<string, AddAction>
  /** Latest version of each application transaction id (Kafka offsets, for ingest). */
  txns: Map<string, number>
  /** Files removed (tombstones) with their deletion time, for vacuum. */
  tombstones: Map<string, RemoveAction>
  lastCommitTimestamp: number | undefined
}

export const LOG_DIR = '_delta_log'

/** The location of a table's log: a folder, or a prefix in an object store (never path.join, which mangles `s3://`). */
export function logPath(tablePath: string): string {
  return childLocation(tablePath, LOG_DIR)
}

/** `_delta_log/00000000000000000042.json` */
export function commitFileName(version: number): string {
  return `${String(version).padStart(20, '0')}.json`
}

const COMMIT_FILE = /^(\d{20})\.json$/

/** A commit's path within its table: `_delta_log/00000000000000000042.json`. */
export function commitPath(version: number): string {
  return storagePath(LOG_DIR, commitFileName(version))
}

/** Versions of all commit files present, ascending. */
export async function listCommitVersions(tablePath: string): Promise<number[]> {
  const versions: number[] = []
  for (const {name, folder} of await storageAt(tablePath).list(LOG_DIR)) {
    const match = folder ? null : COMMIT_FILE.exec(name)
    if (match) versions.push(Number(match[1]))
  }
  return versions.sort((a, b) => a - b)
}

export async function tableExists(tablePath: string): Promise<boolean> {
  return (await listCommitVersions(tablePath)).length > 0
}

/** Parses one commit file; a line that is not a JSON action means a torn or foreign write, never something to skip. */
export async function readCommit(tablePath: string, version: number): Promise<Action[]> {
  const storage = storageAt(tablePath)
  const text = await storage.readText(commitPath(version))
  const file = storage.locate(commitPath(version))
  if (text === undefined) {
    throw new DataError('DELTA_LOG_GAP', `Delta log file ${file} is missing.`, {
      hints: ['Log files were deleted by hand; restore them from a backup.'],
    })
  }
  const actions: Action[] = []
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue
    try {
      actions.push(JSON.parse(line) as Action)
    } catch {
      throw new DataError('DELTA_LOG_CORRUPT', `Delta log file ${file} is damaged: line ${i + 1} is not valid JSON.`, {
        hints: ['The table log was half-written by another tool or damaged on disk; restore it from a backup.'],
      })
    }
  }
  return actions
}

/**
 * Replays the log into a snapshot, starting from the latest checkpoint that can be read. Fails with a data error
 * (exit 3) on anything it cannot read with certainty: no log, a gap in versions, a damaged commit, or a protocol
 * newer than ecap understands. Never guesses.
 *
 * A checkpoint only saves replaying JSON commits, and `_last_checkpoint` is only a hint: when the checkpoint it names
 * is missing or unreadable (torn by a power cut, half-copied), an older checkpoint or the JSON log from version 0
 * gives the same snapshot, provided the commits after it are all there.
 */
export async function readSnapshot(tablePath: string, options: {engine: Engine}): Promise<Snapshot> {
  const logDir = logPath(tablePath)
  const versions = await listCommitVersions(tablePath)
  if (versions.length === 0) {
    throw new DataError('DELTA_TABLE_MISSING', `No Delta table at ${tablePath}: ${logDir} has no commits.`, {
      hints: ['Create it with: ecap generate --to lake', 'Check --lake (or ECAP_LAKE) points at the lake folder.'],
    })
  }
  let firstFailure: Error | undefined
  for (const checkpoint of [...(await checkpointVersions(tablePath)), undefined]) {
    const start = checkpoint === undefined ? 0 : checkpoint + 1
    const replay = versions.filter((v) => v >= start)
    const missing = replay.findIndex((v, i) => v !== start + i)
    if (missing !== -1) {
      firstFailure ??= new DataError(
        'DELTA_LOG_GAP',
        `Delta log of ${tablePath} is missing version ${start + missing} (found ${replay[missing]}).`,
        {hints: ['Log files were deleted by hand; restore them from a backup.']},
      )
      continue
    }
    const state = new SnapshotBuilder()
    if (checkpoint !== undefined) {
      try {
        // The caller's engine reads the Parquet checkpoint: one session per command, bound to its abort signal.
        const actions = await readCheckpoint(options.engine, tablePath, checkpoint)
        for (const action of actions) state.apply(action)
      } catch (error) {
        if (error instanceof InterruptedError) throw error
        firstFailure ??= error as Error
        continue
      }
    }
    for (const v of replay) for (const action of await readCommit(tablePath, v)) state.apply(action)
    const version = start + replay.length - 1
    if (state.lastCommitTimestamp === undefined && versions.includes(version)) {
      for (const action of await readCommit(tablePath, version)) state.apply(action, true)
    }
    return state.build(tablePath, version)
  }
  throw firstFailure
}

/** Folds actions, in log order, into the state of a table. */
class SnapshotBuilder {
  protocol: ProtocolAction | undefined
  metadata: MetadataAction | undefined
  readonly files = new Map<string, AddAction>()
  readonly tombstones = new Map<string, RemoveAction>()
  readonly txns = new Map<string, number>()
  lastCommitTimestamp: number | undefined

  apply(action: Action, commitInfoOnly = false): void {
    if ('commitInfo' in action) {
      this.lastCommitTimestamp = action.commitInfo.timestamp
      return
    }
    if (commitInfoOnly) return
    if ('add' in action) {
      this.files.set(action.add.path, action.add)
      this.tombstones.delete(action.add.path)
    } else if ('remove' in action) {
      this.files.delete(action.remove.path)
      this.tombstones.set(action.remove.path, action.remove)
    } else if ('txn' in action) this.txns.set(action.txn.appId, action.txn.version)
    else if ('metaData' in action) this.metadata = action.metaData
    else if ('protocol' in action) this.protocol = action.protocol
  }

  build(tablePath: string, version: number): Snapshot {
    const {protocol, metadata} = this
    if (!protocol || !metadata) {
      throw new DataError('DELTA_LOG_INCOMPLETE', `Delta table ${tablePath} has no protocol or metadata in its log.`)
    }
    if (protocol.minReaderVersion > READER_VERSION) {
      throw new DataError(
        'DELTA_PROTOCOL_UNSUPPORTED',
        `Delta table ${tablePath} needs reader version ${protocol.minReaderVersion}; ecap reads version ${READER_VERSION}.`,
        {hints: ['Read it with a newer Delta reader (Spark, delta-rs), or rewrite it without newer table features.']},
      )
    }
    return {
      tablePath,
      version,
      protocol,
      metadata,
      files: this.files,
      txns: this.txns,
      tombstones: this.tombstones,
      lastCommitTimestamp: this.lastCommitTimestamp,
    }
  }
}

/** The actions a checkpoint of this snapshot holds (PROTOCOL.md: protocol, metadata, live files, tombstones, txns). */
export function checkpointActions(snapshot: Snapshot): Action[] {
  return [
    {protocol: snapshot.protocol},
    {metaData: snapshot.metadata},
    ...[...snapshot.txns].map(([appId, version]): Action => ({txn: {appId, version}})),
    ...[...snapshot.files.values()].map((add): Action => ({add})),
    ...[...snapshot.tombstones.values()].map((remove): Action => ({remove})),
  ]
}

/**
 * Refuses to write (`operation`: append to, compact, vacuum, ...) a table whose protocol asks writers for more than
 * ecap does. ecap writes protocol 1/2 and no table features: a writer that ignored one (appendOnly, deletion vectors,
 * column mapping, CHECK constraints, ...) or dropped it from a checkpoint would leave a table that other Delta
 * engines reject or misread. `removesData`: the operation removes rows (dataChange), which an append-only table forbids.
 */
export function assertWritable(snapshot: Snapshot, operation: string, options: {removesData?: boolean} = {}): void {
  const {protocol, metadata, tablePath: table} = snapshot
  const features = [...(protocol.readerFeatures ?? []), ...(protocol.writerFeatures ?? [])]
  if (protocol.minWriterVersion > WRITER_VERSION || features.length > 0) {
    throw new DataError(
      'DELTA_PROTOCOL_UNSUPPORTED',
      `Delta table ${table} needs writer version ${protocol.minWriterVersion}${features.length > 0 ? ` with table features ${[...new Set(features)].join(', ')}` : ''}; ecap writes version ${WRITER_VERSION} without table features, so it will not ${operation} it.`,
      {
        hints: [
          'Write to this table with the tool that upgraded it (Spark, delta-rs), or point ecap at its own lake with --lake.',
        ],
      },
    )
  }
  // Writer version 2's own features: column invariants ecap does not check, and append-only tables.
  if (metadata.schemaString.includes('"delta.invariants"')) {
    throw new DataError(
      'DELTA_PROTOCOL_UNSUPPORTED',
      `Delta table ${table} has column invariants (delta.invariants), which ecap does not check, so it will not ${operation} it.`,
      {hints: ['Write to this table with Spark, or point ecap at its own lake with --lake.']},
    )
  }
  if (options.removesData && metadata.configuration?.['delta.appendOnly'] === 'true') {
    throw new DataError(
      'DELTA_TABLE_APPEND_ONLY',
      `Delta table ${table} is append-only (delta.appendOnly = true), so ecap will not ${operation} it.`,
      {hints: ['Unset delta.appendOnly with the tool that set it, or move the table out of the lake.']},
    )
  }
}

/** A commit of another writer changed the table's protocol or metadata: whatever ours rested on may not hold. */
export function changesTable(actions: Action[]): boolean {
  return actions.some((a) => 'protocol' in a || 'metaData' in a)
}

export interface CommitOptions {
  /** The version the writer's view of the table was at; the commit tries the next one. -1 for a new table. */
  readVersion: number
  /**
   * Called with the actions of each commit that won a race: throw to abandon this commit (a real conflict), return
   * to retry on the next version. Blind appends pass nothing and never conflict.
   */
  onConflict?: (winner: Action[], version: number) => void
  /** How many lost races to tolerate before giving up. */
  maxAttempts?: number
  /**
   * Called as soon as the commit has landed, before anything else that can fail: from then on its files are the
   * table's, and a writer that fails later (a directory fsync, a failpoint) must not delete them.
   */
  onLanded?: (version: number) => void
}

/**
 * Writes one commit atomically with put-if-absent (see LakeStorage.putIfAbsent), which fails if another writer took
 * that version first; the writer then retries on the next version. `build` makes the actions for the version being
 * tried (a table's first commit carries protocol and metadata, a writer that lost the race to create the table must
 * not). Returns the version committed.
 */
export async function commitActions(
  tablePath: string,
  build: (version: number) => Action[],
  options: CommitOptions,
): Promise<number> {
  const storage = storageAt(tablePath)
  if (options.readVersion < 0) await storage.prepare({creating: true})
  const maxAttempts = options.maxAttempts ?? 1000
  // This transaction's own id in commitInfo (as Delta's writers put it there): no other writer's commit can have the
  // same bytes, so a put whose outcome is unknown (a timeout on an object store) is settled by reading the name back.
  const txnId = randomUUID()
  let version = options.readVersion + 1
  for (let attempt = 0; attempt < maxAttempts; attempt++, version++) {
    const bytes = Buffer.from(
      `${withTxnId(build(version), txnId)
        .map((a) => JSON.stringify(a))
        .join('\n')}\n`,
    )
    failpoint('lake.commit.before')
    const landed = await storage.putIfAbsent(commitPath(version), bytes, {
      onLanded: () => options.onLanded?.(version),
    })
    if (landed) {
      failpoint('lake.commit.after')
      return version
    }
    options.onConflict?.(await readCommit(tablePath, version), version)
  }
  throw new UnavailableError(
    'DELTA_COMMIT_CONTENDED',
    `Could not commit to ${tablePath}: ${maxAttempts} other commits won the race.`,
    {
      hints: ['Too many writers commit to this table at once; try again.'],
    },
  )
}

/** The actions with `txnId` in their commitInfo (a commit without one gets one). */
function withTxnId(actions: Action[], txnId: string): Action[] {
  const hasInfo = actions.some((a) => 'commitInfo' in a)
  if (!hasInfo) return [{commitInfo: {timestamp: Date.now(), operation: 'WRITE', txnId}}, ...actions]
  return actions.map((a) => ('commitInfo' in a ? ({commitInfo: {...a.commitInfo, txnId}} as Action) : a))
}
