import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Admin } from 'kafkajs';
import { loadSettings } from '../config/load.js';
import { settingsOf } from '../config/settings.js';
import { BrokerUnreachableError, ConfigError, errorMessage, KafkaSecurityError } from '../errors/index.js';
import { applyTopics, PlanRefusedError, readClusterTopics, TopicsApplyError } from '../topics/cluster.js';
import { topicsJsonSchema } from '../topics/format.js';
import { loadTopicsDir, type TopicsProject } from '../topics/load.js';
import { formatPlan, planHasChanges, planTopics, summaryOf } from '../topics/plan.js';
import { commandKafka, connectAdmin } from './connect.js';
import { addTopicsDirOption, flagsOf, topicsDirOf } from './run.js';

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
  /** The other connection flags (client id, SASL, TLS) by commander's camelCase name. */
  readonly [flag: string]: unknown;
  readonly scope?: string[];
  readonly allowDelete?: boolean;
}

export function registerTopicsCommands(program: Command, io: TopicsIo = processIo): Command {
  const topics = program.command('topics').description('topics and pipelines as code: the YAML files of topics/ against a cluster');
  // The connection settings of `txstream run` (flags, env, or the topics files), and nothing else.
  const common = (command: Command) => {
    addTopicsDirOption(command, 'folder of the topics files (*.yaml)');
    for (const spec of settingsOf('connection')) command.option(`--${spec.flag} <value>`, `${spec.description} (env ${spec.env.join(' / ')})`);
    return command
      .option('--scope <prefix...>', 'report (or delete) only unmanaged topics with these name prefixes')
      .option('--allow-delete', 'delete cluster topics the files do not declare; needs --scope, never deletes __*, _schemas, _confluent* or connect-* topics; Kafka cannot undo it');
  };
  const withDir = (options: Record<string, unknown>): TopicsCommandOptions => ({ ...options, dir: topicsDirOf(options) });

  common(topics.command('plan').description('show what apply would change; exit 0 when nothing, 2 when something')).action(
    async (options: Record<string, unknown>) => io.exit(await topicsPlan(withDir(options), io)),
  );
  common(topics.command('apply').description('create topics, add partitions and set configs as the files say; idempotent')).action(
    async (options: Record<string, unknown>) => io.exit(await topicsApply(withDir(options), io)),
  );
  addTopicsDirOption(
    topics.command('validate').description('check the files without a broker; every problem with its file and line'),
    'folder of the topics files (*.yaml)',
  ).action((options: Record<string, unknown>) => io.exit(topicsValidate({ dir: topicsDirOf(options) }, io)));
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
    const plan = await withAdmin(project, options, async (admin) =>
      planTopics(project.topics, await readClusterTopics(admin, project.topics, options.scope ?? []), options),
    );
    for (const line of formatPlan(plan)) io.out(line);
    return planHasChanges(plan) ? TOPICS_EXIT.changes : TOPICS_EXIT.ok;
  });
}

export async function topicsApply(options: TopicsCommandOptions, io: TopicsIo = processIo): Promise<number> {
  return guardedAsync(io, async () => {
    const project = loadTopicsDir(options.dir);
    const result = await withAdmin(project, options, (admin) => applyTopics(admin, project.topics, options));
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

/**
 * An admin client with the connection settings `txstream run` would use for this folder: flags, then
 * env, then the topics files' own `brokers:` and `security:` keys.
 */
async function withAdmin<T>(project: TopicsProject, options: TopicsCommandOptions, use: (admin: Admin) => Promise<T>): Promise<T> {
  const { settings } = loadSettings({
    flags: { ...flagsOf(options), brokers: options.brokers },
    env: process.env,
    fileLayer: { values: connectionOf(project.settings.worker), origin: options.dir },
  });
  const admin = await connectAdmin(commandKafka(settings, process.cwd(), 'topics'), settings);
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Only what connects: the files' pipeline and worker settings are not this command's business. */
function connectionOf(worker: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const keys = new Set(settingsOf('connection').map((spec) => spec.path[0] as string));
  return Object.fromEntries(Object.entries(worker).filter(([key]) => keys.has(key)));
}

function report(io: TopicsIo, error: unknown): number {
  if (
    error instanceof ConfigError ||
    error instanceof PlanRefusedError ||
    error instanceof BrokerUnreachableError ||
    error instanceof KafkaSecurityError ||
    error instanceof TopicsApplyError
  ) {
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
