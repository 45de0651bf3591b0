import {ANALYTICS_DIR} from '../analytics/store.js'
import type {Engine} from '../engine/engine.js'
import {UsageError} from '../errors.js'
import {DEAD_LETTERS_TABLE} from '../lake/dead-letters.js'
import {listCommitVersions} from '../lake/delta-log.js'
import {EVENTS_TABLE} from '../lake/lake.js'
import {lakeLocation, locationName, parentLocation, relativeLocation} from '../lake/location.js'
import {findTables, lakeExists} from '../lake/status.js'
import {registerTableView} from '../lake/views.js'
import {registerShopViews} from '../shop/views.js'

/** The shop's views, in the order `ecap query` lists them. */
export const SHOP_VIEWS = ['events', 'orders', 'order_items', 'customers', 'duplicate_events', 'dead_letters'] as const

export interface LakeView {
  name: string
  kind: 'shop' | 'analysis' | 'table'
}

export interface LakeViews {
  lake: string
  views: LakeView[]
  /** The day the shop views are cut at (null without an events table, or when they were not registered). */
  asOf: string | null
  /** Copies of an event_id already seen that the shop views set aside (0 without an events table). */
  duplicateEvents: number
  /** Tables found but not registered (e.g. a result being written right now), with the reason. */
  skipped: {name: string; reason: string}[]
}

/**
 * Registers the whole lake as DuckDB views: the shop views (`events` with each event_id once, `orders`, `order_items`,
 * `customers`, `duplicate_events`, `dead_letters`, cut at `asOf`), every analysis result under `<lake>/analytics/` by its folder name, and any other
 * Delta table of the lake by its folder name. A result that cannot be read is skipped and reported, so one broken
 * result never stops a query or export of the others.
 *
 * With `shopViews: false` the shop views' names are listed and kept from other tables, but the views are not
 * registered: a caller that reads none of them (an export of an analysis result) does not pay the duplicate check.
 */
export async function registerLakeViews(
  engine: Engine,
  lake: string,
  options: {asOf?: string; shopViews?: boolean} = {},
): Promise<LakeViews> {
  const root = lakeLocation(lake)
  if (!(await lakeExists(root))) {
    throw new UsageError('LAKE_MISSING', `There is no lake at ${root}.`, {
      hints: ['Create one with: ecap generate --to lake', 'Point at an existing lake with --lake PATH or ECAP_LAKE.'],
    })
  }
  const views: LakeView[] = []
  const skipped: LakeViews['skipped'] = []
  let asOf: string | null = null
  let duplicateEvents = 0
  const tables: string[] = []
  for (const path of await findTables(root)) if ((await listCommitVersions(path)).length > 0) tables.push(path)
  const taken = new Set<string>()
  const hasEvents = tables.some((path) => relativeLocation(root, path) === EVENTS_TABLE)
  if (hasEvents && options.shopViews === false) {
    const hasDeadLetters = tables.some((path) => relativeLocation(root, path) === DEAD_LETTERS_TABLE)
    for (const name of SHOP_VIEWS) {
      if (name === DEAD_LETTERS_TABLE && !hasDeadLetters) continue
      views.push({name, kind: 'shop'})
      taken.add(name)
    }
  } else if (hasEvents) {
    const shop = await registerShopViews(engine, root, {asOf: options.asOf})
    asOf = shop.asOf
    duplicateEvents = shop.duplicateEvents
    for (const name of SHOP_VIEWS) {
      if ((await engine.rows('SELECT 1 FROM duckdb_views() WHERE view_name = ?', [name])).length > 0) {
        views.push({name, kind: 'shop'})
        taken.add(name)
      }
    }
  }
  for (const path of tables) {
    const name = locationName(path)
    const parent = parentLocation(path)
    const inAnalytics = locationName(parent) === ANALYTICS_DIR && parentLocation(parent) === root
    if (!inAnalytics && parent !== root) continue
    if (taken.has(name)) {
      if (name !== EVENTS_TABLE && name !== 'dead_letters') {
        skipped.push({
          name: relativeLocation(root, path) as string,
          reason: `the name ${name} is taken by another view`,
        })
      }
      continue
    }
    try {
      await registerTableView(engine, name, path)
      views.push({name, kind: inAnalytics ? 'analysis' : 'table'})
      taken.add(name)
    } catch (error) {
      skipped.push({name: relativeLocation(root, path) as string, reason: (error as Error).message})
    }
  }
  return {lake: root, views, asOf, duplicateEvents, skipped}
}
