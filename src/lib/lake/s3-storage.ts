import type {S3Client} from '@aws-sdk/client-s3'
import type {Engine} from '../engine/engine.js'
import {relativeLocation, s3Parts} from './location.js'
import {
  isNotFound,
  isUnclearWrite,
  isUnconnected,
  loadS3Sdk,
  S3CommitUnknownError,
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

/** Tries of a conditional PUT whose outcome stays unknown, with doubling waits from SETTLE_BACKOFF_MS (about 10 s). */
const SETTLE_ATTEMPTS = 6
const SETTLE_BACKOFF_MS = 300

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

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

  /**
   * A conditional PUT, tried again with the same bytes while its outcome is unknown. Retrying is safe because the
   * bytes are this writer's alone (a commit carries its own txnId): a retry can only land them once, or find them
   * landed already (412 and equal bytes), or find another writer's (a lost race). The outcome is unknown after a
   * failure that says nothing (a timeout, a cut connection, a 5xx or throttling, even on the read-back), after a 409
   * (another conditional write to the key is in flight: perhaps this writer's own earlier attempt, still on its way),
   * and after a 412 with nothing readable under the name (a store that is not read-after-write consistent).
   *
   * If it stays unknown, `onLanded` is called before the error is thrown: the commit may be in the table, so whatever
   * it names must not be deleted (unreferenced files are vacuum's to remove, a missing referenced one is a broken
   * table).
   */
  async putIfAbsent(path: string, data: Uint8Array, options: {onLanded?: () => void} = {}): Promise<boolean> {
    const {client, sdk} = await this.connect()
    const Key = this.key(path)
    let lastError: unknown
    // Whether any try may have reached the store; tries that could not even connect cannot have landed.
    let reached = false
    for (let attempt = 0; attempt < SETTLE_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(Math.min(SETTLE_BACKOFF_MS * 2 ** (attempt - 1), 5_000))
      try {
        await client.send(new sdk.PutObjectCommand({Bucket: this.bucket, Key, Body: data, IfNoneMatch: '*'}))
        options.onLanded?.()
        return true
      } catch (error) {
        lastError = error
        // A refusal that is about us (credentials, a missing bucket, a bad request) is no race and no lost answer;
        // but an earlier try with no clear answer may still have landed.
        if (!isUnclearWrite(error)) {
          if (!reached) throw s3Failure(error, 'write', this.locate(path))
          options.onLanded?.()
          throw new S3CommitUnknownError(this.locate(path), error)
        }
        if (!isUnconnected(error)) reached = true
      }
      const existing = await this.readBytes(path).catch(() => undefined)
      if (existing !== undefined) {
        const ours = equalBytes(existing, data)
        if (ours) options.onLanded?.()
        return ours
      }
    }
    if (!reached) throw s3Failure(lastError, 'write', this.locate(path))
    options.onLanded?.()
    throw new S3CommitUnknownError(this.locate(path), lastError)
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
    const checked = `${this.settings.endpoint?.href ?? 'aws'} ${this.bucket}`
    if (checkedBuckets.has(checked)) return
    const {client, sdk} = await this.connect()
    try {
      await client.send(new sdk.HeadBucketCommand({Bucket: this.bucket}))
    } catch (error) {
      throw s3Failure(error, 'check the bucket of', this.root)
    }
    checkedBuckets.add(checked)
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
