import {BasicAuth, type QueryError, type QueryResult, Trino} from 'trino-client'
import {EcapError, ExitCode, toEcapError, UnavailableError, UsageError} from '../errors.js'
import type {TrinoSettings} from './settings.js'

/** A column of a result as Trino names and types it (`varchar`, `bigint`, `array(row(...))`, ...). */
export interface TrinoColumn {
  name: string
  type: string
}

/** What one query cost: what came back and how long the server took before the first row. */
export interface TrinoQueryStats {
  queryId: string
  rows: number
  /** UTF-8 size of the rows as JSON text in the server's pages (envelopes left out; the wire carries them gzipped). */
  bytes: number
  /** From sending the query to its first page of rows (or its end): the server's scan and aggregation. */
  querySeconds: number
  /** From the first page to the last, including what the page handler did with each. */
  transferSeconds: number
}

/** How often a query is sent while the cluster has no worker to run it (one second apart). */
const NO_NODES_ATTEMPTS = 30

/** How long an interrupted query waits for the server to take its cancel request. */
const CANCEL_WAIT_MS = 3000

/** The error names of a query that cannot find the events table: the table is not registered where ecap looks. */
const MISSING_NAMES = new Set(['TABLE_NOT_FOUND', 'SCHEMA_NOT_FOUND', 'CATALOG_NOT_FOUND', 'MISSING_CATALOG_NAME'])

/** Network failures on the way to the server: nothing answered, so retrying later may work (exit 4). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
])

/**
 * A session with one Trino server over its client REST protocol (the official `trino-client` package): queries run
 * as the user of TRINO_USER, rows arrive as JSON pages and go to a handler page by page, so a large extract never
 * sits in memory whole. An abort of `signal` cancels the running query on the server, not just the wait for it.
 */
export class TrinoClient {
  private readonly trino: Trino

  /** `source`: how the server's query list (system.runtime.queries) names the queries of this session. */
  constructor(
    readonly settings: TrinoSettings,
    private readonly signal?: AbortSignal,
    source = 'ecap',
  ) {
    this.trino = Trino.create({
      server: settings.url,
      source,
      catalog: settings.catalog,
      schema: settings.schema,
      auth: new BasicAuth(settings.user, settings.password),
      ssl: settings.tlsCa ? {ca: settings.tlsCa} : undefined,
    })
  }

  /**
   * Runs `sql` and hands each page of rows to `onPage` in order. Values come as Trino's JSON encodes them: BIGINT as
   * a number (exact only to 2^53), DECIMAL as a string, ROW as an array: callers that need exact values cast in SQL.
   */
  async query(
    sql: string,
    onPage: (rows: unknown[][], columns: TrinoColumn[]) => void | Promise<void> = () => {},
  ): Promise<TrinoQueryStats> {
    // A cluster whose workers have not joined yet (a restart, a node that just started) fails a query at scheduling,
    // before any row: sent again a moment later, it runs. Nothing reached onPage, so nothing is doubled.
    let delivered = false
    const handOn = (rows: unknown[][], columns: TrinoColumn[]) => {
      delivered = true
      return onPage(rows, columns)
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.queryOnce(sql, handOn)
      } catch (error) {
        const noNodes = trinoQueryErrorOf(error)?.errorName === 'NO_NODES_AVAILABLE'
        if (!noNodes || delivered || attempt >= NO_NODES_ATTEMPTS || this.signal?.aborted) throw error
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
  }

  private async queryOnce(
    sql: string,
    onPage: (rows: unknown[][], columns: TrinoColumn[]) => void | Promise<void>,
  ): Promise<TrinoQueryStats> {
    this.signal?.throwIfAborted()
    const started = performance.now()
    let firstPage: number | undefined
    let queryId: string | undefined
    let columns: TrinoColumn[] = []
    let rows = 0
    let bytes = 0
    let cancelled: Promise<unknown> | undefined
    const cancel = () => {
      // Best effort: the server ends the query when asked; a server already gone has nothing left to end.
      if (queryId && !cancelled) cancelled = this.trino.cancel(queryId).catch(() => {})
    }
    this.signal?.addEventListener('abort', cancel, {once: true})
    try {
      const pages = await this.trino.query(sql).catch((error: unknown) => {
        throw this.requestError(error)
      })
      queryId = postedQueryId(pages)
      // An abort while the query was being sent could not cancel anything yet.
      if (queryId && this.signal?.aborted) cancel()
      for (;;) {
        let next: IteratorResult<QueryResult>
        try {
          next = await pages.next()
        } catch (error) {
          throw this.requestError(error)
        }
        if (next.done) break
        const page = next.value
        if (!queryId && page.id) {
          queryId = page.id
          // An abort that came before the id was known could not cancel anything yet.
          if (this.signal?.aborted) cancel()
        }
        this.signal?.throwIfAborted()
        if (page.error) throw queryError(page.error, sql)
        if (page.columns) columns = page.columns
        if (page.data && page.data.length > 0) {
          firstPage ??= performance.now()
          rows += page.data.length
          bytes += Buffer.byteLength(JSON.stringify(page.data))
          await onPage(page.data, columns)
        }
      }
    } finally {
      this.signal?.removeEventListener('abort', cancel)
      // The process exits right after an interruption: the cancel request must have reached the server by then, or
      // the query runs on to its end there. A server that does not answer within a few seconds is let go.
      if (cancelled)
        await Promise.race([cancelled, new Promise((resolve) => setTimeout(resolve, CANCEL_WAIT_MS).unref())])
    }
    this.signal?.throwIfAborted()
    const ended = performance.now()
    const first = firstPage ?? ended
    return {
      queryId: queryId ?? '',
      rows,
      bytes,
      querySeconds: (first - started) / 1000,
      transferSeconds: (ended - first) / 1000,
    }
  }

  /** Runs a query whose result is small (metadata, a few aggregates) and returns its rows and columns. */
  async rows(sql: string): Promise<{rows: unknown[][]; columns: TrinoColumn[]}> {
    const all: unknown[][] = []
    let seen: TrinoColumn[] = []
    await this.query(sql, (rows, columns) => {
      all.push(...rows)
      seen = columns
    })
    return {rows: all, columns: seen}
  }

  /** What a failed HTTP request means: the server unreachable (exit 4), refused credentials (exit 2), or else. */
  private requestError(error: unknown): EcapError {
    // The reason of the abort (an InterruptedError for Ctrl-C), not the socket error the cancel caused.
    if (this.signal?.aborted) return toEcapError(this.signal.reason)
    const code = (error as {code?: string}).code ?? (error as {cause?: {code?: string}}).cause?.code
    const status = (error as {response?: {status?: number}}).response?.status
    const url = this.settings.url
    if (status === 401 || status === 403) {
      return new UsageError(
        'TRINO_AUTH_FAILED',
        `Trino at ${url} refused user ${this.settings.user} (HTTP ${status}).`,
        {
          cause: error,
          hints: ['export TRINO_USER=... TRINO_PASSWORD=...   # the credentials the server accepts'],
        },
      )
    }
    if ((code && UNREACHABLE_CODES.has(code)) || status === 502 || status === 503 || status === 504) {
      return new UnavailableError(
        'TRINO_UNREACHABLE',
        `Trino at ${url} does not answer (${code ?? `HTTP ${status}`}).`,
        {
          cause: error,
          hints: ['Check that the server runs and ECAP_TRINO_URL points at its coordinator.', 'ecap doctor'],
        },
      )
    }
    const message = (error as Error).message ?? String(error)
    return new EcapError('TRINO_REQUEST_FAILED', `A request to Trino at ${url} failed: ${message}`, {cause: error})
  }
}

/**
 * The error Trino reported for a failed query, from the EcapError the client threw (its cause), for a caller that
 * must tell one failure from another: a disabled procedure, a name already taken. Undefined for any other failure.
 */
export function trinoQueryErrorOf(error: unknown): QueryError | undefined {
  const cause = (error as {cause?: unknown} | undefined)?.cause as {error?: unknown; errorName?: unknown} | undefined
  const candidate = typeof cause?.errorName === 'string' ? cause : cause?.error
  return typeof (candidate as QueryError | undefined)?.errorName === 'string' ? (candidate as QueryError) : undefined
}

/**
 * The id in the server's answer to the query itself. trino-client hands out no page before one holds rows or the query
 * ends (it polls the empty ones itself), so an aggregation's id would otherwise come only once its whole scan is done,
 * too late for Ctrl-C to cancel it. The package (0.2.9) keeps that first answer on the iterator it wraps, outside its
 * types; undefined if a later version moves it, and then the id comes with the first page as before.
 */
function postedQueryId(pages: unknown): string | undefined {
  const id = (pages as {iter?: {queryResult?: {id?: unknown}}}).iter?.queryResult?.id
  return typeof id === 'string' && id !== '' ? id : undefined
}

/** A failed query as ecap's error: a missing table or schema is the user's to fix (exit 2), a busy server retriable. */
function queryError(error: QueryError, sql: string): EcapError {
  const message = `Trino: ${error.message}`
  if (MISSING_NAMES.has(error.errorName)) {
    return new UsageError('TRINO_TABLE_MISSING', message, {
      cause: error,
      hints: [
        "ecap lake register --engine trino   # registers the lake's events table with register_table",
        'ECAP_TRINO_CATALOG / ECAP_TRINO_SCHEMA / ECAP_TRINO_TABLE name a table already registered',
      ],
    })
  }
  if (error.errorName === 'PERMISSION_DENIED') {
    // Trino's access control said no: the user's grants are the server's setup, not a bug of ecap.
    return new UsageError('TRINO_PERMISSION_DENIED', message, {
      cause: error,
      hints: [
        'Have the Trino administrator grant TRINO_USER SELECT on the events table (and SHOW CREATE TABLE on it).',
      ],
    })
  }
  if (error.errorType === 'INSUFFICIENT_RESOURCES' || error.errorType === 'EXTERNAL') {
    return new UnavailableError('TRINO_QUERY_FAILED', message, {
      cause: error,
      hints: ['Retry when the cluster has room.'],
    })
  }
  // A query of ecap's own failed: a bug, or a gap between the dialects. ECAP_DEBUG=1 prints the stack of the cause,
  // so the SQL goes into its message: a plain object there would never be shown.
  const cause = Object.assign(new Error(`Trino ${error.errorName} (${error.errorType}) on:\n${sql}`), {error, sql})
  return new EcapError('TRINO_QUERY_FAILED', message, {
    exitCode: ExitCode.unexpected,
    cause,
    hints: ['Run again with ECAP_DEBUG=1 to see the query that failed.'],
  })
}
