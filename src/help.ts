import {type Command, Help} from '@oclif/core'

/** Exit codes every command shares; scripts and cron rely on them, so every --help shows them. */
const EXIT_CODES = `EXIT CODES
  0    success
  1    unexpected error (a bug in ecap)
  2    usage: bad flag, argument or config value
  3    bad data: corrupt or foreign input
  4    a dependency is unavailable (Kafka down, lake locked); retry later
  130  interrupted (SIGINT/SIGTERM)`

export default class EcapHelp extends Help {
  override formatCommand(command: Command.Loadable): string {
    return `${super.formatCommand(command)}\n\n${EXIT_CODES}`
  }

  override formatRoot(): string {
    return `${super.formatRoot()}\n\n${EXIT_CODES}`
  }
}
