import type {S3Client} from '@aws-sdk/client-s3'
import type {Engine} from '../engine/engine.js'
import {relativeLocation, s3Parts} from './location.js'
import {
  isNotFound,
  isPreconditionFailed,
  loadS3Sdk,
  type S3Sdk,
  type S3Settings,
  s3Client,
  s3Failure,
  s3Settings,
} from './s3-client.js'
import {attachS3} from './s3-engine.js'
import type {LakeStorage, ListedEntry, StoredFile} from './storage.js'

/** Above this size `replace` uploads in parts (a checkpoint of a large table), in parallel and resumable per part. */
const MULTIPART_BYTES = 16 * 1024 * 1024

/** Buckets already checked by this process: `prepare` asks the store once, for a clear error before any write. */
const checkedBuckets = new Set<string>()

/**
 * A table in S3 or an S3-compatible store. Put-if-absent is a conditional PutObject (`If-None-Match: *`): the store
 * creates the key only if no object has it, which is how two writers on two hosts race for a table version and exactly
 * one wins. An object is whole and durable once its PUT returns (or its multipart upload completes), so there is no
 * temp file, rename or fsync: `prepare` and `persist` only check the bucket.
 *
 * A conditional PUT whose outcome is unknown (a timeout, a connection cut after the request went out, a 412 on the
 * SDK's retry of a request that had in fact landed) is settled by reading the key back: every commit ecap writes
 * carries a transaction id of its own in `commitInfo`, so equal bytes mean the commit is ours, other bytes mean
 * another writer's.
 */
export class S3Storage implements LakeStorage {
  private readonly bucket: string
  private readonly prefix: string
  private readonly settings: S3Settings
  private connection: Promise<{client: S3Client; sdk: S3Sdk}> | undefined

  constructor(readonly root: string) {
    const {bucket, prefix} = s3Parts(root)
    this.bucket = bucket
    this.prefix = prefix
    this.settings = s3Settings()
  }

  /** The SDK and the process's client, loaded on first use. */
  private connect(): Promise<{client: S3Client; sdk: S3Sdk}> {
    this.connection ??= Promise.all([s3Client(this.settings), loadS3Sdk()]).then(([client, sdk]) => ({client, sdk}))
    return this.connection
  }

  locate(path: string): string {
    return path === '' ? this.root : `${this.root}/${path}`
  }

  pathOf(located: string): string {
    const path = relativeLocation(this.root, located)
    if (path === undefined) throw new Error(`${located} is not under ${this.root}`)
    return path
  }

  async attach(engine: Engine): Promise<void> {
    await attachS3(engine, this.bucket, this.settings, (await this.connect()).client)
  }

  async readText(path: string): Promise<string | undefined> {
    const bytes = await this.readBytes(path)
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes)
  }

  async readBytes(path: string): Promise<Uint8Array | undefined> {
    const {client, sdk} = await this.connect()
    try {
      const object = await client.send(new sdk.GetObjectCommand({Bucket: this.bucket, Key: this.key(path)}))
      return await (object.Body as {transformToByteArray(): Promise<Uint8Array>}).transformToByteArray()
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw s3Failure(error, 'read', this.locate(path))
    }
  }

  async stat(path: string): Promise<StoredFile | undefined> {
    const {client, sdk} = await this.connect()
    try {
      const head = await client.send(new sdk.HeadObjectCommand({Bucket: this.bucket, Key: this.key(path)}))
      return {size: Number(head.ContentLength ?? 0), modificationTime: head.LastModified?.getTime() ?? 0}
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw s3Failure(error, 'read', this.locate(path))
    }
  }

  async list(dir: string): Promise<ListedEntry[]> {
    const {client, sdk} = await this.connect()
    const key = this.key(dir)
    const prefix = key === '' ? '' : `${key}/`
    const entries: ListedEntry[] = []
    let token: string | undefined
    try {
      do {
        const page = await client.send(
          new sdk.ListObjectsV2Command({Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token}),
        )
        for (const object of page.Contents ?? []) {
          const name = (object.Key ?? '').slice(prefix.length)
          // A zero-byte "folder marker" some tools create names the folder itself, not an entry in it.
          if (name !== '') entries.push({name, folder: false})
        }
        for (const common of page.CommonPrefixes ?? []) {
          const name = (common.Prefix ?? '').slice(prefix.length, -1)
          if (name !== '') entries.push({name, folder: true})
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } catch (error) {
      throw s3Failure(error, 'list', this.locate(dir))
    }
    return entries
  }

  async putIfAbsent(path: string, data: Uint8Array, options: {onLanded?: () => void} = {}): Promise<boolean> {
    const {client, sdk} = await this.connect()
    const Key = this.key(path)
    try {
      await client.send(new sdk.PutObjectCommand({Bucket: this.bucket, Key, Body: data, IfNoneMatch: '*'}))
    } catch (error) {
      // Taken, or unknown: the object under the name (if any) says whose it is.
      const settled = await this.settle(path, data, error)
      if (settled) options.onLanded?.()
      return settled
    }
    options.onLanded?.()
    return true
  }

  /**
   * Whether the conditional write of `data` to `path` that failed with `error` in fact landed: it did if the object
   * now there holds exactly `data` (a commit's bytes include its own transaction id, so no other writer's can be
   * equal). A name taken by other bytes is a lost race (false); no object at all after an unclear failure means the
   * write did not land, and the failure is the caller's.
   */
  private async settle(path: string, data: Uint8Array, error: unknown): Promise<boolean> {
    const taken = isPreconditionFailed(error)
    let existing: Uint8Array | undefined
    try {
      existing = await this.readBytes(path)
    } catch {
      throw s3Failure(error, 'write', this.locate(path))
    }
    if (existing !== undefined) return equalBytes(existing, data)
    if (taken) return false
    throw s3Failure(error, 'write', this.locate(path))
  }

  async replace(path: string, data: Uint8Array): Promise<void> {
    const {client, sdk} = await this.connect()
    const params = {Bucket: this.bucket, Key: this.key(path), Body: data}
    try {
      if (data.length < MULTIPART_BYTES) await client.send(new sdk.PutObjectCommand(params))
      else {
        const {Upload} = await import('@aws-sdk/lib-storage')
        await new Upload({client, params, partSize: MULTIPART_BYTES, queueSize: 4}).done()
      }
    } catch (error) {
      throw s3Failure(error, 'write', this.locate(path))
    }
  }

  async delete(path: string): Promise<void> {
    const {client, sdk} = await this.connect()
    try {
      await client.send(new sdk.DeleteObjectCommand({Bucket: this.bucket, Key: this.key(path)}))
    } catch (error) {
      if (isNotFound(error)) return
      throw s3Failure(error, 'delete', this.locate(path))
    }
  }

  /** An object store has no folders to make: only the bucket must exist (checked once, for a clear error). */
  async prepare(): Promise<void> {
    if (checkedBuckets.has(this.bucket)) return
    const {client, sdk} = await this.connect()
    try {
      await client.send(new sdk.HeadBucketCommand({Bucket: this.bucket}))
    } catch (error) {
      throw s3Failure(error, 'check the bucket of', this.root)
    }
    checkedBuckets.add(this.bucket)
  }

  /** DuckDB's COPY to S3 completes each object's upload before it returns: the object is durable already. */
  async persist(): Promise<void> {}

  private key(path: string): string {
    return [this.prefix, path].filter((p) => p !== '').join('/')
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}
