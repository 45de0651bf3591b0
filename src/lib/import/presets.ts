import type {ColumnMap} from './mapping.js'

/** A known file layout: its column map and the settings that go with it. Flags override each part. */
export interface ImportPreset {
  description: string
  map: ColumnMap
  currency?: string
  /** Order numbers starting with this mark a cancellation (a refund). */
  cancelPrefix?: string
  /** strptime formats tried, in order, when a time is not ISO 8601. */
  dateFormats?: string[]
}

export const PRESETS = {
  'online-retail': {
    description:
      'UCI Online Retail (Chen 2015): InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country; GBP; cancellations are invoices starting with C.',
    map: {
      order: 'InvoiceNo',
      product: 'StockCode',
      quantity: 'Quantity',
      price: 'UnitPrice',
      time: 'InvoiceDate',
      customer: 'CustomerID',
      country: 'Country',
    },
    currency: 'GBP',
    cancelPrefix: 'C',
    // The Parquet copy has ISO times; CSVs made from the UCI spreadsheet write US month/day/year.
    dateFormats: ['%m/%d/%Y %H:%M', '%m/%d/%Y %H:%M:%S'],
  },
} as const satisfies Record<string, ImportPreset>

export type PresetName = keyof typeof PRESETS
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[]
