import {Flags} from '@oclif/core'
import {EcapCommand} from '../../ecap-command.js'
import {type CompactResult, compactTable} from '../../lib/lake/compact.js'
import {EVENTS_TABLE, tablePath} from '../../lib/lake/lake.js'
import {lakeFlag} from '../../shared-flags.js'

export default class LakeCompact extends EcapCommand<CompactResult> {
  static override summary = 'Rewrite the small files of each partition into one larger file.'

  static override description =
    'Commits the rewrite as remove + add with dataChange false, so no reader sees new data. Safe while another process appends; the old files stay until `ecap lake vacuum` removes them after the retention period.'

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --lake /data/lake --json',
  ]

  static override flags = {
    lake: lakeFlag,
    table: Flags.string({default: EVENTS_TABLE, description: 'Table to compact, relative to the lake.'}),
    'min-files': Flags.integer({
      default: 2,
      min: 2,
      description: 'Compact a partition only with at least this many small files.',
    }),
  }

  public async run(): Promise<CompactResult> {
    const {flags} = await this.parse(LakeCompact)
    const table = tablePath(this.resolveConfig({lake: flags.lake}).lake.value, flags.table)
    const progress = this.progress()
    progress.start(`Compacting ${table}`)
    const result = await this.withEngine((engine) =>
      compactTable(engine, table, {minFiles: flags['min-files'], signal: this.signal}),
    )
    progress.stop()
    // The compaction landed: a failed checkpoint after it only makes reads slower until the next one.
    if (result.checkpointError) this.warn(`The compaction landed, but its checkpoint failed: ${result.checkpointError}`)
    if (!this.jsonEnabled()) {
      this.out(
        result.version === null
          ? 'Nothing to compact.'
          : `Version ${result.version}: ${result.filesRemoved} files in ${result.partitionsCompacted} partitions rewritten as ${result.filesAdded} (${(result.bytesBefore / 2 ** 20).toFixed(1)} MiB -> ${(result.bytesAfter / 2 ** 20).toFixed(1)} MiB).`,
      )
    }
    return result
  }
}
