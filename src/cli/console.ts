import type { Command } from 'commander';
import { settingsOf } from '../config/settings.js';
import { ConfigError, errorMessage } from '../errors/index.js';
import { createLogger } from '../observability/logger.js';
import { resolvePipeline } from '../pipeline/definition.js';
import { commandKafka, connectAdmin } from './connect.js';
import { addSettingOptions, EXIT, loadRun } from './run.js';

/** `txstream console`: the web console over the pipelines of the config or topics folder, until SIGTERM/SIGINT. */
export function registerConsoleCommand(program: Command): void {
  addSettingOptions(
    program.command('console').description('serve the web console: pipelines, lag, retry tiers, dead letters, replay and audit (127.0.0.1:8088 by default)'),
    settingsOf('connection', 'pipelines', 'console'),
  ).action(async (options: Record<string, unknown>) => {
    const code = await consoleCommand(options);
    // Its clients are disconnected, but KafkaJS may still hold a retry timer of a read that was under way: exit now.
    process.exit(code);
  });
}

async function consoleCommand(options: Record<string, unknown>): Promise<number> {
  const { settings, pipelines, baseDir } = await loadRun(options);
  const logger = createLogger();
  const kafka = commandKafka(settings, baseDir, 'console');
  // One connection first, so an absent broker or refused credentials are one line, as in every command.
  await (await connectAdmin(kafka, settings)).disconnect();
  const resolved = pipelines.map((definition) => resolvePipeline(definition, { commit: settings.commit, groupId: settings.groupId }));
  // Loaded here, not with the CLI: the web server's modules are of no use to the other commands.
  const [{ startConsole }, { KafkaConsoleSource }] = await Promise.all([import('../console/server.js'), import('../console/source.js')]);
  const source = new KafkaConsoleSource(kafka, resolved, logger);
  await source.start();
  const { host, port, token, allowReplay } = settings.console;
  const running = await startConsole({ source, host, port, token, allowReplay, logger }).catch(async (error: unknown) => {
    await source.close();
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cannot listen on ${host}:${port}: ${errorMessage(error)}`, '--port');
  });
  logger.info({ url: running.url, pipelines: resolved.map((pipeline) => pipeline.name), replay: allowReplay, token: token !== undefined }, 'console serving');
  console.error(`txstream console: ${running.url}${allowReplay ? ' (replay on)' : ' (read-only)'}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await running.close();
  await source.close();
  return EXIT.ok;
}
