import type {Engine} from '../../engine/engine.js'
import type {ReportBlock, ReportDocument} from '../../report/document.js'
import {col, meta, num, numOrNull, type RunMeta, runLine, table} from '../report-common.js'
import {loadResult} from '../store.js'
import {FUNNEL_RESULT} from './funnel.js'

export interface FunnelStepRow {
  step: string
  sessions: number
  stepConversion: number | null
  overallConversion: number | null
  dropOff: number
}

export interface FunnelGroupRow {
  value: string
  steps: FunnelStepRow[]
}

export interface FunnelReportData {
  report: 'funnel'
  run: RunMeta
  overall: FunnelStepRow[]
  byDevice: FunnelGroupRow[]
  /** The --top countries by sessions. */
  byCountry: FunnelGroupRow[]
  countries: number
}

export interface FunnelReportOptions {
  lake: string
  /** Countries listed, most sessions first. */
  top: number
}

/** The funnel report from the saved funnel rows. */
export async function buildFunnelReport(engine: Engine, {lake, top}: FunnelReportOptions): Promise<FunnelReportData> {
  const run = await loadResult(engine, lake, FUNNEL_RESULT, 'funnel')
  const all = await engine.rows(`SELECT dimension, value, step, sessions, step_conversion, overall_conversion, drop_off,
            max(sessions) OVER (PARTITION BY dimension, value) AS group_sessions
     FROM ${FUNNEL_RESULT} ORDER BY dimension, group_sessions DESC, value, step_index`)
  const groups = (dimension: string): FunnelGroupRow[] => {
    const out: FunnelGroupRow[] = []
    for (const r of all.filter((x) => x.dimension === dimension)) {
      const value = String(r.value)
      let group = out.at(-1)
      if (!group || group.value !== value) {
        group = {value, steps: []}
        out.push(group)
      }
      group.steps.push({
        step: String(r.step),
        sessions: num(r.sessions),
        stepConversion: numOrNull(r.step_conversion),
        overallConversion: numOrNull(r.overall_conversion),
        dropOff: num(r.drop_off),
      })
    }
    return out
  }
  const countries = groups('country')
  return {
    report: 'funnel',
    run: meta(run),
    overall: groups('all')[0]?.steps ?? [],
    byDevice: groups('device'),
    byCountry: countries.slice(0, top),
    countries: countries.length,
  }
}

export function funnelBlock(title: string, steps: FunnelStepRow[]): ReportBlock {
  return {
    kind: 'funnel',
    title,
    steps: steps.map((s) => ({label: s.step, value: s.sessions, share: s.overallConversion})),
  }
}

export function funnelDocument(d: FunnelReportData): ReportDocument {
  const groupRows = (dimension: string, groups: FunnelReportData['byDevice']) =>
    groups.flatMap((g) =>
      g.steps.map((s) => [dimension, g.value, s.step, s.sessions, s.stepConversion, s.overallConversion, s.dropOff]),
    )
  const columns = [
    col('dimension', 'by'),
    col('value', 'value'),
    col('step', 'step'),
    col('sessions', 'sessions', 'int'),
    col('step_conversion', 'from step before', 'pct'),
    col('overall_conversion', 'from first step', 'pct'),
    col('drop_off', 'lost', 'int'),
  ]
  const rows = [
    ...groupRows('all', [{value: 'all', steps: d.overall}]),
    ...groupRows('device', d.byDevice),
    ...groupRows('country', d.byCountry),
  ]
  const purchase = (g: {steps: FunnelStepRow[]}) => g.steps.at(-1)?.overallConversion ?? 0
  return {
    title: 'Session funnel',
    subtitle: [runLine(d.run, `${(d.overall[0]?.sessions ?? 0).toLocaleString('en-US')} sessions`)],
    sections: [
      {title: 'All sessions', blocks: [funnelBlock('Sessions reaching each step', d.overall)]},
      {
        title: 'By device and country',
        blocks: [
          {
            kind: 'bars',
            title: 'Conversion to purchase by device',
            series: ['conversion'],
            format: 'pct',
            groups: d.byDevice.map((g) => ({label: g.value, values: [purchase(g)]})),
          },
          {
            kind: 'bars',
            title: `Conversion to purchase, top ${d.byCountry.length} of ${d.countries} countries by sessions`,
            series: ['conversion'],
            format: 'pct',
            groups: d.byCountry.map((g) => ({label: g.value, values: [purchase(g)]})),
          },
          table('funnel', columns, rows, true),
        ],
      },
    ],
  }
}
