import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const SCRIPT = fileURLToPath(new URL('../../scripts/install-chromium.sh', import.meta.url))

/**
 * The headless Chromium the HTML tests drive: ECAP_TEST_CHROMIUM when set, else Debian's package unpacked into
 * .cache/chromium by scripts/install-chromium.sh (as .ci/run does; run here too when missing, so the test never skips).
 */
export function ensureChromium(): string {
  const given = process.env.ECAP_TEST_CHROMIUM
  if (given) {
    if (!existsSync(given)) throw new Error(`ECAP_TEST_CHROMIUM=${given} does not exist`)
    return given
  }
  const out = execFileSync('bash', [SCRIPT], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000})
  const path = out.trim().split('\n').at(-1) ?? ''
  if (!existsSync(path)) throw new Error(`scripts/install-chromium.sh printed no browser path: ${out}`)
  return path
}
