import { describe, expect, it } from 'vitest';
import type { DesiredTopic } from '../../src/topics/load.js';
import { type ClusterTopic, formatPlan, planHasChanges, planTopics, refusalsOf } from '../../src/topics/plan.js';

/** The plan: a pure diff of the files' topics against the cluster's. */

const want = (name: string, partitions: number, configs: Record<string, string> = {}, replicationFactor?: number): DesiredTopic => ({
  name,
  partitions,
  replicationFactor,
  configs,
  origin: `topics/t.yaml:1`,
});

const has = (name: string, partitions: number, configs: Record<string, string> = {}, replicationFactor = 1): ClusterTopic => ({
  name,
  partitions,
  replicationFactor,
  configs,
});

describe('planTopics', () => {
  it('creates what the cluster lacks, and prints it as + lines', () => {
    const plan = planTopics([want('orders', 3, { 'retention.ms': '1000' }, 1)], []);
    expect(plan.entries).toEqual([expect.objectContaining({ kind: 'create', name: 'orders' })]);
    expect(planHasChanges(plan)).toBe(true);
    expect(formatPlan(plan)).toEqual([
      '+ orders: create with 3 partitions, replication factor 1  (topics/t.yaml:1)',
      '    + retention.ms = 1000',
      'Plan: 1 to create, 0 to change, 0 to delete, 0 refused, 0 unmanaged, 0 unchanged.',
    ]);
  });

  it('has nothing to do when the cluster matches, whatever its broker defaults', () => {
    const plan = planTopics([want('orders', 3, { 'cleanup.policy': 'compact' })], [has('orders', 3, { 'cleanup.policy': 'compact' }, 3)]);
    expect(plan.entries).toEqual([]);
    expect(plan.unchanged).toEqual(['orders']);
    expect(planHasChanges(plan)).toBe(false);
    expect(formatPlan(plan)).toEqual(['Plan: 0 to create, 0 to change, 0 to delete, 0 refused, 0 unmanaged, 1 unchanged.']);
  });

  it('grows partitions and sets, changes and resets configs as ~ lines', () => {
    const plan = planTopics(
      [want('orders', 6, { 'retention.ms': '2000', 'min.insync.replicas': '1' })],
      [has('orders', 3, { 'retention.ms': '1000', 'segment.ms': '60000' })],
    );
    expect(plan.entries).toEqual([
      {
        kind: 'update',
        name: 'orders',
        topic: expect.objectContaining({ name: 'orders' }),
        partitions: { from: 3, to: 6 },
        configs: [
          { kind: 'set', name: 'min.insync.replicas', to: '1' },
          { kind: 'change', name: 'retention.ms', from: '1000', to: '2000' },
          { kind: 'reset', name: 'segment.ms', from: '60000' },
        ],
      },
    ]);
    expect(formatPlan(plan)).toEqual([
      '~ orders  (topics/t.yaml:1)',
      '    ~ partitions 3 → 6',
      '    + min.insync.replicas = 1',
      '    ~ retention.ms = 1000 → 2000',
      '    - segment.ms = 60000  (reset to the broker default)',
      'Plan: 0 to create, 1 to change, 0 to delete, 0 refused, 0 unmanaged, 0 unchanged.',
    ]);
  });

  it('refuses a partition decrease and a replication-factor change, with what to do instead', () => {
    const plan = planTopics([want('orders', 2, {}, 3), want('payments', 1)], [has('orders', 4, {}, 1), has('payments', 1)]);
    const refusals = refusalsOf(plan);
    expect(refusals.map((r) => r.reason)).toEqual([
      'partitions 4 → 2: Kafka cannot remove partitions. Set partitions back to 4, or create a new topic and move the data',
      'replication factor 1 → 3: changing it takes a partition reassignment (kafka-reassign-partitions.sh), which txstream does not do. Set replicationFactor back to 1',
    ]);
    expect(planHasChanges(plan)).toBe(true);
    expect(plan.unchanged).toEqual(['payments']);
    expect(formatPlan(plan)[0]).toBe(`! orders: refused: ${refusals[0]?.reason}`);
  });

  it('still plans the config changes of a topic whose partition decrease is refused', () => {
    const plan = planTopics([want('orders', 1, { 'retention.ms': '5' })], [has('orders', 2)]);
    expect(plan.entries.map((entry) => entry.kind)).toEqual(['refuse', 'update']);
  });

  it('reports unmanaged topics (not internal ones) and leaves them alone; --allow-delete turns them into deletions', () => {
    const cluster = [has('orders', 1), has('legacy', 2), has('__consumer_offsets', 50), has('other-team.events', 1)];
    const plan = planTopics([want('orders', 1)], cluster);
    expect(plan.entries).toEqual([
      expect.objectContaining({ kind: 'unmanaged', name: 'legacy' }),
      expect.objectContaining({ kind: 'unmanaged', name: 'other-team.events' }),
    ]);
    // Unmanaged topics alone change nothing: plan exits 0.
    expect(planHasChanges(plan)).toBe(false);
    expect(formatPlan(plan)).toContain('! legacy: in the cluster but not in the files (2 partitions); left alone');

    const scoped = planTopics([want('orders', 1)], cluster, { scope: ['leg'], allowDelete: true });
    expect(scoped.entries).toEqual([expect.objectContaining({ kind: 'delete', name: 'legacy' })]);
    expect(planHasChanges(scoped)).toBe(true);
    expect(formatPlan(scoped)[0]).toBe('- legacy: delete (2 partitions; not in the files, --allow-delete given)');
  });

  it('orders entries by topic name, so the same state always prints the same plan', () => {
    const plan = planTopics([want('b', 1), want('a', 1), want('c', 2)], [has('c', 1)]);
    expect(plan.entries.map((entry) => `${entry.kind}:${entry.name}`)).toEqual(['create:a', 'create:b', 'update:c']);
  });
});

describe('planTopics --allow-delete safety', () => {
  const cluster = ['orders.legacy', '_schemas', 'connect-offsets', '__consumer_offsets', '_confluent-metrics'].map((name) => ({ name, partitions: 1, replicationFactor: 1, configs: {} }));

  it('refuses --allow-delete without a scope, and an empty scope prefix', () => {
    expect(() => planTopics([], cluster, { allowDelete: true })).toThrow('--allow-delete needs --scope <prefix...>');
    expect(() => planTopics([], cluster, { allowDelete: true, scope: [''] })).toThrow('--allow-delete needs --scope');
  });

  it('never deletes internal or other tools\' topics, even within the scope', () => {
    const plan = planTopics([], cluster, { allowDelete: true, scope: ['orders.', '_', 'connect-'] });
    expect(plan.entries.map((entry) => [entry.kind, entry.name])).toEqual([
      ['unmanaged', '_confluent-metrics'],
      ['unmanaged', '_schemas'],
      ['unmanaged', 'connect-offsets'],
      ['delete', 'orders.legacy'],
    ]);
  });
});
