import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { BrokerUnreachableError, ConfigError, errorMessage } from '../errors/index.js';
import { applyTopics, PlanRefusedError, readClusterTopics, TopicsApplyError } from '../topics/cluster.js';
import { topicsJsonSchema } from '../topics/format.js';
import { loadTopicsDir, type TopicsProject } from '../topics/load.js';
import { formatPlan, planHasChanges, planTopics, summaryOf } from '../topics/plan.js';

/**
 * `txstream topics plan|apply|validate|schema`. Exit codes follow `terraform plan -detailed-exitcode`,
 * so CI can tell them apart: 0 nothing to change (or applied), 2 the plan has changes, 1 an error
 * (invalid files, no broker, a refused apply).
 */
export const TOPICS_EXIT = { ok: 0, error: 1, changes: 2 } as const;

export interface TopicsIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly exit: (code: number) => void;
}

const processIo: TopicsIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  exit: (code) => {
    process.exitCode = code;
  },
};

export interface TopicsCommandOptions {
  readonly dir: string;
  readonly brokers?: string;
  readonly scope?: string[];
  readonly allowDelete?: boolean;
}

export function registerTopicsCommands(program: Command, io: TopicsIo = processIo): Command {
  const topics = program.command('topics').description('topics and pipelines as code: the YAML files of topics/ against a cluster');
  const common = (command: Command) =>
    command
      .option('--dir <dir>', 'folder of the topics files (*.yaml)', 'topics')
      .option('--brokers <list>', 'bootstrap brokers, host:port[,host:port] (env TXSTREAM_BROKERS / KAFKA_BROKERS)')
      .option('--scope <prefix...>', 'report (or delete) only unmanaged topics with these name prefixes')
      .option('--allow-delete', 'delete cluster topics the files do not declare; needs --scope, never deletes __*, _schemas, _confluent* or connect-* topics; Kafka cannot undo it');

  common(topics.command('plan').description('show what apply would change; exit 0 when nothing, 2 when something')).action(
    async (options: TopicsCommandOptions) => io.exit(await topicsPlan(options, io)),
  );
  common(topics.command('apply').description('create topics, add partitions and set configs as the files say; idempotent')).action(
    async (options: TopicsCommandOptions) => io.exit(await topicsApply(options, io)),
  );
  topics
    .command('validate')
    .description('check the files without a broker; every problem with its file and line')
    .option('--dir <dir>', 'folder of the topics files (*.yaml)', 'topics')
    .action((options: { dir: string }) => io.exit(topicsValidate(options, io)));
  topics
    .command('schema')
    .description('print (or write) the JSON Schema of the topics files, for editor completion')
    .option('--out <file>', 'write it to this file instead of stdout')
    .action((options: { out?: string }) => {
      const text = `${JSON.stringify(topicsJsonSchema(), null, 2)}\n`;
      if (options.out) writeFileSync(options.out, text);
      else io.out(text.trimEnd());
      io.exit(TOPICS_EXIT.ok);
    });
  return topics;
}

export function topicsValidate(options: { dir: string }, io: TopicsIo = processIo): number {
  return guarded(io, () => {
    const project = loadTopicsDir(options.dir);
    io.out(describeProject(project));
    return TOPICS_EXIT.ok;
  });
}

export async function topicsPlan(options: TopicsCommandOptions, io: TopicsIo = processIo): Promise<number> {
  return guardedAsync(io, async () => {
    const project = loadTopicsDir(options.dir);
    const brokers = brokersOf(options);
    const plan = await withAdmin(brokers, async (admin) =>
      planTopics(project.topics, await readClusterTopics(admin, project.topics, options.scope ?? []), options),
    );
    for (const line of formatPlan(plan)) io.out(line);
    return planHasChanges(plan) ? TOPICS_EXIT.changes : TOPICS_EXIT.ok;
  });
}

export async function topicsApply(options: TopicsCommandOptions, io: TopicsIo = processIo): Promise<number> {
  return guardedAsync(io, async () => {
    const project = loadTopicsDir(options.dir);
    const brokers = brokersOf(options);
    const result = await withAdmin(brokers, (admin) => applyTopics(admin, project.topics, options));
    const lines = formatPlan(result.plan);
    for (const line of lines.slice(0, -1)) io.out(line);
    const changed = result.created.length + result.grown.length + result.reconfigured.length + result.deleted.length;
    io.out(
      changed === 0
        ? `Nothing to change: the cluster matches ${options.dir}. ${summaryOf(result.plan).replace(/^Plan: /, '')}`
        : `Applied: ${result.created.length} created, ${result.grown.length} grown, ${result.reconfigured.length} reconfigured, ${result.deleted.length} deleted.`,
    );
    return TOPICS_EXIT.ok;
  });
}

function describeProject(project: TopicsProject): string {
  const derived = project.topics.filter((topic) => topic.derivedFrom).length;
  const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
  return `${count(project.files.length, 'file')} valid: ${count(project.topics.length, 'topic')} (${derived} derived retry/dead-letter), ${count(project.pipelines.length, 'pipeline')}`;
}

function brokersOf(options: TopicsCommandOptions): string[] {
  const text = options.brokers ?? (process.env.TXSTREAM_BROKERS || undefined) ?? (process.env.KAFKA_BROKERS || undefined);
  if (!text) throw new ConfigError('no brokers: set --brokers or TXSTREAM_BROKERS / KAFKA_BROKERS (host:port[,host:port])');
  const brokers = text
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  const bad = brokers.filter((broker) => !/^[^\s:,]+:\d+$/.test(broker));
  if (bad.length > 0) throw new ConfigError(`brokers must be host:port, got ${bad.join(', ')}`);
  return brokers;
}

async function withAdmin<T>(brokers: string[], use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({
    clientId: 'txstream-topics',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 3 },
  }).admin();
  try {
    await admin.connect();
  } catch (error) {
    throw new BrokerUnreachableError(brokers, { cause: error });
  }
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

function report(io: TopicsIo, error: unknown): number {
  if (error instanceof ConfigError || error instanceof PlanRefusedError || error instanceof BrokerUnreachableError || error instanceof TopicsApplyError) {
    io.err(`txstream: ${error.message}`);
  } else {
    io.err(`txstream: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}`);
  }
  return TOPICS_EXIT.error;
}

function guarded(io: TopicsIo, run: () => number): number {
  try {
    return run();
  } catch (error) {
    return report(io, error);
  }
}

async function guardedAsync(io: TopicsIo, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    return report(io, error);
  }
}
