import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { registerTopicsCommands, topicsApply, topicsPlan, type TopicsIo } from '../../src/cli/topics.js';
import { createTopics, uniqueName, withAdmin } from '../support/kafka.js';

/**
 * `txstream topics plan|apply` against the suite's real broker. Every test has its own topic
 * prefix and passes it as --scope, so the other test files' topics are not "unmanaged" here.
 */

const brokers = inject('kafkaBrokers');
const { ConfigResourceTypes, ConfigSource } = kafkajs;
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function topicsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'txstream-topics-it-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'handlers'), { recursive: true });
  writeFileSync(join(dir, 'handlers', 'pass.ts'), 'export default (record: { value: unknown }) => ({ value: record.value });\n');
  write(dir, files);
  return dir;
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

function capture(): { io: TopicsIo; result: () => Omit<Run, 'code'>; exitCodes: number[] } {
  const out: string[] = [];
  const err: string[] = [];
  const exitCodes: number[] = [];
  return { io: { out: (line) => out.push(line), err: (line) => err.push(line), exit: (code) => exitCodes.push(code) }, result: () => ({ out, err }), exitCodes };
}

async function plan(dir: string, scope: string, extra: { allowDelete?: boolean } = {}): Promise<Run> {
  const { io, result } = capture();
  const code = await topicsPlan({ dir, brokers: brokers.join(','), scope: [scope], ...extra }, io);
  return { code, ...result() };
}

async function apply(dir: string, scope: string, extra: { allowDelete?: boolean } = {}): Promise<Run> {
  const { io, result } = capture();
  const code = await topicsApply({ dir, brokers: brokers.join(','), scope: [scope], ...extra }, io);
  return { code, ...result() };
}

/** Partitions and the configs set on each topic, as the cluster has them. */
async function describe_(names: string[]): Promise<Map<string, { partitions: number; configs: Record<string, string> }>> {
  return withAdmin(brokers, async (admin) => {
    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    });
    return new Map(
      topics.map((topic) => {
        const entries = resources.find((resource) => resource.resourceName === topic.name)?.configEntries ?? [];
        const configs = Object.fromEntries(
          entries.filter((entry) => entry.configSource === ConfigSource.TOPIC_CONFIG).map((entry) => [entry.configName, entry.configValue]),
        );
        return [topic.name, { partitions: topic.partitions.length, configs }];
      }),
    );
  });
}

async function topicNames(prefix: string): Promise<string[]> {
  return withAdmin(brokers, async (admin) => (await admin.listTopics()).filter((name) => name.startsWith(prefix)).sort());
}

function filesFor(p: string, options: { partitions?: number; retention?: number; extraConfig?: string } = {}): Record<string, string> {
  return {
    'topics.yaml': `topics:
  - name: ${p}.orders
    partitions: ${options.partitions ?? 3}
    configs:
      retention.ms: ${options.retention ?? 604800000}
      cleanup.policy: delete${options.extraConfig ? `\n      ${options.extraConfig}` : ''}
  - name: ${p}.enriched
    partitions: 2
`,
    'pipelines.yaml': `pipelines:
  - name: enrich
    input: ${p}.orders
    output: ${p}.enriched
    handler: { module: ./handlers/pass.ts }
    errors: { onError: retry, attempts: 2 }
    retryTopics: { partitions: 1 }
    deadLetterTopics: { partitions: 1, configs: { retention.ms: 2592000000 } }
`,
  };
}

describe('txstream topics plan and apply against a real broker', () => {
  it('creates everything from empty, and a second apply is a no-op with plan exit 0', async () => {
    const p = uniqueName('tp-create');
    const dir = topicsDir(filesFor(p));

    const first = await plan(dir, p);
    expect(first.err).toEqual([]);
    expect(first.code).toBe(2);
    expect(first.out).toContain(`+ ${p}.orders: create with 3 partitions, replication factor the broker default  (${join(dir, 'topics.yaml')}:2)`);
    expect(first.out).toContain('    + retention.ms = 604800000');
    expect(first.out.filter((line) => line.startsWith('+ '))).toHaveLength(5);
    expect(first.out.at(-1)).toBe('Plan: 5 to create, 0 to change, 0 to delete, 0 refused, 0 unmanaged, 0 unchanged.');

    const applied = await apply(dir, p);
    expect(applied.err).toEqual([]);
    expect(applied.code).toBe(0);
    expect(applied.out.at(-1)).toBe('Applied: 5 created, 0 grown, 0 reconfigured, 0 deleted.');

    expect(await topicNames(p)).toEqual([`${p}.enriched`, `${p}.orders`, `${p}.orders.dlt`, `${p}.orders.retry.1`, `${p}.orders.retry.2`]);
    const cluster = await describe_([`${p}.orders`, `${p}.orders.dlt`, `${p}.orders.retry.1`]);
    expect(cluster.get(`${p}.orders`)).toEqual({ partitions: 3, configs: { 'retention.ms': '604800000', 'cleanup.policy': 'delete' } });
    // Derived topics: the input's configs, with the pipeline's overrides.
    expect(cluster.get(`${p}.orders.dlt`)).toEqual({ partitions: 1, configs: { 'retention.ms': '2592000000', 'cleanup.policy': 'delete' } });
    expect(cluster.get(`${p}.orders.retry.1`)).toEqual({ partitions: 1, configs: { 'retention.ms': '604800000', 'cleanup.policy': 'delete' } });

    const second = await plan(dir, p);
    expect(second).toEqual({ code: 0, out: ['Plan: 0 to create, 0 to change, 0 to delete, 0 refused, 0 unmanaged, 5 unchanged.'], err: [] });
    const again = await apply(dir, p);
    expect(again.code).toBe(0);
    expect(again.out).toEqual([`Nothing to change: the cluster matches ${dir}. 0 to create, 0 to change, 0 to delete, 0 refused, 0 unmanaged, 5 unchanged.`]);
  });

  it('plans and applies a config change and a partition increase', async () => {
    const p = uniqueName('tp-change');
    const dir = topicsDir(filesFor(p));
    expect((await apply(dir, p)).code).toBe(0);

    // Retention changed, cleanup.policy dropped (back to the broker default), min.insync.replicas added, 3 → 5 partitions.
    write(dir, {
      'topics.yaml': filesFor(p, { partitions: 5, retention: 86400000 })['topics.yaml']?.replace('      cleanup.policy: delete\n', '      min.insync.replicas: 1\n') ?? '',
    });
    const planned = await plan(dir, p);
    expect(planned.code).toBe(2);
    const ordersBlock = planned.out.slice(planned.out.findIndex((line) => line.startsWith(`~ ${p}.orders `)));
    expect(ordersBlock.slice(0, 5)).toEqual([
      `~ ${p}.orders  (${join(dir, 'topics.yaml')}:2)`,
      '    ~ partitions 3 → 5',
      '    - cleanup.policy = delete  (reset to the broker default)',
      '    + min.insync.replicas = 1',
      '    ~ retention.ms = 604800000 → 86400000',
    ]);
    // The derived topics follow their input's configs.
    expect(planned.out).toContain(`~ ${p}.orders.retry.1  (derived from pipeline 'enrich' (${join(dir, 'pipelines.yaml')}:2))`);

    const applied = await apply(dir, p);
    expect(applied.err).toEqual([]);
    expect(applied.out.at(-1)).toBe('Applied: 0 created, 1 grown, 4 reconfigured, 0 deleted.');
    const cluster = await describe_([`${p}.orders`, `${p}.orders.retry.2`]);
    expect(cluster.get(`${p}.orders`)).toEqual({ partitions: 5, configs: { 'retention.ms': '86400000', 'min.insync.replicas': '1' } });
    expect(cluster.get(`${p}.orders.retry.2`)).toEqual({ partitions: 1, configs: { 'retention.ms': '86400000', 'min.insync.replicas': '1' } });
    expect((await plan(dir, p)).code).toBe(0);
  });

  it('refuses a partition decrease, changes nothing, and says what to do', async () => {
    const p = uniqueName('tp-shrink');
    const dir = topicsDir(filesFor(p));
    expect((await apply(dir, p)).code).toBe(0);

    // A decrease of one topic, and a harmless config change of the same plan.
    write(dir, { 'topics.yaml': filesFor(p, { partitions: 2, retention: 1000000 })['topics.yaml'] ?? '' });
    const planned = await plan(dir, p);
    expect(planned.code).toBe(2);
    expect(planned.out).toContain(
      `! ${p}.orders: refused: partitions 3 → 2: Kafka cannot remove partitions. Set partitions back to 3, or create a new topic and move the data`,
    );

    const applied = await apply(dir, p);
    expect(applied.code).toBe(1);
    expect(applied.err).toEqual([
      `txstream: refusing to apply: 1 change cannot be made safely, so nothing was changed:\n  ! ${p}.orders: partitions 3 → 2: Kafka cannot remove partitions. Set partitions back to 3, or create a new topic and move the data`,
    ]);
    const cluster = await describe_([`${p}.orders`]);
    expect(cluster.get(`${p}.orders`)).toEqual({ partitions: 3, configs: { 'retention.ms': '604800000', 'cleanup.policy': 'delete' } });
  });

  it('names the topic, the setting and the value the broker refuses, and changes nothing', async () => {
    // segment.jitter.ms is left to the broker (validate checks the common configs only): it refuses a negative one.
    const p = uniqueName('tp-refused');
    const dir = topicsDir(filesFor(p, { extraConfig: 'segment.jitter.ms: -5' }));
    const created = await apply(dir, p);
    expect(created.code).toBe(1);
    expect(created.err).toHaveLength(1);
    expect(created.err[0]).toMatch(/^txstream: the broker refuses 4 change\(s\), so nothing was changed:\n/);
    expect(created.err[0]).toContain(`\n  - ${p}.orders: segment.jitter.ms = -5: INVALID_CONFIG`);
    expect(created.err[0]).toContain(`\n  - ${p}.orders.dlt: segment.jitter.ms = -5: INVALID_CONFIG`);
    expect(await topicNames(p)).toEqual([]);

    // The same refusal of a change to topics that exist.
    write(dir, filesFor(p));
    expect((await apply(dir, p)).code).toBe(0);
    write(dir, filesFor(p, { extraConfig: 'segment.jitter.ms: -5' }));
    const changed = await apply(dir, p);
    expect(changed.code).toBe(1);
    expect(changed.err[0]).toContain(`\n  - ${p}.orders: segment.jitter.ms = -5: `);
    expect(changed.err[0]).not.toContain('retention.ms =');
    expect((await describe_([`${p}.orders`])).get(`${p}.orders`)?.configs).toEqual({ 'retention.ms': '604800000', 'cleanup.policy': 'delete' });
  });

  it('reports a topic the files do not manage and leaves it alone; --allow-delete deletes it', async () => {
    const p = uniqueName('tp-unmanaged');
    const dir = topicsDir(filesFor(p));
    expect((await apply(dir, p)).code).toBe(0);
    await createTopics(brokers, [{ topic: `${p}.legacy`, partitions: 2 }]);

    const planned = await plan(dir, p);
    expect(planned.out).toEqual([
      `! ${p}.legacy: in the cluster but not in the files (2 partitions); left alone`,
      'Plan: 0 to create, 0 to change, 0 to delete, 0 refused, 1 unmanaged, 5 unchanged.',
    ]);
    // Nothing would change: CI passes.
    expect(planned.code).toBe(0);
    const applied = await apply(dir, p);
    expect(applied.code).toBe(0);
    expect(await topicNames(`${p}.legacy`)).toEqual([`${p}.legacy`]);

    const deleting = await plan(dir, p, { allowDelete: true });
    expect(deleting.code).toBe(2);
    expect(deleting.out[0]).toBe(`- ${p}.legacy: delete (2 partitions; not in the files, --allow-delete given)`);
    const deleted = await apply(dir, p, { allowDelete: true });
    expect(deleted.out.at(-1)).toBe('Applied: 0 created, 0 grown, 0 reconfigured, 1 deleted.');
    await expect.poll(() => topicNames(`${p}.legacy`), { timeout: 15_000 }).toEqual([]);
    expect(await topicNames(p)).toHaveLength(5);
  });

  it('runs as `txstream topics plan|apply` through commander, with the exit codes CI relies on', async () => {
    const p = uniqueName('tp-cli');
    const dir = topicsDir(filesFor(p));
    const run = async (args: string[]) => {
      const { io, result, exitCodes } = capture();
      const program = new Command('txstream').exitOverride();
      registerTopicsCommands(program, io);
      await program.parseAsync(['topics', ...args, '--dir', dir, '--brokers', brokers.join(','), '--scope', p], { from: 'user' });
      return { code: exitCodes.at(-1), ...result() };
    };
    expect((await run(['plan'])).code).toBe(2);
    expect((await run(['apply'])).code).toBe(0);
    expect((await run(['plan'])).code).toBe(0);
  });

  it('exits 1 with every problem when the files are invalid, before talking to a broker', async () => {
    const dir = topicsDir({ 'bad.yaml': 'topics:\n  - name: x\n    partitions: many\n' });
    const { io, result } = capture();
    const code = await topicsPlan({ dir, brokers: '127.0.0.1:1' }, io);
    expect(code).toBe(1);
    expect(result().err).toEqual([
      `txstream: 1 problem in the topics files:\n  ${join(dir, 'bad.yaml')}:3:17 topics[0].partitions: expected a number, got 'many' (a string)`,
    ]);
  });

  it('exits 1 with one line when no broker answers', async () => {
    const dir = topicsDir(filesFor(uniqueName('tp-nobroker')));
    const { io, result } = capture();
    const code = await topicsPlan({ dir, brokers: '127.0.0.1:1' }, io);
    expect(code).toBe(1);
    expect(result().err).toEqual([expect.stringMatching(/^txstream: cannot reach Kafka at 127\.0\.0\.1:1: /)]);
  });
});
