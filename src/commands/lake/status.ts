import Table from 'cli-table3'
import {EcapCommand} from '../../ecap-command.js'
import {type LakeStatus, lakeStatus} from '../../lib/lake/status.js'
import {lakeFlag} from '../../shared-flags.js'

export default class LakeStatusCommand extends EcapCommand<LakeStatus> {
  static override summary = 'Show the tables of the lake: version, files, rows, bytes, partitions, small files.'

  static override description =
    "Reads each Delta table's log (no data file is opened). Small files are those under 8 MiB: candidates for compaction."

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake /data/lake --json',
  ]

  static override flags = {
    lake: lakeFlag,
  }

  public async run(): Promise<LakeStatus> {
    const {flags} = await this.parse(LakeStatusCommand)
    const lake = this.resolveConfig({lake: flags.lake}).lake.value
    const status = await this.withEngine((engine) => lakeStatus(engine, lake))
    if (!this.jsonEnabled()) {
      this.out(`Lake ${status.lake}`)
      if (status.tables.length === 0) {
        this.out('No tables yet. Create one with: ecap generate --to lake')
        return status
      }
      const table = new Table({
        head: ['table', 'version', 'files', 'rows', 'size', 'partitions', 'small files', 'last commit'],
        style: this.colorEnabled() ? undefined : {head: [], border: []},
      })
      const n = (x: number) => x.toLocaleString('en-US')
      for (const t of status.tables) {
        table.push([
          t.name,
          t.version,
          n(t.files),
          n(t.rows),
          `${(t.bytes / 2 ** 20).toFixed(1)} MiB`,
          n(t.partitions),
          n(t.smallFiles),
          t.lastCommit ?? '-',
        ])
      }
      this.out(table.toString())
    }
    return status
  }
}
