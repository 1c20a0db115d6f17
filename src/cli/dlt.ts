import type { Command } from 'commander';
import type { WorkerSettings } from '../config/schema.js';
import { settingsOf } from '../config/settings.js';
import { DEFAULTS } from '../config/defaults.js';
import { ConfigError } from '../errors/index.js';
import { describeUnread } from '../kafka/topic-read.js';
import { createLogger } from '../observability/logger.js';
import { type ResolvedPipeline, resolvePipeline } from '../pipeline/definition.js';
import { formatSummary, summariseDeadLetters } from '../routing/dlt-summary.js';
import { readToEnd } from '../routing/inspect.js';
import { replayDeadLetters } from '../routing/replay.js';
import { commandKafka, connectAdmin } from './connect.js';
import { addSettingOptions, EXIT, loadRun, timeoutOption } from './run.js';

/** `txstream dlt inspect|replay <pipeline>`: look into and recover from the dead-letter topics. */
export function registerDltCommands(program: Command): void {
  const dlt = program.command('dlt').description("inspect and replay a pipeline's dead-letter topics");
  // The connection, and the group prefix that names the pipeline's (and the replay's) group.
  const READS = settingsOf('connection').concat(settingsOf('pipelines').filter((spec) => spec.flag === 'group-id'));
  const inspect = dlt
    .command('inspect')
    .argument('<pipeline>', 'pipeline name');
  addSettingOptions(inspect, READS)
    .option('--samples <count>', 'sample records to show per topic', '3')
    .option('--timeout <ms>', 'stop reading a topic that has not reached its end offsets by then (the counts then cover part of it, and the exit code is 1)', String(DEFAULTS.deadLetterReadTimeoutMs))
    .option('--json', 'machine-readable output')
    .description('counts by reason and error class, oldest and newest failure, samples with decoded headers')
    .action(async (name: string, options: Record<string, unknown> & { samples: string; json?: boolean }) => {
      const timeoutMs = timeoutOption(options.timeout, '--timeout');
      const { pipeline, kafka } = await pipelineFor(name, options);
      const summaries = [];
      const cutShort: string[] = [];
      for (const input of pipeline.inputs) {
        const topic = pipeline.deadLetterTopicFor(input);
        const { records, unread } = await readToEnd(kafka, topic, timeoutMs);
        const summary = summariseDeadLetters(topic, records, Number(options.samples));
        if (unread.length > 0) cutShort.push(`'${topic}': ${describeUnread(unread)}`);
        // Bigints as text: offsets may pass 2^53.
        summaries.push(unread.length > 0 ? { ...summary, complete: false, unread: unread.map((range) => ({ partition: range.partition, from: String(range.from), to: String(range.to) })) } : summary);
      }
      console.log(options.json ? JSON.stringify(summaries, null, 2) : summaries.map(formatSummary).join('\n'));
      if (cutShort.length > 0) {
        console.error(
          `dlt inspect: the read stopped after ${timeoutMs} ms with offsets left unread (${cutShort.join('; ')}). The counts above cover only what was read; raise --timeout to read it all.`,
        );
        process.exitCode = EXIT.failed;
      } else process.exitCode = EXIT.ok;
    });
  const replay = dlt
    .command('replay')
    .argument('<pipeline>', 'pipeline name');
  addSettingOptions(replay, READS)
    .option('--filter <name=value...>', 'only records whose header matches (error-class=DecodeError, dlt-reason=…, key=…)')
    .option('--limit <count>', 'replay at most this many records')
    .option('--rate <perSecond>', 'replay at most this many records per second')
    .option('--dry-run', 'count what would be replayed; change nothing')
    .option('--skip-unmatched', 'move past records that are not replayed (by default a partition stops at the first one, so none is lost)')
    .description('move dead-letter records back to their source topic, exactly once, with attempts reset')
    .action(
      async (name: string, options: Record<string, unknown> & { filter?: string[]; limit?: string; rate?: string; dryRun?: boolean; skipUnmatched?: boolean }) => {
        const { pipeline, kafka } = await pipelineFor(name, options);
        const logger = createLogger({ level: process.env.TXSTREAM_LOG_LEVEL ?? 'warn' });
        const result = await replayDeadLetters({
          kafka,
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

/**
 * The named pipeline of the config file (-c) or, by default, of the topics folder, as `txstream run`
 * finds it, and a client with run's connection settings, checked to answer.
 */
async function pipelineFor(name: string, options: Record<string, unknown>): Promise<{ pipeline: ResolvedPipeline; kafka: ReturnType<typeof commandKafka> }> {
  const { settings, pipelines, baseDir } = await loadRun(options);
  const definition = pipelines.find((candidate) => candidate.name === name);
  if (!definition) {
    const source = (options.config as string | undefined) ?? process.env.TXSTREAM_CONFIG ?? 'the topics folder';
    throw new ConfigError(`no pipeline named '${name}' in ${source} (defined: ${pipelines.map((p) => p.name).join(', ') || 'none'})`);
  }
  const kafka = commandKafka(settings, baseDir, 'dlt');
  await probe(kafka, settings);
  return { pipeline: resolvePipeline(definition, { commit: settings.commit, groupId: settings.groupId }), kafka };
}

/** One admin connection first, so an absent broker or refused credentials are one line, as in every command. */
async function probe(kafka: ReturnType<typeof commandKafka>, settings: WorkerSettings): Promise<void> {
  const admin = await connectAdmin(kafka, settings);
  await admin.disconnect();
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new ConfigError(`${flag}: '${value}' is not a positive number`);
  return parsed;
}
