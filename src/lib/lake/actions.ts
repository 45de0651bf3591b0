/**
 * The actions of a Delta log (delta-io/delta PROTOCOL.md, "Actions"): one JSON object per line of a commit, one row of
 * a checkpoint.
 * Only the fields ecap writes or reads.
 */

export interface ProtocolAction {
  minReaderVersion: number
  minWriterVersion: number
  /** Table features (reader version 3, writer version 7): ecap writes none and writes to no table that has any. */
  readerFeatures?: string[]
  writerFeatures?: string[]
}

export interface MetadataAction {
  id: string
  name?: string
  format: {provider: 'parquet'; options: Record<string, string>}
  schemaString: string
  partitionColumns: string[]
  configuration: Record<string, string>
  createdTime: number
}

export interface AddAction {
  /** Relative to the table root, URI-encoded. */
  path: string
  partitionValues: Record<string, string | null>
  size: number
  modificationTime: number
  dataChange: boolean
  /** JSON: numRecords, minValues, maxValues, nullCount. */
  stats?: string
}

export interface RemoveAction {
  path: string
  deletionTimestamp: number
  dataChange: boolean
  extendedFileMetadata?: boolean
  partitionValues?: Record<string, string | null>
  size?: number
}

export interface TxnAction {
  appId: string
  version: number
  lastUpdated?: number
}

export interface CommitInfoAction {
  timestamp: number
  operation: string
  operationParameters?: Record<string, string>
  engineInfo?: string
  isBlindAppend?: boolean
  [key: string]: unknown
}

export type Action =
  | {protocol: ProtocolAction}
  | {metaData: MetadataAction}
  | {add: AddAction}
  | {remove: RemoveAction}
  | {txn: TxnAction}
  | {commitInfo: CommitInfoAction}
