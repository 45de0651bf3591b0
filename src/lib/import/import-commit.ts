import type {Engine} from '../engine/engine.js'
import {InterruptedError, UnavailableError} from '../errors.js'
import {failpoint} from '../failpoints.js'
import type {AddAction} from '../lake/actions.js'
import {listCommitVersions, type Snapshot} from '../lake/delta-log.js'
import {commitAppend} from '../lake/lake.js'
import {writeQueryEventFiles} from '../lake/parquet-files.js'
import {S3UnavailableError} from '../lake/s3-client.js'
import {storageAt} from '../lake/storage.js'
import {registerTableView} from '../lake/views.js'

/**
 * The txn appId every import commit carries beside its file's own (`ecap:import:<sha256>`). Imports of different
 * files can hold the same orders, hence the same event_ids; a commit that finds this appId in a commit that won the
 * race since its read version fails (lake.ts's txn conflict rule), so the import compares with the lake again
 * instead of landing events another import has just landed. Its version counts the imports into the table.
 */
export const IMPORTS_APP_ID = 'ecap:import'

/** Commit attempts before an import gives up to other imports (each lost race re-reads the lake). */
export const MAX_IMPORT_ATTEMPTS = 5

/** What the import's events are compared with: one snapshot of the events table. */
export interface LakeComparison {
  /** The table version the comparison read; -1 when the table does not exist yet. */
  version: number
  snapshot: Snapshot | undefined
  /** This file's txn is in the lake. */
  alreadyImported: boolean
  /** Events of `__imp_events` whose event_id the table holds (`__imp_known` has their ids). */
  known: number
}

/**
 * Reads the events table at its current version and fills `__imp_known` with the ids of `__imp_events` it already
 * holds. The view and the version come from one snapshot, so a commit based on it conflicts with every import that
 * landed after what the comparison saw.
 */
export async function compareWithLake(engine: Engine, table: string, appId: string): Promise<LakeComparison> {
  if ((await listCommitVersions(table)).length === 0) {
    await engine.run('CREATE OR REPLACE TEMP TABLE __imp_known AS SELECT CAST(NULL AS VARCHAR) AS event_id WHERE false')
    return {version: -1, snapshot: undefined, alreadyImported: false, known: 0}
  }
  const snapshot = await registerTableView(engine, '__imp_lake', table)
  await engine.run(`CREATE OR REPLACE TEMP TABLE __imp_known AS
    SELECT e.event_id FROM __imp_events e SEMI JOIN __imp_lake l ON l.event_id = e.event_id`)
  return {
    version: snapshot.version,
    snapshot,
    alreadyImported: snapshot.txns.has(appId),
    known: await count(engine, '__imp_known'),
  }
}

export interface LandOptions {
  lake: string
  table: string
  appId: string
  /** The comparison the caller summarised; landing starts from it. */
  comparison: LakeComparison
  onProgress: (text: string) => void
  signal?: AbortSignal
}

export interface Landing {
  status: 'imported' | 'already-imported' | 'empty'
  /** The version committed; for already-imported, the version that holds the file; otherwise null. */
  version: number | null
  eventsWritten: number
  eventsAlreadyInLake: number
  checkpointError?: string
}

/**
 * Writes the events of `__imp_events` that the lake does not hold and commits them with the file's txn and
 * IMPORTS_APP_ID, based on the compared version. When another import commits first, the lake is compared again: the
 * file may be in it now (already-imported), its events may all be (empty), and files holding events that landed
 * meanwhile are deleted and written again without them; files that are still right are committed as they are.
 * After MAX_IMPORT_ATTEMPTS lost races it gives up with a retriable error. Files of a commit that did not land are
 * deleted; a crash leaves them as orphans for `ecap lake vacuum`, never visible.
 */
export async function landImport(engine: Engine, options: LandOptions): Promise<Landing> {
  const {lake, table, appId, onProgress: progress, signal} = options
  let comparison = options.comparison
  let adds: AddAction[] | undefined
  const total = await count(engine, '__imp_events')
  for (let attempt = 1; ; attempt++) {
    if (comparison.alreadyImported || total === comparison.known) {
      await discard(table, adds, comparison.snapshot)
      return {
        status: comparison.alreadyImported ? 'already-imported' : 'empty',
        version: comparison.alreadyImported ? comparison.version : null,
        eventsWritten: 0,
        eventsAlreadyInLake: comparison.known,
      }
    }
    try {
      if (adds === undefined) {
        progress(`Writing ${total - comparison.known} events`)
        await storageAt(table).prepare()
        signal?.throwIfAborted()
        // Shielded: an interrupted partitioned COPY leaves the part files it had begun, which no `adds` would name
        // for discard(). Ctrl-C waits for the write instead, and the files are discarded below.
        adds = await engine.shielded(() =>
          writeQueryEventFiles(engine, 'SELECT * FROM __imp_events ANTI JOIN __imp_known USING (event_id)', table),
        )
      }
      signal?.throwIfAborted()
      progress('Committing')
      failpoint('import.commit.before')
    } catch (error) {
      // Nothing names these files yet. The failure to report is this one, not a store that refuses the cleanup too:
      // files no commit names are invisible, and vacuum removes what is left.
      await discard(table, adds, comparison.snapshot).catch(() => {})
      throw error
    }
    const imports = comparison.snapshot?.txns.get(IMPORTS_APP_ID) ?? 0
    let landed = false
    try {
      const committed = await commitAppend(
        lake,
        adds,
        [
          {appId, version: 1},
          {appId: IMPORTS_APP_ID, version: imports + 1},
        ],
        {
          engine,
          readVersion: comparison.version,
          onLanded: () => {
            landed = true
          },
        },
      )
      return {
        status: 'imported',
        version: committed.version,
        eventsWritten: committed.rows,
        eventsAlreadyInLake: comparison.known,
        checkpointError: committed.checkpointError,
      }
    } catch (error) {
      // A lost race (another import, or this file, committed since the compared version) is retriable and leaves
      // nothing committed; any other failure may have come after the commit landed, so its files stay.
      if (landed) throw error
      if (error instanceof InterruptedError) {
        // Ctrl-C before the commit landed (while it read the snapshot): nothing names these files, so they go now
        // rather than wait for a vacuum that may never run on this lake.
        await discard(table, adds, comparison.snapshot).catch(() => {})
        throw error
      }
      // A store that did not answer may have taken the commit or not: the files stay (orphans at worst), and comparing
      // again would only ask the same store.
      if (!(error instanceof UnavailableError) || error instanceof S3UnavailableError) throw error
      progress('Another import committed first: comparing with the lake again')
      await engine.run('CREATE OR REPLACE TEMP TABLE __imp_known_before AS SELECT event_id FROM __imp_known')
      comparison = await compareWithLake(engine, table, appId)
      if (!(await knownUnchanged(engine))) {
        await discard(table, adds, comparison.snapshot)
        adds = undefined
      }
      if (attempt >= MAX_IMPORT_ATTEMPTS && !comparison.alreadyImported && total !== comparison.known) {
        await discard(table, adds, comparison.snapshot)
        throw new UnavailableError(
          'IMPORT_CONTENDED',
          `Other imports committed to ${table} before this one ${attempt} times in a row; nothing of this file was committed.`,
          {
            cause: error,
            hints: ['Run the same ecap import again: it writes only the events the lake does not hold yet.'],
          },
        )
      }
    }
  }
}

async function count(engine: Engine, table: string): Promise<number> {
  const [row] = await engine.rows(`SELECT count(*) AS n FROM ${table}`)
  return Number(row?.n ?? 0)
}

/** Whether the files written against the earlier comparison (`__imp_known_before`) hold what the new one says to write. */
async function knownUnchanged(engine: Engine): Promise<boolean> {
  const [row] = await engine.rows(`SELECT count(*) AS n FROM (
      (SELECT event_id FROM __imp_known_before EXCEPT SELECT event_id FROM __imp_known)
      UNION ALL (SELECT event_id FROM __imp_known EXCEPT SELECT event_id FROM __imp_known_before))`)
  return Number(row?.n ?? 0) === 0
}

/** Deletes files this import wrote for a commit that did not land; never one the table names (live or removed). */
async function discard(table: string, adds: AddAction[] | undefined, snapshot: Snapshot | undefined): Promise<void> {
  const storage = storageAt(table)
  for (const add of adds ?? []) {
    if (snapshot?.files.has(add.path) || snapshot?.tombstones.has(add.path)) continue
    await storage.delete(decodeURIComponent(add.path))
  }
}
