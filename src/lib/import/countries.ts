/**
 * Country names as shop exports write them, mapped to ISO 3166-1 alpha-2 codes (the contract's country fields).
 * Keys are lower-case; lookups trim and lower-case the name. A value that already is a two-letter code is taken as
 * it is, so this table only needs the names. It covers every country of the UCI Online Retail data set and the
 * common English names and abbreviations of the countries an online shop most often sells to.
 */
export const COUNTRY_CODES: Readonly<Record<string, string>> = {
  // UCI Online Retail, by the names it uses
  australia: 'AU',
  austria: 'AT',
  bahrain: 'BH',
  belgium: 'BE',
  brazil: 'BR',
  canada: 'CA',
  cyprus: 'CY',
  'czech republic': 'CZ',
  denmark: 'DK',
  eire: 'IE',
  finland: 'FI',
  france: 'FR',
  germany: 'DE',
  greece: 'GR',
  'hong kong': 'HK',
  iceland: 'IS',
  israel: 'IL',
  italy: 'IT',
  japan: 'JP',
  lebanon: 'LB',
  lithuania: 'LT',
  malta: 'MT',
  netherlands: 'NL',
  norway: 'NO',
  poland: 'PL',
  portugal: 'PT',
  rsa: 'ZA',
  'saudi arabia': 'SA',
  singapore: 'SG',
  spain: 'ES',
  sweden: 'SE',
  switzerland: 'CH',
  usa: 'US',
  'united arab emirates': 'AE',
  'united kingdom': 'GB',
  // "European Community": EU is the code ISO 3166/MA exceptionally reserves for the European Union.
  'european community': 'EU',
  'european union': 'EU',
  // Other common names and spellings
  ireland: 'IE',
  'republic of ireland': 'IE',
  'south africa': 'ZA',
  'united states': 'US',
  'united states of america': 'US',
  us: 'US',
  uk: 'GB',
  'great britain': 'GB',
  england: 'GB',
  scotland: 'GB',
  wales: 'GB',
  'northern ireland': 'GB',
  czechia: 'CZ',
  'the netherlands': 'NL',
  holland: 'NL',
  luxembourg: 'LU',
  estonia: 'EE',
  latvia: 'LV',
  hungary: 'HU',
  romania: 'RO',
  bulgaria: 'BG',
  croatia: 'HR',
  slovenia: 'SI',
  slovakia: 'SK',
  turkey: 'TR',
  russia: 'RU',
  ukraine: 'UA',
  china: 'CN',
  india: 'IN',
  'south korea': 'KR',
  korea: 'KR',
  taiwan: 'TW',
  'new zealand': 'NZ',
  mexico: 'MX',
  argentina: 'AR',
  chile: 'CL',
  nigeria: 'NG',
  egypt: 'EG',
  qatar: 'QA',
  kuwait: 'KW',
  jersey: 'JE',
  guernsey: 'GG',
  'isle of man': 'IM',
}

/**
 * The code for a place the data names without saying which country it is ("Unspecified"), or that spans several
 * countries with no code of their own ("Channel Islands": Jersey JE and Guernsey GG). ZZ is a user-assigned code
 * of ISO 3166-1 that Unicode CLDR uses for "Unknown Region"; the contract needs a code, and ZZ says "unknown"
 * rather than guessing one.
 */
export const UNKNOWN_COUNTRY = 'ZZ'

/** Names that knowingly map to UNKNOWN_COUNTRY (they are not reported as unrecognised). */
export const KNOWN_UNKNOWN_COUNTRIES: readonly string[] = ['unspecified', 'unknown', 'channel islands']

/** The country table as rows for a DuckDB VALUES list: [lower-case name, code]. */
export function countryRows(overrides: Readonly<Record<string, string>> = {}): [string, string][] {
  const table = new Map<string, string>(Object.entries(COUNTRY_CODES))
  for (const name of KNOWN_UNKNOWN_COUNTRIES) table.set(name, UNKNOWN_COUNTRY)
  for (const [name, code] of Object.entries(overrides)) table.set(name.trim().toLowerCase(), code)
  return [...table]
}
