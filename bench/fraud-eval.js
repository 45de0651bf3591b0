// The honest evaluation of fraud scoring (`npm run bench -- fraud`): scores shops the rules were not set on, with
// fraud the scorer never saw, and measures each model on the same later window of orders.
//
// Three sets of shops, all with the simulator's legitimate cross-border, multi-card, household and burst behaviour
// at its defaults:
//   tune      seeds 1-3, the simulator's fraud (--fraud-variant tune): where the hand-set rules were checked;
//   holdout   seeds 101-103, the simulator's holdout variant: other sizes, paces, amounts and countries per pattern;
//   injected  seeds 201-203, a shop without fraud plus the fraud of bench/fraud-inject.js, written apart from the
//             simulator from the patterns' public descriptions.
// Each shop is scored by the hand-set rules and by weights `ecap analyze fraud --learn` fits on the shop's own
// chargebacks (the earlier window); both are measured against the true labels on the later window the fit never
// saw, which is the validation window --learn reports.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'

const SHOP = ['--customers', '20000', '--days', '300', '--start', '2026-01-01']
const FRAUD_RATE = '0.015'
export const FRAUD_SETS = [
  {set: 'tune', seeds: [1, 2, 3]},
  {set: 'holdout', seeds: [101, 102, 103]},
  {set: 'injected', seeds: [201, 202, 203]},
]

function ecap(root, args) {
  const child = spawnSync(process.execPath, [join(root, 'bin', 'run.js'), ...args, '--json', '-q'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  })
  if (child.status !== 0)
    throw new Error(`ecap ${args.join(' ')} exited ${child.status}:\n${child.stdout}\n${child.stderr}`)
  return JSON.parse(child.stdout).result
}

/** Builds one shop's lake and labels; returns their paths. */
async function makeShop(root, dir, set, seed) {
  const lake = join(dir, `${set}-${seed}`)
  const labels = join(dir, `${set}-${seed}-labels.ndjson`)
  if (set === 'injected') {
    const legit = join(dir, `${set}-${seed}-legit.ndjson`)
    const all = join(dir, `${set}-${seed}-all.ndjson`)
    ecap(root, ['generate', ...SHOP, '--seed', String(seed), '--fraud-rate', '0', '-o', legit])
    const {inject} = await import('./fraud-inject.js')
    await inject({input: legit, output: all, labels, seed, rate: Number(FRAUD_RATE)})
    const {withEngine} = await import(join(root, 'dist', 'lib', 'engine', 'engine.js'))
    const {appendEvents} = await import(join(root, 'dist', 'lib', 'lake', 'lake.js'))
    await withEngine((engine) => appendEvents(engine, lake, all))
    rmSync(legit)
    rmSync(all)
  } else {
    ecap(root, [
      'generate',
      ...SHOP,
      '--seed',
      String(seed),
      '--fraud-rate',
      FRAUD_RATE,
      '--fraud-variant',
      set,
      '--to',
      'lake',
      '--lake',
      lake,
      '--labels',
      labels,
    ])
  }
  return {lake, labels}
}

/**
 * Metrics of the saved analytics/fraud scores against the labels, on orders placed in [from, to]; orders labelled
 * with a pattern in `without` are left out of the count altogether (neither fraud nor legitimate).
 */
async function windowMetrics(root, lake, labels, {from, to, threshold, without = []}) {
  const {withEngine} = await import(join(root, 'dist', 'lib', 'engine', 'engine.js'))
  const {loadResult} = await import(join(root, 'dist', 'lib', 'analytics', 'store.js'))
  const {loadLabels, computeMetrics} = await import(join(root, 'dist', 'lib', 'analytics', 'fraud', 'metrics.js'))
  return withEngine(async (engine) => {
    await loadResult(engine, lake, 'fraud', 'fraud')
    await loadLabels(engine, labels)
    await engine.run(
      `CREATE TEMP TABLE windowed AS SELECT order_id, order_date, risk_score FROM fraud
       WHERE order_time >= $1::TIMESTAMPTZ AND order_time <= $2::TIMESTAMPTZ
         AND order_id NOT IN (SELECT order_id FROM fraud_labels WHERE list_contains(string_split($3, ','), pattern))`,
      [from, to, without.join(',')],
    )
    return computeMetrics(engine, 'windowed', {labels, threshold, topKPerDay: 10})
  })
}

function summarise(set, seed, model, metrics, extra = {}) {
  const patterns = Object.fromEntries(
    metrics.byPattern.map((p) => [
      p.pattern,
      `${p.caught}/${p.orders}${p.incidents === null ? '' : ` (${p.incidentsCaught}/${p.incidents} inc.)`}`,
    ]),
  )
  const three = (v) => (v === null ? null : Number(v.toFixed(3)))
  return {
    set,
    seed,
    model,
    orders: metrics.orders,
    fraud: metrics.fraudOrders,
    prAuc: three(metrics.prAuc),
    rocAuc: three(metrics.rocAuc),
    threshold: metrics.threshold,
    precision: three(metrics.precision),
    recall: three(metrics.recall),
    top10DayPrecision: three(metrics.topKPerDay.precision),
    ...extra,
    ...patterns,
  }
}

/** Runs the evaluation; returns one row per shop and model. */
export async function fraudEvaluation(root, {sets = FRAUD_SETS, learnArgs = []} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-fraud-'))
  const rows = []
  const raw = []
  try {
    for (const {set, seeds} of sets) {
      for (const seed of seeds) {
        console.error(`[bench] fraud ${set} seed ${seed}: building the shop (load ${loadavg()[0].toFixed(2)})`)
        const {lake, labels} = await makeShop(root, dir, set, seed)
        const learned = ecap(root, ['analyze', 'fraud', '--lake', lake, '--learn', ...learnArgs])
        const {learn} = learned
        const span = {from: learn.validation.from, to: learn.validation.to}
        const extra = learn.learned
          ? {fitChargebacks: learn.fit.chargebacks, fitOrders: learn.fit.orders}
          : {note: learn.skipped}
        // Friendly fraud is a real customer's own order, charged back later: nothing at order time can tell it apart.
        // PR-AUC is shown with it and without it, so the figure says how much of the gap it is.
        const measure = async (model, threshold, more = {}) => {
          const all = await windowMetrics(root, lake, labels, {...span, threshold})
          const detectable = await windowMetrics(root, lake, labels, {...span, threshold, without: ['friendly_fraud']})
          raw.push({set, model, prAuc: all.prAuc, detectable, all})
          rows.push(
            summarise(set, seed, model, all, {
              prAucWithoutFriendly: Number(detectable.prAuc?.toFixed(3)),
              precisionWithoutFriendly: Number(detectable.precision?.toFixed(3)),
              recallWithoutFriendly: Number(detectable.recall?.toFixed(3)),
              ...more,
            }),
          )
        }
        await measure(learn.learned ? 'learned' : 'learned (rules kept)', learned.threshold, extra)
        const rules = ecap(root, ['analyze', 'fraud', '--lake', lake, '--model', 'rules'])
        await measure('rules', rules.threshold)
        for (const row of rows.slice(-2)) console.error(`[bench] ${JSON.stringify(row)}`)
        rmSync(lake, {recursive: true, force: true})
      }
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
  return [...rows, ...pooled(raw)]
}

/** Per set and model over its seeds: min and median of the headline figures, recall per pattern over all seeds. */
function pooled(raw) {
  const groups = new Map()
  for (const r of raw) {
    const key = `${r.set}\u0000${r.model}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  const three = (v) => Number(v.toFixed(3))
  const stat = (values) => {
    const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b)
    if (sorted.length === 0) return null
    const mid = Math.floor(sorted.length / 2)
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    return `${three(sorted[0])} / ${three(median)}`
  }
  return [...groups.values()].map((runs) => {
    const patterns = {}
    for (const r of runs) {
      for (const p of r.all.byPattern) {
        if (!patterns[p.pattern]) patterns[p.pattern] = {orders: 0, caught: 0, incidents: 0, incidentsCaught: 0}
        const acc = patterns[p.pattern]
        acc.orders += p.orders
        acc.caught += p.caught
        acc.incidents += p.incidents ?? 0
        acc.incidentsCaught += p.incidentsCaught ?? 0
      }
    }
    return {
      set: runs[0].set,
      seed: 'all (min / median)',
      model: runs[0].model,
      prAuc: stat(runs.map((r) => r.all.prAuc)),
      prAucWithoutFriendly: stat(runs.map((r) => r.detectable.prAuc)),
      precision: stat(runs.map((r) => r.all.precision)),
      precisionWithoutFriendly: stat(runs.map((r) => r.detectable.precision)),
      recall: stat(runs.map((r) => r.all.recall)),
      recallWithoutFriendly: stat(runs.map((r) => r.detectable.recall)),
      rocAuc: stat(runs.map((r) => r.all.rocAuc)),
      top10DayPrecision: stat(runs.map((r) => r.all.topKPerDay.precision)),
      ...Object.fromEntries(
        Object.entries(patterns).map(([pattern, p]) => [
          pattern,
          `${three(p.caught / p.orders)} of ${p.orders} (incidents ${p.incidentsCaught}/${p.incidents})`,
        ]),
      ),
    }
  })
}
