#!/usr/bin/env node
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
// The command has finished. Once what it printed has left the process (a pipe may still hold a large --json result;
// waited for at most 10 s), a client library's stray timer or socket (a Kafka reconnect) must not keep the process,
// and a cron job, alive: the exit timer does not itself hold the process, so a clean exit happens at once.
const deadline = Date.now() + 10_000
while ((process.stdout.writableLength > 0 || process.stderr.writableLength > 0) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 20))
}
setTimeout(() => process.exit(), 1000).unref()
