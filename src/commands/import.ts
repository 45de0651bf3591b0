import {Args, Flags} from '@oclif/core'
import {EcapCommand} from '../ecap-command.js'
import {FIELDS} from '../lib/events/contract.js'
import {
  type Device,
  IMPORT_DEFAULTS,
  type ImportResult,
  importOrders,
  type PaymentMethod,
  resolveImportOptions,
} from '../lib/import/import.js'
import {MAX_IMPORT_ATTEMPTS} from '../lib/import/import-commit.js'
import {IMPORT_FIELD_NAMES, IMPORT_FIELDS} from '../lib/import/mapping.js'
import {PRESET_NAMES, PRESETS} from '../lib/import/presets.js'
import {lakeFlag} from '../shared-flags.js'

export default class ImportCommand extends EcapCommand<ImportResult> {
  static override summary =
    'Import order history (CSV or Parquet order lines) into the lake as purchase and refund events.'

  static override description =
    `Each row of FILE is one order line. Rows of one order number become one purchase event with its lines as items; cancellations become refund events. --map says which column feeds which field (${IMPORT_FIELD_NAMES.map((f) => `${f}${IMPORT_FIELDS[f].required ? '' : '?'}`).join(', ')}; ? = optional); --preset fills it in for a known layout (${PRESET_NAMES.map((p) => `${p}: ${PRESETS[p].description}`).join(' ')}), and --map entries override the preset's.

What the rows become:
  - exact duplicate rows (every column equal) are counted and kept once;
  - rows that cannot become a valid event (missing order number, unparseable date, zero or negative price, a negative quantity outside a cancellation, more than 10,000 units on a line, ...) are counted by reason and not imported;
  - rows without a customer make anonymous orders (customer_id null);
  - with --cancel-prefix (online-retail: C) an order number starting with it is a cancellation: a refund of the absolute value of its lines, linked to the latest earlier order of the same customer holding every cancelled product in at least that quantity, or else carrying its own number as order_id; without it, negative lines are a refund of their own order.

What the file does not say gets a fixed, documented value (docs/import.md): device --device (default ${IMPORT_DEFAULTS.device}), payment_method --payment-method (default ${IMPORT_DEFAULTS.paymentMethod}), card_fingerprint null, session_id the order number, refund reason ${IMPORT_DEFAULTS.refundReason}, ip/billing/shipping country the row's country (names mapped to ISO codes; places without one, e.g. "Unspecified" and "Channel Islands", get ZZ; --country-code overrides). Times without an offset are read in --timezone (default UTC).

The import is one Delta commit or nothing. Event ids are name-based UUIDs of the order number, and the commit records a txn ecap:import:<sha256 of the file>: importing the same file again writes nothing (status already-imported), and events already in the lake from another file are not written twice, also when the imports run at the same time (the one that commits second compares with the lake again).

Exit codes: 0 ok (also when the file was already imported), 2 bad flag, unknown column or missing mapping, 3 unreadable file, 4 other imports committed first ${MAX_IMPORT_ATTEMPTS} times in a row (run it again).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> fixtures/datasets/online-retail/online_retail.parquet --preset online-retail',
    '<%= config.bin %> <%= command.id %> orders.csv --map order=OrderNo,product=SKU,quantity=Qty,price=Price,time=Date,customer=Email --currency EUR',
    '<%= config.bin %> <%= command.id %> export.csv --preset online-retail --country-code "Channel Islands=JE" --dry-run --json',
  ]

  static override args = {
    file: Args.file({required: true, exists: true, description: 'CSV or Parquet file of order lines.'}),
  }

  static override flags = {
    lake: lakeFlag,
    preset: Flags.option({
      options: PRESET_NAMES,
      description: 'A known file layout: column map, currency, cancellations.',
    })(),
    map: Flags.string({
      description: 'Columns for fields, e.g. order=InvoiceNo,customer=CustomerID (overrides --preset).',
    }),
    format: Flags.option({
      options: ['csv', 'parquet'] as const,
      description: 'File format. [default: from the extension]',
    })(),
    currency: Flags.string({description: 'ISO 4217 code of the amounts, unless a currency column is mapped.'}),
    'cancel-prefix': Flags.string({description: 'Order numbers starting with this are cancellations (refunds).'}),
    'date-format': Flags.string({description: 'strptime format of non-ISO times, e.g. "%d/%m/%Y %H:%M".'}),
    timezone: Flags.string({
      description: 'Zone of times written without an offset.',
      default: IMPORT_DEFAULTS.timezone,
    }),
    device: Flags.option({
      options: FIELDS.device.spec.values,
      description: 'Device every imported event gets (the file has none).',
      default: IMPORT_DEFAULTS.device,
    })(),
    'payment-method': Flags.option({
      options: FIELDS.payment_method.spec.values,
      description: 'Payment method every imported order gets (the file has none).',
      default: IMPORT_DEFAULTS.paymentMethod,
    })(),
    'country-code': Flags.string({description: 'Extra country names and their ISO codes, e.g. "Channel Islands=JE".'}),
    'dry-run': Flags.boolean({description: 'Read and check the file and print the summary, but write nothing.'}),
  }

  public async run(): Promise<ImportResult> {
    const {args, flags} = await this.parse(ImportCommand)
    const options = resolveImportOptions({
      file: args.file,
      lake: this.resolveConfig({lake: flags.lake}).lake.value,
      format: flags.format,
      preset: flags.preset,
      map: flags.map,
      currency: flags.currency,
      cancelPrefix: flags['cancel-prefix'],
      dateFormat: flags['date-format'],
      timezone: flags.timezone,
      device: flags.device as Device,
      paymentMethod: flags['payment-method'] as PaymentMethod,
      countryCodes: flags['country-code'],
      dryRun: flags['dry-run'],
    })
    const progress = this.progress()
    progress.start(`Importing ${args.file}`)
    let result: ImportResult
    try {
      result = await this.withEngine((engine) =>
        importOrders(engine, {...options, onProgress: (text) => progress.update(text), signal: this.signal}),
      )
    } catch (error) {
      progress.fail('Import failed')
      throw error
    }
    progress.succeed(statusLine(result))
    for (const warning of result.warnings) this.warn(warning)
    if (!this.jsonEnabled()) this.out(summaryText(result))
    return result
  }
}

function statusLine(r: ImportResult): string {
  switch (r.status) {
    case 'imported':
      return `Imported ${r.eventsWritten} events as version ${r.version} of the events table`
    case 'already-imported':
      return `Already imported: this file (sha256 ${r.sha256.slice(0, 12)}…) is recorded in the lake; nothing written`
    case 'dry-run':
      return 'Dry run: nothing written'
    case 'empty':
      return r.eventsAlreadyInLake > 0
        ? 'Nothing to write: every event of this file is in the lake already'
        : 'Nothing to write: no row became a new event'
  }
}

function summaryText(r: ImportResult): string {
  const n = (x: number) => x.toLocaleString('en-US')
  const money = (x: number) => x.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2})
  const lines = [
    `${statusLine(r)}.`,
    `rows read            ${n(r.rowsRead)}`,
    `duplicates dropped   ${n(r.duplicateRowsDropped)}`,
    `rows rejected        ${n(r.rowsRejectedTotal)}`,
    ...Object.entries(r.rowsRejected).map(([reason, count]) => `  ${n(count).padStart(8)}  ${reason}`),
    `rows imported        ${n(r.rowsImported)}`,
    `invoices in file     ${n(r.invoices)}`,
    `orders               ${n(r.orders)} (${n(r.anonymousOrders)} anonymous)`,
    `refunds              ${n(r.refunds)} (${n(r.refundsLinked)} linked to an order, ${n(r.anonymousRefunds)} anonymous)`,
    `customers            ${n(r.customers)} (${n(r.customersWithOrders)} with orders; ${n(r.customersInFile)} in the file)`,
    `period               ${r.firstEventTime ?? '-'} … ${r.lastEventTime ?? '-'}`,
    `revenue              ${money(r.revenue)} ${r.currencies.join('/')} (refunded ${money(r.refunded)})`,
  ]
  if (r.eventsAlreadyInLake > 0)
    lines.push(`already in the lake  ${n(r.eventsAlreadyInLake)} events (not written again)`)
  return lines.join('\n')
}
