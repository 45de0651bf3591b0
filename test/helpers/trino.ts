import {TrinoClient} from '../../src/lib/trino/client.js'
import {type LocalTrino, type LocalTrinoOptions, startLocalTrino} from '../../src/lib/trino/local-trino.js'

/**
 * A real Trino 476 (src/lib/trino/local-trino.ts) whose `delta` catalog reads local lakes and s3:// lakes on the
 * tests' S3 server (whose endpoint and credentials the global setup put into process.env). About 1 GB of memory: start
 * it in beforeAll of the test files that need it, not in the global setup, and stop it in afterAll. `extraCatalogs`:
 * more catalogs beside `delta`, differing from it in the properties given.
 */
export async function startTestTrino(options: Pick<LocalTrinoOptions, 'extraCatalogs'> = {}): Promise<LocalTrino> {
  const endpoint = process.env.AWS_ENDPOINT_URL
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY
  if (!endpoint || !accessKeyId || !secretAccessKey) {
    throw new Error('The S3 test server is not in process.env (AWS_ENDPOINT_URL…): test/global-setup.ts starts it.')
  }
  return startLocalTrino({
    s3: {endpoint, region: process.env.AWS_REGION ?? 'us-east-1', accessKeyId, secretAccessKey},
    onProgress: (message) => process.stderr.write(`[trino] ${message}\n`),
    ...options,
  })
}

/**
 * Runs one statement through ecap's own Trino client and returns its rows (arrays, in column order). Its client, not
 * a bare one: a Trino that just started may list its node as active and still fail the first scans with
 * NO_NODES_AVAILABLE, which ecap's client sends again a second later (src/lib/trino/client.ts). Its source is
 * `ecap-test`, so that the tests' own queries never match those they look for from ecap in system.runtime.queries.
 */
export async function trinoQuery(trino: LocalTrino, sql: string): Promise<unknown[][]> {
  const client = new TrinoClient(
    {
      url: trino.url,
      catalog: trino.catalog,
      schema: 'default',
      table: 'events',
      user: 'ecap',
    },
    undefined,
    'ecap-test',
  )
  const {rows} = await client.rows(sql)
  return rows
}

/**
 * Registers the Delta table at `tableLocation` (e.g. `local:///tmp/lake/events` or `s3://bucket/lake/events`) as
 * `delta.<schema>.events`, creating the schema when missing.
 */
export async function registerEvents(trino: LocalTrino, schema: string, tableLocation: string): Promise<void> {
  // Identifiers and locations here come from the tests themselves; quoting still keeps an odd temp path legal.
  await trinoQuery(trino, `CREATE SCHEMA IF NOT EXISTS ${trino.catalog}.${quoteIdentifier(schema)}`)
  await trinoQuery(
    trino,
    `CALL ${trino.catalog}.system.register_table(schema_name => ${quoteLiteral(schema)}, table_name => 'events', table_location => ${quoteLiteral(tableLocation)})`,
  )
}

/** `local:///abs/path` for a local folder: Trino's native local file system (local.location=/). */
export function localLocation(path: string): string {
  return `local://${path}`
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}
