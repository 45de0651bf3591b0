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

const SHOP = ['--customers', '8000', '--days', '300', '--start', '2026-01-01']
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

/** Metrics of the saved analytics/fraud scores against the labels, on orders placed in [from, to). */
async function windowMetrics(root, lake, labels, {from, to, threshold}) {
  const {withEngine} = await import(join(root, 'dist', 'lib', 'engine', 'engine.js'))
  const {loadResult} = await import(join(root, 'dist', 'lib', 'analytics', 'store.js'))
  const {loadLabels, computeMetrics} = await import(join(root, 'dist', 'lib', 'analytics', 'fraud', 'metrics.js'))
  return withEngine(async (engine) => {
    await loadResult(engine, lake, 'fraud', 'fraud')
    await engine.run(
      `CREATE TEMP TABLE windowed AS SELECT order_id, order_date, risk_score FROM fraud
       WHERE order_time >= $1::TIMESTAMPTZ AND order_time < $2::TIMESTAMPTZ`,
      [from, to],
    )
    await loadLabels(engine, labels)
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
export async function fraudEvaluation(root, {sets = FRAUD_SETS} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ecap-bench-fraud-'))
  const rows = []
  try {
    for (const {set, seeds} of sets) {
      for (const seed of seeds) {
        console.error(`[bench] fraud ${set} seed ${seed}: building the shop (load ${loadavg()[0].toFixed(2)})`)
        const {lake, labels} = await makeShop(root, dir, set, seed)
        const learned = ecap(root, ['analyze', 'fraud', '--lake', lake, '--learn'])
        const window = learned.learn?.validation
        if (!window) throw new Error(`--learn reported no validation window: ${JSON.stringify(learned.learn)}`)
        const span = {from: window.from, to: window.to}
        const modelRow = learned.learn?.saved
          ? {threshold: learned.threshold, chargebacksFit: learned.learn.fit.chargebacks}
          : {note: 'too few chargebacks: rules kept'}
        rows.push(
          summarise(
            set,
            seed,
            'learned',
            await windowMetrics(root, lake, labels, {...span, threshold: learned.threshold}),
            modelRow,
          ),
        )
        const rules = ecap(root, ['analyze', 'fraud', '--lake', lake, '--model', 'rules'])
        rows.push(
          summarise(set, seed, 'rules', await windowMetrics(root, lake, labels, {...span, threshold: rules.threshold})),
        )
        rmSync(lake, {recursive: true, force: true})
      }
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
  return rows
}
