import {EcapError} from './errors.js'

/**
 * Failpoints: named places in ecap's write paths where a test can make the process die or a call fail, to prove that
 * no crash at any instant loses or duplicates data (the way FoundationDB's simulation and TiKV's `fail` points do).
 *
 * Armed by the environment variable `ECAP_FAILPOINTS`, a comma-separated list of `name=action`:
 * - `crash`: the process dies at once, as a power cut or `kill -9` would (no `finally`, no flush, exit code 137);
 * - `error`: the call fails with an `EcapError` (code `FAILPOINT`, exit 1), as a full disk or a lost mount would;
 * - either may be followed by `@N` to fire on the N-th time the point is reached (1-based), e.g. `lake.commit.before=crash@3`.
 *
 * Unarmed, a failpoint costs one Map lookup. Every point is listed in FAILPOINTS, so a sweep test can arm each in turn
 * and a typo in a test's name is an error rather than a point that never fires.
 */
export const FAILPOINTS = [
  // The Delta log (src/lib/lake/delta-log.ts): every commit of every table and writer.
  'lake.commit.before',
  'lake.commit.after',
  // Data files written and fsynced, not yet named by any commit.
  'lake.datafiles.after',
  // Checkpoints: the Parquet file renamed in place, and `_last_checkpoint` not yet pointing at it.
  'lake.checkpoint.write',
  'lake.checkpoint.pointer',
  // Compaction: new files written, not yet committed.
  'lake.compact.before-commit',
  // Ingest: between the tables of one flush, and before the Kafka offset commit.
  'ingest.dead-letters.after-commit',
  'ingest.events.after-commit',
  'ingest.kafka-commit.before',
  // Live fraud scoring: alerts committed to the lake, not yet produced to Kafka.
  'ingest.alerts.produce.before',
  // Import: files written, before the commit.
  'import.commit.before',
  // Export to PostgreSQL: the first chunk sent, the COPY still open (test/export-postgres.test.ts arms it).
  'export.postgres.copy',
] as const

export type FailpointName = (typeof FAILPOINTS)[number]

interface Armed {
  action: 'crash' | 'error'
  /** Fire on this hit (1-based). */
  at: number
  hits: number
}

let armed: Map<string, Armed> | undefined

function parse(spec: string | undefined): Map<string, Armed> {
  const result = new Map<string, Armed>()
  for (const part of (spec ?? '').split(',')) {
    const entry = part.trim()
    if (entry === '') continue
    const match = /^([\w.-]+)=(crash|error)(?:@(\d+))?$/.exec(entry)
    if (!match) throw new Error(`ECAP_FAILPOINTS: "${entry}" is not name=crash|error[@N]`)
    const name = match[1] as string
    if (!(FAILPOINTS as readonly string[]).includes(name)) {
      throw new Error(`ECAP_FAILPOINTS: unknown failpoint "${name}" (known: ${FAILPOINTS.join(', ')})`)
    }
    result.set(name, {action: match[2] as Armed['action'], at: Number(match[3] ?? 1), hits: 0})
  }
  return result
}

/** Passes unless a test armed this point through ECAP_FAILPOINTS; then dies or throws there. */
export function failpoint(name: FailpointName): void {
  armed ??= parse(process.env.ECAP_FAILPOINTS)
  if (armed.size === 0) return
  const point = armed.get(name)
  if (point === undefined) return
  point.hits++
  if (point.hits !== point.at) return
  if (point.action === 'crash') {
    process.stderr.write(`ecap: failpoint ${name} crashed the process\n`)
    // SIGKILL: nothing of ours runs after this line, as after a power cut.
    process.kill(process.pid, 'SIGKILL')
  }
  throw new EcapError('FAILPOINT', `Failpoint ${name} failed this call.`)
}

/** Re-reads ECAP_FAILPOINTS (for unit tests that arm points in-process). */
export function resetFailpoints(): void {
  armed = undefined
}
