import type {Engine} from '../engine/engine.js'
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
export async function lakeOffsets(table: string, topic: string, engine?: Engine): Promise<LakeOffsets> {
  const offsets = new Map<number, number>()
  if (listCommitVersions(table).length === 0) return {offsets, version: -1, snapshot: undefined}
  const snapshot = await readSnapshot(table, {engine})
  const prefix = appId(topic, 0).slice(0, -1)
  for (const [id, version] of snapshot.txns) {
    if (id.startsWith(prefix)) offsets.set(Number(id.slice(prefix.length)), version)
  }
  return {offsets, version: snapshot.version, snapshot}
}
