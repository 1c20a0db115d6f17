import type { Command } from 'commander';
import { loadSettings } from '../config/load.js';
import { ConfigError } from '../errors/index.js';
import { createKafka } from '../kafka/client.js';
import { createLogger } from '../observability/logger.js';
import { type ResolvedPipeline, resolvePipeline } from '../pipeline/definition.js';
import { formatSummary, summariseDeadLetters } from '../routing/dlt-summary.js';
import { readToEnd } from '../routing/inspect.js';
import { replayDeadLetters } from '../routing/replay.js';
import { EXIT } from './run.js';
import { loadPipelines } from './load-pipelines.js';

/** `txstream dlt inspect|replay <pipeline>`: look into and recover from the dead-letter topics. */
export function registerDltCommands(program: Command): void {
  const dlt = program.command('dlt').description("inspect and replay a pipeline's dead-letter topics");
  dlt
    .command('inspect')
    .argument('<pipeline>', 'pipeline name')
    .option('-c, --config <file>', 'YAML or JSON config file (env TXSTREAM_CONFIG)')
    .option('--brokers <list>', 'bootstrap brokers (env TXSTREAM_BROKERS / KAFKA_BROKERS)')
    .option('--samples <count>', 'sample records to show per topic', '3')
    .option('--json', 'machine-readable output')
    .description('counts by reason and error class, oldest and newest failure, samples with decoded headers')
    .action(async (name: string, options: { config?: string; brokers?: string; samples: string; json?: boolean }) => {
      const { pipeline, brokers } = await pipelineFor(name, options);
      const kafka = createKafka({ brokers, clientId: 'txstream-dlt', logger: createLogger({ level: 'error' }) });
      const summaries = [];
      for (const input of pipeline.inputs) {
        const topic = pipeline.deadLetterTopicFor(input);
        summaries.push(summariseDeadLetters(topic, await readToEnd(kafka, topic), Number(options.samples)));
      }
      console.log(options.json ? JSON.stringify(summaries, null, 2) : summaries.map(formatSummary).join('\n'));
      process.exitCode = EXIT.ok;
    });
  dlt
    .command('replay')
    .argument('<pipeline>', 'pipeline name')
    .option('-c, --config <file>', 'YAML or JSON config file (env TXSTREAM_CONFIG)')
    .option('--brokers <list>', 'bootstrap brokers (env TXSTREAM_BROKERS / KAFKA_BROKERS)')
    .option('--filter <name=value...>', 'only records whose header matches (error-class=DecodeError, dlt-reason=…, key=…)')
    .option('--limit <count>', 'replay at most this many records')
    .option('--rate <perSecond>', 'replay at most this many records per second')
    .option('--dry-run', 'count what would be replayed; change nothing')
    .option('--skip-unmatched', 'move past records that are not replayed (by default a partition stops at the first one, so none is lost)')
    .description('move dead-letter records back to their source topic, exactly once, with attempts reset')
    .action(
      async (
        name: string,
        options: { config?: string; brokers?: string; filter?: string[]; limit?: string; rate?: string; dryRun?: boolean; skipUnmatched?: boolean },
      ) => {
        const { pipeline, brokers } = await pipelineFor(name, options);
        const logger = createLogger({ level: 'warn' });
        const result = await replayDeadLetters({
          kafka: createKafka({ brokers, clientId: 'txstream-dlt', logger }),
          pipeline,
          logger,
          filters: options.filter ?? [],
          limit: positive(options.limit, '--limit'),
          ratePerSecond: positive(options.rate, '--rate'),
          dryRun: options.dryRun ?? false,
          skipUnmatched: options.skipUnmatched ?? false,
        });
        console.log(
          options.dryRun
            ? `dry run: ${result.matched} of ${result.scanned} dead-letter record(s) would be replayed`
            : `replayed ${result.replayed} of ${result.scanned} dead-letter record(s) scanned`,
        );
        for (const stop of result.stoppedAt) {
          console.log(`stopped at ${stop.topic}/${stop.partition}/${stop.offset}: ${stop.reason} (not replayed, not passed over; --skip-unmatched moves past such records)`);
        }
        if (result.passedOver > 0) {
          console.log(`passed over ${result.passedOver} record(s) without replaying them${result.passedOver > result.passedOverSample.length ? ` (first ${result.passedOverSample.length} listed)` : ''}:`);
          for (const skipped of result.passedOverSample) console.log(`  ${skipped.topic}/${skipped.partition}/${skipped.offset}: ${skipped.reason}`);
        }
        process.exitCode = EXIT.ok;
      },
    );
}

async function pipelineFor(name: string, options: { config?: string; brokers?: string }): Promise<{ pipeline: ResolvedPipeline; brokers: string[] }> {
  const file = options.config ?? process.env.TXSTREAM_CONFIG;
  const { settings, baseDir } = loadSettings({ flags: { brokers: options.brokers }, env: process.env, file });
  const [definition] = await loadPipelines(settings.pipelines, baseDir, [name]);
  if (!definition) throw new ConfigError(`no pipeline named '${name}'`);
  return { pipeline: resolvePipeline(definition, { commit: settings.commit, groupId: settings.groupId }), brokers: settings.brokers };
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new ConfigError(`${flag}: '${value}' is not a positive number`);
  return parsed;
}
