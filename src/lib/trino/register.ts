import type {Engine} from '../engine/engine.js'
import {EcapError, UsageError} from '../errors.js'
import {readSnapshot} from '../lake/delta-log.js'
import {EVENTS_TABLE, tablePath} from '../lake/lake.js'
import {type TrinoClient, trinoQueryErrorOf} from './client.js'
import {trinoIdentifier, trinoString} from './settings.js'
import {
  catalogConnector,
  registeredLocation,
  sameLocation,
  tableElsewhereError,
  trinoLocationOf,
} from './table-location.js'

/** What `ecap lake register --engine trino` did. */
export interface RegisterEventsResult {
  engine: 'trino'
  /** catalog.schema.table, the name the analyses read (ECAP_TRINO_CATALOG, _SCHEMA, _TABLE). */
  table: string
  /** The location Trino reads the events table from. */
  location: string
  lake: string
  /** The events table's version now; Trino sees later commits without registering again. */
  eventsVersion: number
  /** False when the name already read this lake and nothing changed. */
  registered: boolean
}

/**
 * Makes the lake's events table known to Trino as catalog.schema.table of the client's settings: the schema is
 * created when missing, then the Delta Lake connector's `register_table` procedure records the table's location in
 * the catalog's metastore (no data is copied or rewritten). Idempotent: a name that already reads this lake is left
 * as it is; a name taken by another location fails (exit 2), since re-pointing it would change what others read.
 */
export async function registerEventsTable(
  client: TrinoClient,
  engine: Engine,
  lake: string,
): Promise<RegisterEventsResult> {
  const eventsPath = tablePath(lake, EVENTS_TABLE)
  // Trino refuses a location without a Delta log, in words about its own file system; say it in the lake's terms first.
  const snapshot = await readSnapshot(eventsPath, {engine})
  const {catalog, schema, table} = client.settings
  const result: RegisterEventsResult = {
    engine: 'trino',
    table: `${catalog}.${schema}.${table}`,
    location: trinoLocationOf(eventsPath),
    lake,
    eventsVersion: snapshot.version,
    registered: false,
  }
  await catalogConnector(client)
  const existing = await locationIfRegistered(client)
  if (existing !== undefined) {
    if (sameLocation(existing, eventsPath)) return {...result, location: existing}
    throw tableElsewhereError(client, existing, eventsPath)
  }
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${trinoIdentifier(catalog)}.${trinoIdentifier(schema)}`)
    await client.query(
      `CALL ${trinoIdentifier(catalog)}.system.register_table(schema_name => ${trinoString(schema)}, table_name => ${trinoString(table)}, table_location => ${trinoString(result.location)})`,
    )
  } catch (error) {
    const trino = trinoQueryErrorOf(error)
    if (trino?.errorName === 'ALREADY_EXISTS') {
      // Another process registered the name between the look and the call: judge what it registered.
      const location = await registeredLocation(client)
      if (sameLocation(location, eventsPath)) return {...result, location}
      throw tableElsewhereError(client, location, eventsPath)
    }
    throw registerError(client, error, result.location)
  }
  // What Trino recorded, as every analysis will read it back (its own spelling of the location, if it has one).
  return {...result, location: await registeredLocation(client), registered: true}
}

/** The location the name reads, or undefined when the schema or the table does not exist (yet). */
async function locationIfRegistered(client: TrinoClient): Promise<string | undefined> {
  try {
    return await registeredLocation(client)
  } catch (error) {
    if (error instanceof EcapError && error.code === 'TRINO_TABLE_MISSING') return undefined
    throw error
  }
}

/** What a failed CREATE SCHEMA or register_table means for the person who asked: most are the server's setup (exit 2). */
function registerError(client: TrinoClient, error: unknown, location: string): unknown {
  const trino = trinoQueryErrorOf(error)
  if (!trino) return error
  const {catalog, url} = client.settings
  const properties = `etc/catalog/${catalog}.properties`
  if (trino.errorName === 'PERMISSION_DENIED' && /register_table procedure is disabled/i.test(trino.message)) {
    return new UsageError('TRINO_REGISTER_DISABLED', `Trino's catalog ${catalog} does not allow register_table.`, {
      cause: error,
      hints: [
        `delta.register-table-procedure.enabled=true in ${properties} on every Trino node, then restart Trino`,
        'Or have an administrator register it, and name that table: ECAP_TRINO_SCHEMA / ECAP_TRINO_TABLE',
      ],
    })
  }
  if (trino.errorName === 'PROCEDURE_NOT_FOUND' || trino.errorName === 'NOT_SUPPORTED') {
    return new UsageError('TRINO_CATALOG_NOT_DELTA', `Trino's catalog ${catalog} is not a Delta Lake catalog.`, {
      cause: error,
      hints: [
        `connector.name=delta_lake in ${properties} (docs/trino.md)`,
        'ECAP_TRINO_CATALOG=<a catalog of the delta_lake connector>',
      ],
    })
  }
  if (/No transaction log found/i.test(trino.message)) {
    return new UsageError('TRINO_LAKE_NOT_VISIBLE', `Trino at ${url} finds no Delta log at ${location}.`, {
      cause: error,
      hints: [
        "A local lake must be on the Trino servers' own disk (fs.native-local.enabled=true, local.location=/), or put the lake in S3: --lake s3://bucket/prefix",
      ],
    })
  }
  if (trino.errorType === 'USER_ERROR') {
    return new UsageError('TRINO_REGISTER_FAILED', `Trino could not register ${location}: ${trino.message}`, {
      cause: error,
      hints: ['See docs/trino.md for the catalog settings register_table needs.'],
    })
  }
  return error
}
