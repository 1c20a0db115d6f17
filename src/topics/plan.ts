import { ConfigError } from '../errors/index.js';
import type { DesiredTopic } from './load.js';

/** A topic as the cluster has it. */
export interface ClusterTopic {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** The configs set on the topic itself (config source TOPIC_CONFIG), not the broker defaults. */
  readonly configs: Readonly<Record<string, string>>;
}

export type ConfigChange =
  | { readonly kind: 'set'; readonly name: string; readonly to: string }
  | { readonly kind: 'change'; readonly name: string; readonly from: string; readonly to: string }
  | { readonly kind: 'reset'; readonly name: string; readonly from: string };

export type PlanEntry =
  | { readonly kind: 'create'; readonly name: string; readonly topic: DesiredTopic }
  | {
      readonly kind: 'update';
      readonly name: string;
      readonly topic: DesiredTopic;
      /** Partitions to grow to, when more are wanted. */
      readonly partitions?: { readonly from: number; readonly to: number };
      readonly configs: readonly ConfigChange[];
    }
  | { readonly kind: 'delete'; readonly name: string; readonly current: ClusterTopic }
  /** Differences apply cannot make: a partition decrease, a replication-factor change, deleting without the flag. */
  | { readonly kind: 'refuse'; readonly name: string; readonly reason: string }
  /** In the cluster, not in the files: reported and left alone. */
  | { readonly kind: 'unmanaged'; readonly name: string; readonly current: ClusterTopic };

export interface TopicPlan {
  readonly entries: readonly PlanEntry[];
  /** Topics that match the files. */
  readonly unchanged: readonly string[];
}

export interface PlanOptions {
  /** Unmanaged topics become deletions (`--allow-delete`). */
  readonly allowDelete?: boolean;
  /** Only cluster topics with one of these prefixes count as unmanaged (all when empty). */
  readonly scope?: readonly string[];
}

/** Kafka's own topics (`__consumer_offsets`, `__transaction_state`, …) are never managed nor reported. */
export function isInternalTopic(name: string): boolean {
  return name.startsWith('__');
}

/**
 * Topics other tools keep (the schema registry's `_schemas`, Kafka Connect's `connect-*`
 * offsets/configs/status, Confluent's `_confluent*`) and Kafka's own: never deleted,
 * whatever the scope, because the files can never be expected to declare them.
 */
export function isProtectedTopic(name: string): boolean {
  return isInternalTopic(name) || name === '_schemas' || name.startsWith('_confluent') || name.startsWith('connect-');
}

/** The difference between what the files want and what the cluster has. Pure. */
export function planTopics(desired: readonly DesiredTopic[], cluster: readonly ClusterTopic[], options: PlanOptions = {}): TopicPlan {
  if (options.allowDelete && !(options.scope ?? []).some((prefix) => prefix.length > 0)) {
    // Without a scope every topic of the cluster the files do not name would go, other teams' and tools' included.
    throw new ConfigError('--allow-delete needs --scope <prefix...>: name the prefixes of the topics these files own (e.g. --scope orders.); nothing was changed');
  }
  if ((options.scope ?? []).some((prefix) => prefix.length === 0)) throw new ConfigError("--scope '' would match every topic; give a prefix");
  const current = new Map(cluster.map((topic) => [topic.name, topic]));
  const entries: PlanEntry[] = [];
  const unchanged: string[] = [];
  for (const topic of [...desired].sort((a, b) => a.name.localeCompare(b.name))) {
    const existing = current.get(topic.name);
    if (!existing) {
      entries.push({ kind: 'create', name: topic.name, topic });
      continue;
    }
    let refused = false;
    if (topic.partitions < existing.partitions) {
      refused = true;
      entries.push({
        kind: 'refuse',
        name: topic.name,
        reason: `partitions ${existing.partitions} → ${topic.partitions}: Kafka cannot remove partitions. Set partitions back to ${existing.partitions}, or create a new topic and move the data`,
      });
    }
    if (topic.replicationFactor !== undefined && topic.replicationFactor !== existing.replicationFactor) {
      refused = true;
      entries.push({
        kind: 'refuse',
        name: topic.name,
        reason: `replication factor ${existing.replicationFactor} → ${topic.replicationFactor}: changing it takes a partition reassignment (kafka-reassign-partitions.sh), which txstream does not do. Set replicationFactor back to ${existing.replicationFactor}`,
      });
    }
    const configs = diffConfigs(existing.configs, topic.configs);
    const partitions = topic.partitions > existing.partitions ? { from: existing.partitions, to: topic.partitions } : undefined;
    if (partitions || configs.length > 0) entries.push({ kind: 'update', name: topic.name, topic, partitions, configs });
    else if (!refused) unchanged.push(topic.name);
  }
  const wanted = new Set(desired.map((topic) => topic.name));
  const scope = options.scope ?? [];
  for (const topic of [...cluster].sort((a, b) => a.name.localeCompare(b.name))) {
    if (wanted.has(topic.name) || isInternalTopic(topic.name)) continue;
    if (scope.length > 0 && !scope.some((prefix) => topic.name.startsWith(prefix))) continue;
    const deletable = options.allowDelete && !isProtectedTopic(topic.name);
    entries.push(deletable ? { kind: 'delete', name: topic.name, current: topic } : { kind: 'unmanaged', name: topic.name, current: topic });
  }
  return { entries, unchanged };
}

function diffConfigs(current: Readonly<Record<string, string>>, wanted: Readonly<Record<string, string>>): ConfigChange[] {
  const changes: ConfigChange[] = [];
  const names = [...new Set([...Object.keys(current), ...Object.keys(wanted)])].sort();
  for (const name of names) {
    const from = current[name];
    const to = wanted[name];
    if (to === undefined && from !== undefined) changes.push({ kind: 'reset', name, from });
    else if (to !== undefined && from === undefined) changes.push({ kind: 'set', name, to });
    else if (to !== undefined && from !== undefined && from !== to) changes.push({ kind: 'change', name, from, to });
  }
  return changes;
}

/** True when apply would change the cluster, or when the files and the cluster disagree in a way apply refuses. */
export function planHasChanges(plan: TopicPlan): boolean {
  return plan.entries.some((entry) => entry.kind !== 'unmanaged');
}

export function refusalsOf(plan: TopicPlan): Array<Extract<PlanEntry, { kind: 'refuse' }>> {
  return plan.entries.filter((entry): entry is Extract<PlanEntry, { kind: 'refuse' }> => entry.kind === 'refuse');
}

/** The plan as a review diff: `+` create, `~` change, `-` delete, `!` refused or unmanaged. */
export function formatPlan(plan: TopicPlan): string[] {
  const lines: string[] = [];
  for (const entry of plan.entries) {
    switch (entry.kind) {
      case 'create': {
        const { topic } = entry;
        const rf = topic.replicationFactor === undefined ? 'the broker default' : String(topic.replicationFactor);
        lines.push(`+ ${topic.name}: create with ${topic.partitions} partition${topic.partitions === 1 ? '' : 's'}, replication factor ${rf}  (${topic.origin})`);
        for (const [name, value] of Object.entries(topic.configs).sort(([a], [b]) => a.localeCompare(b))) lines.push(`    + ${name} = ${value}`);
        break;
      }
      case 'update':
        lines.push(`~ ${entry.name}  (${entry.topic.origin})`);
        if (entry.partitions) lines.push(`    ~ partitions ${entry.partitions.from} → ${entry.partitions.to}`);
        for (const change of entry.configs) {
          if (change.kind === 'set') lines.push(`    + ${change.name} = ${change.to}`);
          else if (change.kind === 'change') lines.push(`    ~ ${change.name} = ${change.from} → ${change.to}`);
          else lines.push(`    - ${change.name} = ${change.from}  (reset to the broker default)`);
        }
        break;
      case 'delete':
        lines.push(`- ${entry.name}: delete (${entry.current.partitions} partitions; not in the files, --allow-delete given)`);
        break;
      case 'refuse':
        lines.push(`! ${entry.name}: refused: ${entry.reason}`);
        break;
      case 'unmanaged':
        lines.push(`! ${entry.name}: in the cluster but not in the files (${entry.current.partitions} partitions); left alone`);
        break;
    }
  }
  lines.push(summaryOf(plan));
  return lines;
}

export function summaryOf(plan: TopicPlan): string {
  const count = (kind: PlanEntry['kind']) => plan.entries.filter((entry) => entry.kind === kind).length;
  const parts = [
    `${count('create')} to create`,
    `${count('update')} to change`,
    `${count('delete')} to delete`,
    `${count('refuse')} refused`,
    `${count('unmanaged')} unmanaged`,
    `${plan.unchanged.length} unchanged`,
  ];
  return `Plan: ${parts.join(', ')}.`;
}
