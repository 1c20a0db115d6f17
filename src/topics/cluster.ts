import kafkajs, { type Admin } from 'kafkajs';

// KafkaJS is CommonJS and its enums are not visible as named ESM exports.
const { ConfigResourceTypes, ConfigSource } = kafkajs;
import { ConfigError, errorMessage } from '../errors/index.js';
import { pollUntil } from '../util/poll.js';
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

  const grown = updates.filter((entry) => entry.partitions !== undefined);
  const reconfigured = updates.filter((entry) => entry.configs.length > 0);
  const newTopics = creates.map(({ topic }) => ({
    topic: topic.name,
    numPartitions: topic.partitions,
    replicationFactor: topic.replicationFactor ?? -1,
    configEntries: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
  }));
  // AlterConfigs replaces a topic's whole config set: send every config the files want, so the ones they dropped reset.
  const configResources = reconfigured.map((entry) => ({
    type: ConfigResourceTypes.TOPIC,
    name: entry.name,
    configEntries: Object.entries(entry.topic.configs).map(([name, value]) => ({ name, value })),
  }));

  // The broker checks config values (KafkaJS does not): ask it first, so a bad value changes nothing at all.
  const invalid: string[] = [];
  if (newTopics.length > 0) {
    const refusals = await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: newTopics }).then(
      () => [],
      (error: unknown) => perTopicErrors(error).filter((entry) => entry.type !== 'TOPIC_ALREADY_EXISTS'),
    );
    for (const refusal of refusals) {
      const topic = newTopics.find((candidate) => candidate.topic === refusal.topic);
      if (!topic) continue;
      const attempt = (configEntries: Array<{ name: string; value: string }>) =>
        admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ ...topic, configEntries }] }).then(
          () => undefined,
          (error: unknown) => perTopicErrors(error)[0]?.reason ?? errorMessage(error),
        );
      invalid.push(...(await refusedSettings(refusal.topic, refusal.reason, topic.configEntries, attempt)));
    }
  }
  if (configResources.length > 0) {
    const attemptAlter = (name: string, configEntries: Array<{ name: string; value: string }>) =>
      admin.alterConfigs({ validateOnly: true, resources: [{ type: ConfigResourceTypes.TOPIC, name, configEntries }] }).then(
        ({ resources }) => {
          const [resource] = resources as Array<{ errorCode: number; errorMessage?: string | null }>;
          return resource && resource.errorCode !== 0 ? resource.errorMessage || `error code ${resource.errorCode}` : undefined;
        },
        (error: unknown) => perTopicErrors(error)[0]?.reason ?? errorMessage(error),
      );
    // One request for all. KafkaJS throws at the first topic refused, naming none (and the rest unasked):
    // then each topic is asked alone, and a refused one setting by setting.
    const allAccepted = await admin.alterConfigs({ validateOnly: true, resources: configResources }).then(
      ({ resources }) => (resources as Array<{ errorCode: number }>).every((resource) => resource.errorCode === 0),
      () => false,
    );
    for (const resource of allAccepted ? [] : configResources) {
      const reason = await attemptAlter(resource.name, resource.configEntries);
      if (reason !== undefined) invalid.push(...(await refusedSettings(resource.name, reason, resource.configEntries, (entries) => attemptAlter(resource.name, entries))));
    }
  }
  if (invalid.length > 0) throw new ConfigError(`the broker refuses ${invalid.length} change(s), so nothing was changed:\n  - ${invalid.join('\n  - ')}`);

  const done: string[] = [];
  const step = async (what: string, topics: readonly string[], run: () => Promise<unknown>) => {
    if (topics.length === 0) return;
    try {
      await run();
    } catch (error) {
      const failures = perTopicErrors(error).filter((entry) => entry.type !== 'TOPIC_ALREADY_EXISTS');
      if (failures.length === 0 && perTopicErrors(error).length > 0) return done.push(`${what} ${topics.join(', ')}`);
      const reasons = failures.length > 0 ? failures.map((entry) => `${entry.topic}: ${entry.reason}`) : [`${topics.join(', ')}: ${errorMessage(error)}`];
      throw new TopicsApplyError(`${what} failed for ${reasons.join('; ')}. Done before it: ${done.join('; ') || 'nothing'}. Run apply again once the cause is fixed; it picks up from here`);
    }
    done.push(`${what} ${topics.join(', ')}`);
  };
  // Returns false, not an error, for topics that exist already (created meanwhile): still idempotent.
  await step('create', creates.map((entry) => entry.name), async () => {
    // KafkaJS's own waitForLeaders gives up on the UNKNOWN_TOPIC_OR_PARTITION a broker answers
    // while the new topic's metadata is still spreading (seen on loaded machines): wait here.
    await admin.createTopics({ waitForLeaders: false, topics: newTopics });
    await waitForLeaders(admin, newTopics.map((topic) => topic.topic));
  });
  const counts = grown.map((entry) => ({ topic: entry.name, count: entry.partitions?.to ?? entry.topic.partitions }));
  await step('add partitions to', grown.map((entry) => entry.name), async () => {
    try {
      await admin.createPartitions({ topicPartitions: counts });
    } catch (error) {
      // Another apply of the same files grew them meanwhile: the controller refuses a count a topic
      // has already (INVALID_PARTITIONS), and the broker's metadata may show it a moment later only.
      // (KafkaJS throws the controller's first refusal as it is, naming no topic.)
      const countRefused = (error as { type?: unknown }).type === 'INVALID_PARTITIONS';
      if (!(await partitionCountsReached(admin, counts, countRefused ? 10_000 : 0))) throw error;
    }
  });
  await step('set configs of', reconfigured.map((entry) => entry.name), async () => {
    await admin.alterConfigs({ validateOnly: false, resources: configResources });
    await waitForConfigs(admin, new Map(reconfigured.map((entry) => [entry.name, entry.topic.configs])));
  });
  await step('delete', deletes.map((entry) => entry.name), async () => {
    try {
      await admin.deleteTopics({ topics: deletes.map((entry) => entry.name) });
    } catch (error) {
      // Another apply deleted them meanwhile.
      const left = new Set(await admin.listTopics());
      if (deletes.some((entry) => left.has(entry.name))) throw error;
    }
  });
  return {
    plan,
    created: creates.map((entry) => entry.name),
    grown: grown.map((entry) => entry.name),
    reconfigured: reconfigured.map((entry) => entry.name),
    deleted: deletes.map((entry) => entry.name),
  };
}

/**
 * Which settings of a topic the broker refuses, as `topic: name = value: reason`. It answers for the whole
 * topic, often with a generic INVALID_CONFIG (Configuration is invalid) that names nothing: ask again
 * (validateOnly, nothing changes) without settings, then with one at a time. When the topic is refused
 * without any setting, or only for their combination, the broker's answer is all there is to say.
 */
async function refusedSettings(
  topic: string,
  reason: string,
  entries: ReadonlyArray<{ name: string; value: string }>,
  attempt: (entries: Array<{ name: string; value: string }>) => Promise<string | undefined>,
): Promise<string[]> {
  if (entries.length === 0 || (await attempt([])) !== undefined) return [`${topic}: ${reason}`];
  const refused: string[] = [];
  for (const entry of entries) {
    const why = await attempt([entry]);
    if (why !== undefined) refused.push(`${topic}: ${entry.name} = ${entry.value}: ${why}`);
  }
  if (refused.length > 0) return refused;
  return [`${topic}: ${reason}, for these settings together (each alone is accepted): ${entries.map((entry) => `${entry.name} = ${entry.value}`).join(', ')}`];
}

/** Waits until every partition of the topics has a leader, tolerating metadata that has not caught up yet. */
async function waitForLeaders(admin: Admin, topics: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const topic of topics) {
    const led = await pollUntil(deadline, () =>
      admin
        .fetchTopicMetadata({ topics: [topic] })
        .then(({ topics: [metadata] }) => (metadata !== undefined && metadata.partitions.length > 0 && metadata.partitions.every((p) => p.leader >= 0)) || undefined)
        .catch((error: unknown) => {
          if ((error as { retriable?: boolean }).retriable === true) return undefined;
          throw error;
        }),
    );
    if (!led) throw new Error(`topic ${topic} was created but has no leader for every partition after ${timeoutMs} ms`);
  }
}

/**
 * Whether every topic has exactly its count of partitions, read from a broker's metadata for up to
 * `timeoutMs`: the controller has refused a count a topic already has before the broker answering
 * metadata has heard of it (two applies at once, seen in CI: one refused, the other had grown it).
 */
async function partitionCountsReached(admin: Admin, counts: ReadonlyArray<{ topic: string; count: number }>, timeoutMs: number): Promise<boolean> {
  const reached = await pollUntil(Date.now() + timeoutMs, async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: counts.map(({ topic }) => topic) });
    const have = new Map(topics.map((topic) => [topic.name, topic.partitions.length]));
    if (counts.every(({ topic, count }) => have.get(topic) === count)) return true;
    // A topic never loses partitions: one past its count will not come back to it.
    return counts.some(({ topic, count }) => (have.get(topic) ?? 0) > count) ? false : undefined;
  });
  return reached === true;
}

/**
 * Waits until the broker describes each topic with exactly the configs it was given. AlterConfigs
 * answers once the KRaft controller has committed the change; the broker's describeConfigs reads its
 * metadata cache, which can lag behind, so a `topics plan` (or any reader) right after apply saw the
 * old configs (seen on this machine under Node 24: apply, then describe, still the old retention.ms).
 */
async function waitForConfigs(admin: Admin, wanted: ReadonlyMap<string, Readonly<Record<string, string>>>, timeoutMs = 30_000): Promise<void> {
  const same = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([name, value]) => b[name] === value);
  let behind: string[] = [];
  const caughtUp = await pollUntil(Date.now() + timeoutMs, async () => {
    const current = await topicConfigs(admin, [...wanted.keys()]);
    behind = [...wanted].filter(([name, configs]) => !same(current.get(name) ?? {}, configs)).map(([name]) => name);
    return behind.length === 0 || undefined;
  });
  if (!caughtUp) throw new Error(`the broker still describes old configs for ${behind.join(', ')} ${timeoutMs} ms after it accepted the change`);
}

/** A change the broker refused half-way: says what was done before it and which topic failed, with the broker's reason. */
export class TopicsApplyError extends Error {
  override readonly name = 'TopicsApplyError';
}

/** The topics named in a KafkaJS admin error (one per topic for createTopics), with their reasons. */
function perTopicErrors(error: unknown): Array<{ topic: string; type?: string; reason: string }> {
  const errors = (error as { errors?: unknown[] }).errors;
  const list = Array.isArray(errors) ? errors : [error];
  return list
    .map((entry) => entry as { topic?: string; type?: string; message?: string })
    .filter((entry) => typeof entry.topic === 'string')
    .map((entry) => ({ topic: entry.topic as string, type: entry.type, reason: `${entry.type ?? 'error'} (${entry.message ?? 'no message'})` }));
}
