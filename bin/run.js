#!/usr/bin/env node
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
// The command has finished and printed its result: a client library's stray timer or socket (a Kafka reconnect)
// must not keep the process, and a cron job, alive.
process.exit()
