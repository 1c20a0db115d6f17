import kafkajs, { type Admin } from 'kafkajs';

// KafkaJS is CommonJS and its enums are not visible as named ESM exports.
const { ConfigResourceTypes, ConfigSource } = kafkajs;
import type { DesiredTopic } from './load.js';
import { type ClusterTopic, isInternalTopic, type PlanEntry, type PlanOptions, planTopics, refusalsOf, type TopicPlan } from './plan.js';

/** Reading the cluster's topics and making a plan real, with the KafkaJS admin client. */

/**
 * The cluster's topics that matter to a plan: the desired ones that exist, and the
 * others within the scope (internal `__` topics never). Configs are those set on the topic.
 */
export async function readClusterTopics(admin: Admin, desired: readonly DesiredTopic[], scope: readonly string[] = []): Promise<ClusterTopic[]> {
  const wanted = new Set(desired.map((topic) => topic.name));
  const relevant = (name: string) =>
    !isInternalTopic(name) && (wanted.has(name) || scope.length === 0 || scope.some((prefix) => name.startsWith(prefix)));
  // A topic deleted between the listing and the metadata request (another client's) fails the request: list again.
  for (let attempt = 1; ; attempt++) {
    const names = (await admin.listTopics()).filter(relevant).sort();
    try {
      return await describeTopics(admin, names, wanted);
    } catch (error) {
      if (attempt >= 5 || (error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

async function describeTopics(admin: Admin, names: readonly string[], wanted: ReadonlySet<string>): Promise<ClusterTopic[]> {
  if (names.length === 0) return [];
  const { topics } = await admin.fetchTopicMetadata({ topics: [...names] });
  // Configs matter only for the topics the files manage; unmanaged ones are reported by name and size.
  const configs = await topicConfigs(
    admin,
    names.filter((name) => wanted.has(name)),
  );
  return topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.length,
    replicationFactor: Math.max(0, ...topic.partitions.map((partition) => partition.replicas.length)),
    configs: configs.get(topic.name) ?? {},
  }));
}

async function topicConfigs(admin: Admin, names: readonly string[]): Promise<Map<string, Record<string, string>>> {
  const result = new Map<string, Record<string, string>>();
  for (let start = 0; start < names.length; start += 100) {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: names.slice(start, start + 100).map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    });
    for (const resource of resources) {
      if (resource.errorCode !== 0) {
        throw Object.assign(new Error(`describeConfigs of topic ${resource.resourceName}: ${resource.errorMessage || `error code ${resource.errorCode}`}`), {
          type: resource.errorCode === 3 ? 'UNKNOWN_TOPIC_OR_PARTITION' : undefined,
        });
      }
      const set: Record<string, string> = {};
      for (const entry of resource.configEntries) {
        const onTopic = entry.configSource === undefined ? !entry.isDefault : entry.configSource === ConfigSource.TOPIC_CONFIG;
        if (onTopic && !entry.isSensitive) set[entry.configName] = entry.configValue;
      }
      result.set(resource.resourceName, set);
    }
  }
  return result;
}

/** A plan that cannot be applied as a whole: nothing was changed. */
export class PlanRefusedError extends Error {
  override readonly name = 'PlanRefusedError';
  constructor(readonly refusals: ReadonlyArray<Extract<PlanEntry, { kind: 'refuse' }>>) {
    super(
      `refusing to apply: ${refusals.length} change${refusals.length === 1 ? '' : 's'} cannot be made safely, so nothing was changed:\n${refusals
        .map((entry) => `  ! ${entry.name}: ${entry.reason}`)
        .join('\n')}`,
    );
  }
}

export interface ApplyResult {
  readonly plan: TopicPlan;
  readonly created: readonly string[];
  readonly grown: readonly string[];
  readonly reconfigured: readonly string[];
  readonly deleted: readonly string[];
}

/**
 * Plans against the cluster as it is now and makes the changes: create, grow
 * partitions, set configs, and (with allowDelete) delete. Refused differences stop
 * everything before the first change. Running it again changes nothing.
 */
export async function applyTopics(admin: Admin, desired: readonly DesiredTopic[], options: PlanOptions = {}): Promise<ApplyResult> {
  const plan = planTopics(desired, await readClusterTopics(admin, desired, options.scope), options);
  const refusals = refusalsOf(plan);
  if (refusals.length > 0) throw new PlanRefusedError(refusals);
  const creates = plan.entries.filter((entry): entry is Extract<PlanEntry, { kind: 'create' }> => entry.kind === 'create');
  const updates = plan.entries.filter((entry): entry is Extract<PlanEntry, { kind: 'update' }> => entry.kind === 'update');
  const deletes = plan.entries.filter((entry): entry is Extract<PlanEntry, { kind: 'delete' }> => entry.kind === 'delete');

  if (creates.length > 0) {
    // Returns false, not an error, for topics that exist already (created meanwhile): still idempotent.
    await admin.createTopics({
      waitForLeaders: true,
      topics: creates.map(({ topic }) => ({
        topic: topic.name,
        numPartitions: topic.partitions,
        replicationFactor: topic.replicationFactor ?? -1,
        configEntries: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  const grown = updates.filter((entry) => entry.partitions !== undefined);
  if (grown.length > 0) {
    await admin.createPartitions({
      topicPartitions: grown.map((entry) => ({ topic: entry.name, count: entry.partitions?.to ?? entry.topic.partitions })),
    });
  }
  const reconfigured = updates.filter((entry) => entry.configs.length > 0);
  if (reconfigured.length > 0) {
    // AlterConfigs replaces a topic's whole config set: send every config the files want, so the ones they dropped reset.
    await admin.alterConfigs({
      validateOnly: false,
      resources: reconfigured.map((entry) => ({
        type: ConfigResourceTypes.TOPIC,
        name: entry.name,
        configEntries: Object.entries(entry.topic.configs).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  if (deletes.length > 0) await admin.deleteTopics({ topics: deletes.map((entry) => entry.name) });
  return {
    plan,
    created: creates.map((entry) => entry.name),
    grown: grown.map((entry) => entry.name),
    reconfigured: reconfigured.map((entry) => entry.name),
    deleted: deletes.map((entry) => entry.name),
  };
}
