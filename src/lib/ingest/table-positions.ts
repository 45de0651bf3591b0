import type {Engine} from '../engine/engine.js'
import {TxnConflictError} from '../errors.js'
import type {AddAction, TxnAction} from '../lake/actions.js'
import {type AppendResult, commitAppend, type TableSpec, tablePath} from '../lake/lake.js'
import {advance, lakeOffsets, movingTxns} from './lake-offsets.js'

/** What one table's commit of a flush did. */
export interface FlushCommit extends AppendResult {
  /**
   * The commit landed past another writer's commit to the table (of other partitions, or it would have failed with a
   * TxnConflictError): the caller reads their txns rather than jump over them.
   */
  jumped: boolean
}

/** Told of each commit a table makes and each race it loses (ingest's metrics). */
export interface CommitObserver {
  committed(table: string, commit: FlushCommit): void
  conflicted(table: string): void
}

/**
 * How far one table (events, dead letters, fraud alerts) holds a topic, as this writer last read or committed it,
 * and the commit that moves it: the flush-to-commit step every table of a flush shares. A commit is made against the
 * version read, so one that raced another writer over the same partitions fails with a TxnConflictError.
 */
export class TablePositions {
  /** Last offset written, per partition. */
  offsets = new Map<number, number>()
  /** The table version the offsets were read or committed at; -1 before the table exists. */
  version = -1
  observer: CommitObserver | undefined

  constructor(
    private readonly lake: string,
    private readonly topic: string,
    readonly spec: TableSpec,
  ) {}

  /** Reads the table's txns of the topic at its current version. */
  async read(engine: Engine): Promise<void> {
    const {offsets, version} = await lakeOffsets(tablePath(this.lake, this.spec.name), this.topic, engine)
    this.offsets = offsets
    this.version = version
  }

  /** The txns a flush that took up to `last` per partition commits: those that move the table's record forward. */
  moving(last: Map<number, number>): TxnAction[] {
    return movingTxns(this.topic, last, this.offsets)
  }

  /** Commits `adds` with `txns` against the version read, then records the new version and offsets. */
  async commit(
    engine: Engine,
    adds: AddAction[],
    txns: TxnAction[],
    commitInfo?: Record<string, unknown>,
  ): Promise<FlushCommit> {
    let committed: AppendResult
    try {
      committed = await commitAppend(this.lake, adds, txns, {
        engine,
        table: this.spec,
        readVersion: this.version,
        ...(commitInfo && {commitInfo}),
      })
    } catch (error) {
      if (error instanceof TxnConflictError) this.observer?.conflicted(this.spec.name)
      throw error
    }
    const jumped = committed.version !== this.version + 1
    this.version = committed.version
    advance(this.offsets, txns)
    const result = {...committed, jumped}
    this.observer?.committed(this.spec.name, result)
    return result
  }
}
