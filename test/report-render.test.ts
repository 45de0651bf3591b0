import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import type {ReportDocument} from '../src/lib/report/document.js'
import {REPORT_FORMATS, renderReport, writeReportFile} from '../src/lib/report/render.js'

const dir = mkdtempSync(join(tmpdir(), 'ecap-render-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const document: ReportDocument = {
  title: 'Things',
  subtitle: ['2 things'],
  sections: [
    {
      title: 'All',
      blocks: [
        {
          kind: 'table',
          name: 'things',
          primary: true,
          columns: [
            {key: 'name', title: 'name', format: 'text'},
            {key: 'value', title: 'value', format: 'money'},
          ],
          rows: [
            ['a', 1234.5],
            ['b', null],
          ],
        },
      ],
    },
  ],
}
const data = {report: 'things', rows: [{name: 'a', value: 1234.5}]}

describe('renderReport', () => {
  it('writes the typed data as JSON and the document in every other format', () => {
    expect(JSON.parse(renderReport({data, document}, 'json', {color: false}))).toEqual(data)
    const table = renderReport({data, document}, 'table', {color: false})
    expect(table).toContain('Things')
    expect(table).toContain('1,234.50')
    expect(renderReport({data, document}, 'csv', {color: false})).toBe('name,value\r\na,1234.5\r\nb,\r\n')
    expect(renderReport({data, document}, 'md', {color: false})).toContain('| a | 1,234.50 |')
    expect(renderReport({data, document}, 'html', {color: false})).toContain('<html')
    expect(REPORT_FORMATS).toEqual(['table', 'json', 'csv', 'md', 'html'])
  })

  it('colours the table only when asked', () => {
    expect(renderReport({data, document}, 'table', {color: false})).not.toContain('\u001b[')
    expect(renderReport({data, document}, 'table', {color: true})).toContain('\u001b[')
  })
})

describe('writeReportFile', () => {
  it('leaves the whole file and no temp file beside it', () => {
    const file = join(dir, 'report.md')
    writeReportFile(file, '# Things\n')
    expect(readFileSync(file, 'utf8')).toBe('# Things\n')
    expect(readdirSync(dir)).toEqual(['report.md'])
  })

  it('refuses a folder that does not exist with exit 2 naming -o', () => {
    expect(() => writeReportFile(join(dir, 'missing', 'report.md'), 'x')).toThrow(/Cannot write -o/)
  })
})
