import type {CheckStatus, DoctorCheck} from './doctor.js'

const MARKS: Record<CheckStatus, {mark: string; color: string}> = {
  ok: {mark: '✓', color: '\u001b[32m'},
  warn: {mark: '!', color: '\u001b[33m'},
  fail: {mark: '✗', color: '\u001b[31m'},
  skip: {mark: '-', color: '\u001b[2m'},
}

/** One check as a line (✓/!/✗/- name detail), with its hints under it when it is not ok. */
export function renderCheck(check: DoctorCheck, width: number, color: boolean): string {
  const {mark, color: code} = MARKS[check.status]
  const shown = color ? `${code}${mark}\u001b[0m` : mark
  const lines = [`${shown} ${check.name.padEnd(width)}  ${check.detail}`]
  if (check.status !== 'ok') for (const hint of check.hints) lines.push(`  ${' '.repeat(width)}  → ${hint}`)
  return lines.join('\n')
}
