import type {Engine} from '../engine/engine.js'
import type {TxnAction} from '../lake/actions.js'
import {listCommitVersions, readSnapshot, type Snapshot} from '../lake/delta-log.js'

/** The Delta `txn` application id that records how far a topic-partition has been written. */
export function appId(topic: string, partition: number): string {
  return `ecap:${topic}:${partition}`
}

export interface LakeOffsets {
  /** Last offset written, per partition of the topic. */
  offsets: Map<number, number>
  /** The table version they were read at; -1 when the table does not exist yet. */
  version: number
  snapshot: Snapshot | undefined
}

/** How far a table holds each partition of a topic, from the `txn` actions of its current snapshot. */
export async function lakeOffsets(table: string, topic: string, engine: Engine): Promise<LakeOffsets> {
  const offsets = new Map<number, number>()
  if ((await listCommitVersions(table)).length === 0) return {offsets, version: -1, snapshot: undefined}
  const snapshot = await readSnapshot(table, {engine})
  const prefix = appId(topic, 0).slice(0, -1)
  for (const [id, version] of snapshot.txns) {
    // Only `ecap:<topic>:<digits>`: an import's `ecap:import:<sha256>` is no partition of a topic named "import".
    const partition = id.startsWith(prefix) ? id.slice(prefix.length) : ''
    if (/^\d+$/.test(partition)) offsets.set(Number(partition), version)
  }
  return {offsets, version: snapshot.version, snapshot}
}

/**
 * The `txn` actions a commit to a table carries: the last offset of each partition the batch took, for the partitions
 * where that moves the table's record forward. A partition the table already holds further (another member wrote it
 * after a rebalance, or an earlier run before a crash) is left out, so a txn never moves backwards.
 */
export function movingTxns(topic: string, last: Map<number, number>, table: Map<number, number>): TxnAction[] {
  const txns: TxnAction[] = []
  for (const [partition, offset] of last) {
    if (offset > (table.get(partition) ?? -1)) txns.push({appId: appId(topic, partition), version: offset})
  }
  return txns
}

/** Records in `table` the offsets a commit carried (never lowering one). */
export function advance(table: Map<number, number>, txns: TxnAction[]): void {
  for (const t of txns) {
    const partition = Number(t.appId.slice(t.appId.lastIndexOf(':') + 1))
    table.set(partition, Math.max(table.get(partition) ?? -1, t.version))
  }
}
