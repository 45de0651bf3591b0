import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const SCRIPT = fileURLToPath(new URL('../../scripts/install-node.sh', import.meta.url))

/**
 * The Node 24 LTS binary that .ci/run tests ecap on beside the machine's Node 20, unpacked into .cache/node by
 * scripts/install-node.sh (as .ci/run does; run here too when missing, so a test that needs it never skips).
 */
export function node24(): string {
  const out = execFileSync('bash', [SCRIPT], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000})
  const bin = join(out.trim().split('\n').at(-1) ?? '', 'node')
  if (!existsSync(bin)) throw new Error(`scripts/install-node.sh printed no usable folder: ${out}`)
  return bin
}
