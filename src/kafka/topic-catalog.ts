import kafkajs, { type Admin } from 'kafkajs';
import type { Logger } from 'pino';
import { Serial } from '../util/serial.js';
import { DEFAULT_MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, RECORD_BATCH_OVERHEAD } from './record-size.js';

// KafkaJS is CommonJS and its enums are not visible as named ESM exports.
const { ConfigResourceTypes } = kafkajs;

export interface TopicLimits {
  readonly partitions: number;
  /** The topic's max.message.bytes: the largest record batch the broker appends. */
  readonly maxMessageBytes: number;
}

/**
 * Partition counts and max.message.bytes of the topics a pipeline writes, read once
 * and cached: every output is checked against them before a unit is written. A topic
 * is read again when an output names a partition the cache does not know, or after a
 * write was refused, at most once per `refreshMinIntervalMs` per topic.
 */
export class TopicCatalog {
  private readonly known = new Map<string, TopicLimits | null>();
  private readonly readAt = new Map<string, number>();
  /** One read at a time: tasks of the same pipeline share the catalog. */
  private readonly reads = new Serial();

  constructor(
    private readonly admin: Pick<Admin, 'fetchTopicMetadata' | 'describeConfigs'>,
    private readonly logger: Logger,
    private readonly refreshMinIntervalMs = 2_000,
  ) {}

  /** The topic's limits; undefined when it is not in the cluster (or was never read). */
  get(topic: string): TopicLimits | undefined {
    return this.known.get(topic) ?? undefined;
  }

  /** A produce request writing these topics stays under the smallest max.message.bytes among them. */
  requestLimit(topics: readonly string[]): number {
    let limit = MAX_REQUEST_BYTES;
    for (const topic of topics) {
      const limits = this.get(topic);
      if (limits) limit = Math.min(limit, limits.maxMessageBytes - RECORD_BATCH_OVERHEAD);
    }
    return Math.max(1, limit);
  }

  /** Reads the topics not read yet. */
  async load(topics: Iterable<string>): Promise<void> {
    const missing = [...new Set(topics)].filter((topic) => !this.known.has(topic));
    if (missing.length > 0) await this.read(missing);
  }

  /** Reads the topics again, unless read within the last refreshMinIntervalMs. */
  async refresh(topics: Iterable<string>): Promise<void> {
    const now = Date.now();
    const stale = [...new Set(topics)].filter((topic) => now - (this.readAt.get(topic) ?? 0) >= this.refreshMinIntervalMs);
    if (stale.length > 0) await this.read(stale);
  }

  private read(topics: string[]): Promise<void> {
    return this.reads.run(() => this.readNow(topics));
  }

  private async readNow(topics: string[]): Promise<void> {
    const partitions = new Map<string, number>();
    // One request per topic: KafkaJS fails a whole metadata request when one topic is unknown.
    await Promise.all(
      topics.map(async (topic) => {
        try {
          const { topics: [metadata] = [] } = await this.admin.fetchTopicMetadata({ topics: [topic] });
          if (metadata) partitions.set(topic, metadata.partitions.length);
        } catch (error) {
          if ((error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
        }
      }),
    );
    const existing = topics.filter((topic) => partitions.has(topic));
    const limits = new Map<string, number>();
    if (existing.length > 0) {
      const { resources } = await this.admin.describeConfigs({
        includeSynonyms: false,
        resources: existing.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      });
      for (const resource of resources) {
        const entry = resource.configEntries.find((config) => config.configName === 'max.message.bytes');
        const value = Number(entry?.configValue);
        if (resource.errorCode === 0 && Number.isInteger(value) && value > 0) limits.set(resource.resourceName, value);
      }
    }
    const now = Date.now();
    for (const topic of topics) {
      const count = partitions.get(topic);
      const limit = limits.get(topic);
      this.readAt.set(topic, now);
      if (count === undefined) {
        this.known.set(topic, null);
        continue;
      }
      // Without a readable config, the broker default (message.max.bytes) is the safe guess.
      const next = { partitions: count, maxMessageBytes: limit ?? DEFAULT_MAX_MESSAGE_BYTES };
      const previous = this.known.get(topic);
      if (previous && (previous.partitions !== next.partitions || previous.maxMessageBytes !== next.maxMessageBytes)) {
        this.logger.info({ topic, before: previous, after: next }, 'output topic changed');
      }
      this.known.set(topic, next);
    }
  }
}
