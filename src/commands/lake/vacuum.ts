import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {EVENTS_TABLE, tablePath} from '../../lib/lake/lake.js'
import {type VacuumResult, vacuumTable} from '../../lib/lake/vacuum.js'
import {duration, lakeFlag} from '../../shared-flags.js'

export default class LakeVacuum extends EcapCommand<VacuumResult> {
  static override summary = 'Delete data files that no snapshot within the retention period references.'

  static override description =
    'Removes files dropped by compaction longer ago than --retain, and files no commit references (left by a crashed writer) once older than --retain. A retention under 1 hour needs --yes.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> --dry-run',
    '<%= config.bin %> <%= command.id %> --retain 24h',
    '<%= config.bin %> <%= command.id %> --retain 0 --yes',
  ]

  static override flags = {
    lake: lakeFlag,
    table: Flags.string({default: EVENTS_TABLE, description: 'Table to vacuum, relative to the lake.'}),
    retain: duration({
      default: '7d',
      description: 'Keep files needed by snapshots this recent (e.g. 7d, 24h, 30m).',
      tryValues: ['7d', '24h'],
    }),
    'dry-run': Flags.boolean({description: 'List what would be deleted, delete nothing.'}),
    yes: Flags.boolean({char: 'y', description: 'Allow a retention under 1 hour.'}),
  }

  public async run(): Promise<VacuumResult> {
    const {flags} = await this.parse(LakeVacuum)
    const table = tablePath(this.resolveConfig({lake: flags.lake}).lake.value, flags.table)
    const result = await this.withEngine((engine) =>
      vacuumTable(
        table,
        {retainMs: flags.retain, dryRun: flags['dry-run'], force: flags.yes, signal: this.signal},
        engine,
      ),
    )
    if (!this.jsonEnabled()) {
      for (const file of result.files) this.out(file)
      this.note(
        `${result.dryRun ? 'Would delete' : 'Deleted'} ${result.files.length} files (${(result.bytes / 2 ** 20).toFixed(1)} MiB).`,
      )
    }
    return result
  }
}
