// Writes docs/events.md from the event contract. Run through `npm run docs:events`, which builds dist/ first;
// test/events-contract.test.ts fails when the checked-in file differs from what this writes.
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {renderEventDocs} from '../dist/lib/events/docs.js'

const target = fileURLToPath(new URL('../docs/events.md', import.meta.url))
writeFileSync(target, renderEventDocs())
process.stderr.write(`Wrote ${target}\n`)
