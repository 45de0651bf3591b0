import {readdirSync, readFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'

/**
 * The layout of ../DESIGN.md's table, checked on every run: which folder of src/lib may import which, that lib code
 * never reaches for the command layer or a terminal library, and that no two modules import each other (directly or
 * round a longer loop). A new import that breaks the shape fails here with the file and the import named.
 */

const ROOT = resolve(import.meta.dirname, '..')
const LIB = join(ROOT, 'src', 'lib')

/**
 * Modules at the top of src/lib that every part may use: typed errors, failpoints, durable and atomic file writes, and
 * the java.util.Properties text the local Kafka and Trino launchers write.
 */
const COMMON = new Set(['errors', 'failpoints', 'durable', 'atomic-file', 'java-properties'])

/** For each folder of src/lib, the other folders it may import (the table "may import" column). */
const MAY_IMPORT: Record<string, string[] | 'all'> = {
  events: [],
  config: [],
  engine: [],
  report: [],
  lake: ['engine'],
  shop: ['lake', 'engine'],
  // The lake sink hands Parquet writing to DuckDB, so generate reaches the engine too.
  generate: ['events', 'lake', 'kafka', 'engine'],
  kafka: ['events', 'config'],
  ingest: ['kafka', 'lake', 'shop', 'events', 'analytics', 'engine'],
  analytics: ['shop', 'lake', 'engine', 'report', 'events'],
  export: ['lake', 'shop', 'engine', 'report'],
  import: ['lake', 'engine', 'events'],
  trino: ['config', 'lake', 'engine'],
  // The extract step of the analyses on another engine: it fills the tables they read, from their definitions.
  extract: ['analytics', 'shop', 'lake', 'engine', 'trino', 'config'],
  setup: 'all',
}

/**
 * Imports that break the folder rules, each known and named with its reason. The list only shrinks: a new breach
 * fails the test instead of joining it.
 */
const KNOWN_BREACHES: Record<string, string> = {
  // ecap's events table is still specified in lake/ (its Delta schema and the contract's column types for Parquet);
  // it belongs with the shop's tables, which would leave lake/ the table format alone.
  'src/lib/lake/delta-schema.ts -> events': "the events table's Delta schema comes from the contract",
  'src/lib/lake/parquet-files.ts -> events': "event files are cast to the contract's column types",
  // Exports list saved analysis results by the folder analyses save them in.
  'src/lib/export/lake-views.ts -> analytics': 'the folder of saved analysis results',
}

/** Packages that print, prompt or parse a command line: they belong to src/commands, never to src/lib. */
const COMMAND_LAYER_PACKAGES = ['@oclif/core', 'ora', '@inquirer/prompts']

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/**
 * The import specifiers of a TypeScript file (static imports and re-exports). Type-only imports count for the folder
 * rules but not for loops: the compiler erases them, so they tie no modules together at run time.
 */
function importsOf(file: string, options: {types: boolean} = {types: true}): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^(import|export)\s(type\s)?[^;]*?\sfrom\s+'([^']+)'/gms)]
    .filter((m) => options.types || m[2] === undefined)
    .map((m) => m[3] as string)
}

/** The part of src/lib a file belongs to: its folder, or its own name for a file at the top. */
function partOf(file: string): string {
  const [first, second] = relative(LIB, file).split('/')
  return second === undefined ? (first as string).replace(/\.ts$/, '') : (first as string)
}

function resolveLocal(from: string, specifier: string): string {
  return resolve(dirname(from), specifier).replace(/\.js$/, '.ts')
}

const libFiles = sourceFiles(LIB)

/** The one folder that talks to the Kafka client library; the rest of ecap sees its types (src/lib/kafka/types.ts). */
const KAFKA_SEAM = join(LIB, 'kafka')

/** Whether a file names the kafkajs package in an import, a re-export, a dynamic import() or a require(). */
function usesKafkajs(file: string): boolean {
  const text = readFileSync(file, 'utf8')
  const named = (s: string) => s === 'kafkajs' || s.startsWith('kafkajs/')
  return (
    importsOf(file).some(named) ||
    [...text.matchAll(/\b(?:import|require)\(\s*'([^']+)'/g)].some((m) => named(m[1] as string))
  )
}

describe('the source layout of DESIGN.md', () => {
  it('every folder of src/lib is named in the layout, and every file at its top is a common module', () => {
    const parts = new Set(libFiles.map(partOf))
    const unknown = [...parts].filter((part) => !(part in MAY_IMPORT) && !COMMON.has(part))
    expect(unknown, 'parts of src/lib the layout does not name').toEqual([])
  })

  it('each part imports only the parts it may', () => {
    const breaches: string[] = []
    const known = new Set<string>()
    for (const file of libFiles) {
      const part = partOf(file)
      const allowed = COMMON.has(part) ? [] : MAY_IMPORT[part]
      for (const specifier of importsOf(file)) {
        if (!specifier.startsWith('.')) continue
        const target = resolveLocal(file, specifier)
        if (!target.startsWith(LIB)) {
          breaches.push(`${relative(ROOT, file)} imports ${specifier}: lib code never imports outside src/lib`)
          continue
        }
        const other = partOf(target)
        if (other === part || COMMON.has(other) || allowed === 'all' || allowed?.includes(other)) continue
        const key = `${relative(ROOT, file)} -> ${other}`
        if (key in KNOWN_BREACHES) {
          known.add(key)
          continue
        }
        breaches.push(`${relative(ROOT, file)} (${part}) imports ${other}: ${specifier}`)
      }
    }
    expect(breaches).toEqual([])
    // A breach that was fixed leaves the list, so it cannot come back unnoticed.
    expect(Object.keys(KNOWN_BREACHES).filter((key) => !known.has(key))).toEqual([])
  })

  it('only src/lib/kafka/ imports kafkajs', () => {
    const outside = sourceFiles(join(ROOT, 'src'))
      .filter((file) => !file.startsWith(`${KAFKA_SEAM}/`) && usesKafkajs(file))
      .map((file) => relative(ROOT, file))
    expect(
      outside,
      'files outside src/lib/kafka/ that import kafkajs (use the types of src/lib/kafka/types.ts)',
    ).toEqual([])
  })

  it('lib code never uses the command layer (oclif, spinners, prompts)', () => {
    const breaches = libFiles.flatMap((file) =>
      importsOf(file)
        .filter((specifier) => COMMAND_LAYER_PACKAGES.includes(specifier))
        .map((specifier) => `${relative(ROOT, file)} imports ${specifier}`),
    )
    expect(breaches).toEqual([])
  })

  it('no module of src/lib imports itself round a loop', () => {
    const graph = new Map(
      libFiles.map((file) => [
        file,
        importsOf(file, {types: false})
          .filter((s) => s.startsWith('.'))
          .map((s) => resolveLocal(file, s)),
      ]),
    )
    const loops: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const path: string[] = []
    const visit = (file: string): void => {
      state.set(file, 'open')
      path.push(file)
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') {
          loops.push(
            path
              .slice(path.indexOf(next))
              .concat(next)
              .map((f) => relative(LIB, f))
              .join(' -> '),
          )
        } else if (!state.has(next)) {
          visit(next)
        }
      }
      path.pop()
      state.set(file, 'done')
    }
    for (const file of libFiles) if (!state.has(file)) visit(file)
    expect(loops).toEqual([])
  })
})
