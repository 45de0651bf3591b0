// Preloaded into a benchmarked process (node --import): reports its peak resident set size when it exits.
import {writeFileSync} from 'node:fs'

const target = process.env.ECAP_BENCH_RSS_FILE
if (target) {
  process.on('exit', () => {
    writeFileSync(target, String(process.resourceUsage().maxRSS * 1024))
  })
}
