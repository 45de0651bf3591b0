import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {UnavailableError} from '../errors.js'

/** The repository root: this file is `src/lib/kafka/` (or `dist/lib/kafka/` once built), three levels down. */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..')
/** The pom whose dependencies are the Kafka broker's jars. */
export const KAFKA_POM = join(REPO_ROOT, 'tools', 'kafka', 'pom.xml')
/** Where the jars go: inside the ignored `.cache/`, shared by tests and `npm run kafka:dev`. */
export const KAFKA_LIBS = join(REPO_ROOT, '.cache', 'kafka', 'libs')

/**
 * A copy of the pom the jars came from, written once they all are there (.ci/run writes it the same way).
 * Compared without comments and layout, so that rewording the pom fetches nothing.
 */
const STAMP_FILE = '.ecap-pom.xml'

export interface KafkaJarsOptions {
  /** The pom to resolve; defaults to `tools/kafka/pom.xml`. */
  pom?: string
  /** Folder the jars are copied to; defaults to `.cache/kafka/libs`. */
  libDir?: string
  /** The Maven executable; defaults to `mvn` on the PATH. */
  mvn?: string
  /** Told what is happening, e.g. that Maven is fetching the jars (which takes a while the first time). */
  onProgress?: (message: string) => void
}

/**
 * Makes sure `libDir` holds the jars of `pom`, fetching them with Maven when the folder is missing, incomplete,
 * or was filled from another version of the pom. The stamp (a copy of the pom) is written last, so an interrupted
 * copy is redone. Returns the folder.
 */
export async function ensureKafkaJars(options: KafkaJarsOptions = {}): Promise<string> {
  const pom = options.pom ?? KAFKA_POM
  const libDir = options.libDir ?? KAFKA_LIBS
  const pomText = readFileSync(pom, 'utf8')
  if (isComplete(libDir, pomText)) return libDir

  options.onProgress?.(`Fetching the Kafka broker's jars with Maven into ${libDir}`)
  mkdirSync(dirname(libDir), {recursive: true})
  // Copy into a folder of our own and rename it into place, so a concurrent launcher never sees half a copy.
  const staging = `${libDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await runMaven(options.mvn ?? 'mvn', [
      '-q',
      '-B',
      '-f',
      pom,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${staging}`,
    ])
    if (!(await readdir(staging)).some((name) => name.startsWith('kafka_') && name.endsWith('.jar'))) {
      throw new UnavailableError('KAFKA_JARS_INCOMPLETE', `Maven copied no Kafka broker jar from ${pom}.`)
    }
    writeFileSync(join(staging, STAMP_FILE), pomText)
    if (isComplete(libDir, pomText)) return libDir
    rmSync(libDir, {recursive: true, force: true})
    try {
      renameSync(staging, libDir)
    } catch (error) {
      // Another launcher renamed its copy first; theirs is as good as ours.
      if (!isComplete(libDir, pomText)) throw error
    }
    return libDir
  } finally {
    rmSync(staging, {recursive: true, force: true})
  }
}

function isComplete(libDir: string, pomText: string): boolean {
  const stampPath = join(libDir, STAMP_FILE)
  if (!existsSync(stampPath) || pomEssence(readFileSync(stampPath, 'utf8')) !== pomEssence(pomText)) return false
  return readdirSync(libDir).some((name) => name.startsWith('kafka_') && name.endsWith('.jar'))
}

function pomEssence(pomText: string): string {
  return pomText
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/\s+/g, ' ')
    .trim()
}

function runMaven(mvn: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(mvn, args, {stdio: ['ignore', 'pipe', 'pipe']})
    let output = ''
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8000)
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new UnavailableError(
          'MAVEN_NOT_FOUND',
          error.code === 'ENOENT' ? `Maven (${mvn}) is not installed.` : `Could not run Maven: ${error.message}`,
          {
            cause: error,
            hints: ['Install Maven 3.8+ and Java 17+, e.g. `apt-get install maven openjdk-17-jre-headless`.'],
          },
        ),
      )
    })
    child.on('close', (code, signal) => {
      if (code === 0) return resolvePromise()
      reject(
        new UnavailableError(
          'KAFKA_JARS_FETCH_FAILED',
          `Maven could not fetch the Kafka jars (${signal ?? `exit ${code}`}):\n${output.trim()}`,
          {hints: [`Run it yourself to see why: mvn -B ${args.filter((a) => a !== '-q').join(' ')}`]},
        ),
      )
    })
  })
}
