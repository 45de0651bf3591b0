// A writer that dies between writing its data files and committing them: writes Parquet files into the table
// folder, reports their paths on stdout, then kills itself with SIGKILL before any commit.
import {Engine} from '../../dist/lib/engine/engine.js'
import {writeEventFiles} from '../../dist/lib/lake/parquet-files.js'

const [table, ndjson] = process.argv.slice(2)
const engine = await Engine.open()
const adds = await writeEventFiles(engine, ndjson, table)
process.stdout.write(`${JSON.stringify(adds.map((a) => a.path))}\n`, () => process.kill(process.pid, 'SIGKILL'))
