import {EcapCommand} from '../../ecap-command.js'
import {UsageError} from '../../lib/errors.js'
import {extractEngineOf} from '../../lib/extract/open-source.js'
import {TrinoClient} from '../../lib/trino/client.js'
import {type RegisterEventsResult, registerEventsTable} from '../../lib/trino/register.js'
import {trinoSettingsFromConfig} from '../../lib/trino/settings.js'
import {engineFlag, lakeFlag, trinoTableFlag} from '../../shared-flags.js'

export default class LakeRegister extends EcapCommand<RegisterEventsResult> {
  static override summary = "Register the lake's events table with Trino, so `ecap analyze --engine trino` can read it."

  static override description =
    `Creates the schema (ECAP_TRINO_SCHEMA, default ecap) when missing, then calls the Delta Lake connector's register_table procedure for <lake>/events under ECAP_TRINO_CATALOG.ECAP_TRINO_SCHEMA.ECAP_TRINO_TABLE (default delta.ecap.events). Nothing is copied: Trino reads the table where it lies and sees later commits at once. The catalog must allow it (delta.register-table-procedure.enabled=true); docs/trino.md shows the catalog file, and how to register by hand with a Glue or Hive metastore.

Safe to run again: a name that already reads this lake is left as it is (exit 0). A name that reads another location is not re-pointed (exit 2): register under another --trino-table, or unregister the old one in Trino.

Exit codes: 0 registered, or already registered here; 2 bad settings, the name taken by another location, the catalog missing or not allowing register_table, the lake not visible to Trino; 3 the lake has no events table; 4 Trino unreachable; 130 interrupted (the running query is cancelled).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --engine trino',
    '<%= config.bin %> <%= command.id %> --engine trino --lake s3://shop-lake/prod --trino-table events_prod',
    '<%= config.bin %> <%= command.id %> --engine trino --json',
  ]

  static override flags = {
    lake: lakeFlag,
    engine: engineFlag,
    'trino-table': trinoTableFlag,
  }

  public async run(): Promise<RegisterEventsResult> {
    const {flags} = await this.parse(LakeRegister)
    const config = this.resolveConfig({lake: flags.lake, engine: flags.engine, 'trino-table': flags['trino-table']})
    if (extractEngineOf(config) !== 'trino') {
      throw new UsageError(
        'REGISTER_ENGINE_NEEDED',
        'Only Trino needs the table registered: DuckDB reads the lake where it lies.',
        {hints: ['ecap lake register --engine trino', 'ECAP_ENGINE=trino']},
      )
    }
    const client = new TrinoClient(trinoSettingsFromConfig(config), this.signal)
    const lake = config.lake.value
    const result = await this.withEngine((engine) => registerEventsTable(client, engine, lake))
    if (!this.jsonEnabled()) {
      this.out(
        result.registered
          ? `Registered ${result.table} over ${result.location} (events v${result.eventsVersion}).`
          : `${result.table} already reads ${result.location}: nothing to do.`,
      )
      // A name given as a flag here is not remembered: the analyses must be told it too.
      if (config['trino-table'].source === 'flag') {
        this.note(
          `Analyses read it with ECAP_TRINO_TABLE=${config['trino-table'].value} (or "trino-table" in ecap.config.json).`,
        )
      }
      this.note('Run an analysis there: ecap analyze all --engine trino')
    }
    return result
  }
}
