#!/usr/bin/env node
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
// The command has finished. Once what it printed is flushed (a pipe may still hold a large --json result), a client
// library's stray timer or socket (a Kafka reconnect) must not keep the process, and a cron job, alive: the timer
// below does not itself hold the process, so a clean exit happens at once and a stuck one a second later.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))))
setTimeout(() => process.exit(), 1000).unref()
