import {UsageError} from '../errors.js'
import type {TrinoClient} from './client.js'
import {eventsTableName, trinoString} from './settings.js'

/**
 * Where Trino's events table (catalog.schema.table of the client's settings) reads its Delta log, from SHOW CREATE
 * TABLE: the one place Trino tells a table's location. A table that is not registered fails with TRINO_TABLE_MISSING
 * (the client's mapping); one without a location is not a Delta Lake table.
 */
export async function registeredLocation(client: TrinoClient): Promise<string> {
  const table = eventsTableName(client.settings)
  const {rows} = await client.rows(`SHOW CREATE TABLE ${table}`)
  const ddl = String(rows[0]?.[0] ?? '')
  const location = /location = '((?:[^']|'')*)'/.exec(ddl)?.[1]?.replaceAll("''", "'")
  if (location === undefined) {
    throw new UsageError('TRINO_TABLE_NOT_DELTA', `Trino's ${table} has no location: it is not a Delta Lake table.`, {
      hints: ['ECAP_TRINO_CATALOG names a catalog of the delta_lake connector', 'ecap lake register --engine trino'],
    })
  }
  return location
}

/**
 * Fails unless the table Trino reads is the lake's events table: a name registered over another lake (a copy, last
 * month's) would answer every query from the wrong data, and the versions ecap pins would mean nothing there.
 */
export async function assertSameTable(client: TrinoClient, eventsPath: string): Promise<string> {
  const location = await registeredLocation(client)
  if (sameLocation(location, eventsPath)) return location
  throw tableElsewhereError(client, location, eventsPath)
}

/** The name is taken by a table over another location: register under another name, or free the name by hand. */
export function tableElsewhereError(client: TrinoClient, location: string, eventsPath: string): UsageError {
  const {catalog, schema, table} = client.settings
  return new UsageError(
    'TRINO_TABLE_ELSEWHERE',
    `Trino's ${catalog}.${schema}.${table} reads ${location}, not this lake's ${eventsPath}.`,
    {
      hints: [
        `ecap lake register --engine trino --trino-table ${table}_2   # register this lake under another name, then ECAP_TRINO_TABLE=${table}_2`,
        `CALL ${catalog}.system.unregister_table(schema_name => ${trinoString(schema)}, table_name => ${trinoString(table)})   # in Trino, if the old registration is stale (its files stay)`,
        'ECAP_TRINO_TABLE / ECAP_TRINO_SCHEMA name the table registered over this lake',
      ],
    },
  )
}

/**
 * Whether Trino's location and ecap's are one place: Trino writes a local folder as local:///path or file:///path,
 * and S3 as s3://, s3a:// or s3n://.
 */
export function sameLocation(trinoLocation: string, ecapLocation: string): boolean {
  const normal = (text: string) =>
    text
      .replace(/^(local|file):\/\//, '')
      .replace(/^s3[an]:\/\//, 's3://')
      .replace(/\/+$/, '')
  return normal(trinoLocation) === normal(ecapLocation)
}

/** The location Trino should register for the lake's events table: local folders through the native local file system. */
export function trinoLocationOf(eventsPath: string): string {
  return eventsPath.startsWith('s3://') ? eventsPath : `local://${eventsPath}`
}

/**
 * The connector of the settings' catalog (`delta_lake` for a Delta Lake catalog), asked of the server's own list:
 * a catalog that is not there is a server-side file to add, not a table to register.
 */
export async function catalogConnector(client: TrinoClient): Promise<string> {
  const {url, catalog} = client.settings
  // Trino folds catalog names to lower case.
  const {rows} = await client.rows(
    `SELECT catalog_name, connector_name FROM system.metadata.catalogs ORDER BY catalog_name`,
  )
  const found = rows.find((row) => row[0] === catalog.toLowerCase())
  if (found) return String(found[1])
  const names = rows.map((row) => String(row[0])).filter((name) => name !== 'system')
  throw new UsageError(
    'TRINO_CATALOG_MISSING',
    `Trino at ${url} has no catalog ${catalog} (it has: ${names.join(', ') || 'none but system'}).`,
    {
      hints: [
        `Add etc/catalog/${catalog}.properties with connector.name=delta_lake on the server and restart it (docs/trino.md).`,
        ...names.map((name) => `ECAP_TRINO_CATALOG=${name}`),
      ],
    },
  )
}
