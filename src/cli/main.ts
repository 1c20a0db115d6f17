import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { BrokerUnreachableError, CommandError, ConfigError, KafkaSecurityError } from '../errors/index.js';
import { registerAuditCommand } from './audit.js';
import { registerConsoleCommand } from './console.js';
import { registerDltCommands } from './dlt.js';
import { registerOpsCommands } from './ops.js';
import { addSettingOptions, type EarlyStop, EXIT, runCommand } from './run.js';
import { registerTopicsCommands } from './topics.js';

// package.json is two folders up from src/cli/ and from dist/cli/ alike.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export interface CliOptions {
  /** The signal handlers bin/txstream.js installed for `run` before this module loaded; `run` takes over from them. */
  readonly earlyStop?: EarlyStop;
}

/** The txstream command line (bin/txstream.js calls it with process.argv). */
export async function main(argv: readonly string[], options: CliOptions = {}): Promise<void> {
  const program = new Command('txstream')
    .description('Exactly-once stream processing on Apache Kafka')
    .version(version, '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride((error) => {
      // commander's own usage errors (unknown option, missing argument) are config errors too.
      process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.config);
    });

  addSettingOptions(program.command('run').description('run the pipelines of the config until SIGTERM/SIGINT')).action(
    async (commandOptions: Record<string, unknown>) => {
      const code = await runCommand(commandOptions, options.earlyStop);
      // The worker is stopped and its clients are disconnected, but KafkaJS may still
      // hold the retry timer of a rejoin that was under way: exit now, not when it fires.
      process.exit(code);
    },
  );

  registerDltCommands(program);
  registerTopicsCommands(program);
  registerOpsCommands(program);
  registerAuditCommand(program);
  registerConsoleCommand(program);

  program
    .command('demo')
    .description('start a local broker if needed, create the demo topics, and run the demo pipeline over sample orders')
    .option('--records <count>', 'sample orders to produce', '10000')
    .addOption(new Option('--sink <kind>', 'run the example sink pipeline into a local PostgreSQL instead (examples/postgres-sink)').choices(['postgres']))
    .action(async (demoOptions: { records: string; sink?: 'postgres' }) => {
      const { runDemo } = await import('./demo.js');
      process.exitCode = await runDemo({ records: Number(demoOptions.records), sink: demoOptions.sink });
    });

  // Rejections that escape a handler must never end the process silently.
  process.on('unhandledRejection', (reason) => {
    console.error('txstream: unhandled rejection:', reason);
    process.exitCode = EXIT.failed;
  });

  // A command that failed ends the process now, with its one line: KafkaJS may still hold
  // timers (a rejoin, a metadata retry) that would keep a failed start alive for minutes.
  await program.parseAsync(argv).catch((error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`txstream: ${error.message}`);
      process.exit(EXIT.config);
    }
    if (error instanceof BrokerUnreachableError || error instanceof KafkaSecurityError || error instanceof CommandError) {
      console.error(`txstream: ${error.message}`);
      process.exit(EXIT.failed);
    }
    // Any other KafkaJS failure (a broker gone mid-command, a request refused) is one line too: its
    // stack is KafkaJS's own, of no use to the user. TXSTREAM_LOG_LEVEL=debug shows stacks.
    const debug = process.env.TXSTREAM_LOG_LEVEL === 'debug' || process.env.TXSTREAM_LOG_LEVEL === 'trace';
    if (error instanceof Error && error.name.startsWith('KafkaJS') && !debug) {
      console.error(`txstream: Kafka: ${error.message}`);
    } else {
      console.error('txstream:', error instanceof Error ? (error.stack ?? error.message) : error);
    }
    process.exit(EXIT.failed);
  });
}
