import { randomUUID } from 'node:crypto';
import { type Admin, Kafka, type KafkaMessage, logLevel, type Message } from 'kafkajs';
import { withAdmin as withKafkaAdmin } from '../../src/kafka/admin.js';
import { headersAsText } from '../../src/kafka/headers.js';
import { waitFor } from './wait.js';

/** Shared helpers for integration tests: unique names, topic setup, produce, read back. */

export function kafkaClient(brokers: string[], clientId = 'txstream-test'): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 5 } });
}

/** Every test names its own topics and groups, so files can run in parallel. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Admin calls against the suite's broker, retrying a young broker's transient errors. */
export function withAdmin<T>(brokers: string[], use: (admin: Admin) => Promise<T>, attempts = 20): Promise<T> {
  return withKafkaAdmin(kafkaClient(brokers), use, attempts);
}

export async function createTopics(brokers: string[], topics: Array<{ topic: string; partitions?: number }>): Promise<void> {
  await withAdmin(brokers, async (admin) => {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map(({ topic, partitions }) => ({ topic, numPartitions: partitions ?? 1 })),
    });
  });
}

export async function produce(brokers: string[], topic: string, messages: Message[], chunk = 500): Promise<void> {
  const producer = kafkaClient(brokers).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let start = 0; start < messages.length; start += chunk) {
      await producer.send({ topic, acks: -1, messages: messages.slice(start, start + chunk) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Writes `messages` in a transaction that aborts: records a read_committed consumer is never given, then the abort marker. */
export async function produceAborted(brokers: string[], topic: string, messages: Message[]): Promise<void> {
  const producer = kafkaClient(brokers).producer({ transactionalId: uniqueName('aborting'), idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const transaction = await producer.transaction();
    await transaction.send({ topic, acks: -1, messages });
    await transaction.abort();
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string>;
}

export interface ReadOptions {
  readonly readCommitted?: boolean;
  /** Stop once this holds (then wait quietMs more, so late duplicates are seen too). */
  readonly until?: (records: ReadRecord[]) => boolean;
  readonly quietMs?: number;
  readonly timeoutMs?: number;
}

/**
 * Reads topics from the beginning with a fresh group. Returns once `until` holds and
 * nothing new arrived for quietMs, or (without `until`) after quietMs of silence.
 */
export async function readTopics(brokers: string[], topics: string[], options: ReadOptions = {}): Promise<ReadRecord[]> {
  const { readCommitted = true, until, quietMs = 1500, timeoutMs = 60_000 } = options;
  const consumer = kafkaClient(brokers).consumer({
    groupId: uniqueName('reader'),
    readUncommitted: !readCommitted,
    maxWaitTimeInMs: 200,
  });
  const records: ReadRecord[] = [];
  let lastArrival = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        records.push(toReadRecord(topic, partition, message));
        lastArrival = Date.now();
      },
    });
    const started = Date.now();
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const satisfied = until ? until(records) : true;
      if (satisfied && Date.now() - lastArrival >= quietMs) return records;
      if (Date.now() - started > timeoutMs) {
        if (until)
          throw new Error(`reading ${topics.join(',')}: condition not met within ${timeoutMs} ms (${records.length} records read)`);
        return records;
      }
    }
  } finally {
    await consumer.disconnect();
  }
}

export function toReadRecord(topic: string, partition: number, message: KafkaMessage): ReadRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: Number(message.timestamp),
    key: message.key?.toString() ?? null,
    value: message.value?.toString() ?? null,
    headers: headersAsText(message.headers),
  };
}


/** Fails fast, with the address and where it came from, when no broker answers. */
export async function assertKafkaAnswers(brokers: string[], source: string, timeoutMs = 10_000): Promise<void> {
  const admin = new Kafka({
    clientId: 'txstream-test-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    retry: { retries: 2 },
  }).admin();
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref(),
  );
  try {
    await Promise.race([admin.connect().then(() => admin.describeCluster()), timeout]);
  } catch (error) {
    throw new Error(`Kafka at ${brokers.join(',')} (from ${source}) did not answer a metadata request: ${(error as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The committed offsets of a group, by partition (-1 when none). */
export async function committedOffsets(brokers: string[], groupId: string, topic: string): Promise<Map<number, string>> {
  return withAdmin(brokers, async (admin) => {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((offsets?.partitions ?? []).map(({ partition, offset }) => [partition, offset]));
  });
}

/** The end offsets (high watermarks) of a topic, by partition. */
export async function endOffsets(brokers: string[], topic: string): Promise<Map<number, string>> {
  return withAdmin(
    brokers,
    async (admin) => new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => [partition, high])),
  );
}

/** True once the group has committed every partition of the topic up to its end. */
export async function caughtUp(brokers: string[], groupId: string, topic: string): Promise<boolean> {
  const [committed, ends] = await Promise.all([committedOffsets(brokers, groupId, topic), endOffsets(brokers, topic)]);
  // A partition nothing was ever written to has nothing to commit.
  return [...ends].every(([partition, end]) => end === '0' || committed.get(partition) === end);
}

/** The group's committed offsets of a topic, summed over its partitions (none committed counts 0). */
export async function committedSum(brokers: string[], groupId: string, topic: string): Promise<bigint> {
  let total = 0n;
  for (const offset of (await committedOffsets(brokers, groupId, topic)).values()) if (offset !== '-1') total += BigInt(offset);
  return total;
}

/** Waits until the group's committed offsets moved past `than` (a worker is mid-run); returns where they are. */
export async function waitForProgress(brokers: string[], groupId: string, topic: string, than: bigint, timeoutMs = 60_000): Promise<bigint> {
  let now = than;
  await waitFor(
    async () => {
      now = await committedSum(brokers, groupId, topic);
      return now > than;
    },
    `progress past ${than} on ${topic}`,
    timeoutMs,
    200,
  );
  return now;
}

/**
 * Waits until the group has committed the input and every retry tier to their ends, four checks
 * in a row: a retry copy written by the last transaction must itself be consumed.
 */
export async function waitForTiersCaughtUp(brokers: string[], groupId: string, topics: readonly string[], timeoutMs: number): Promise<void> {
  let streak = 0;
  await waitFor(
    async () => {
      const all = await Promise.all(topics.map((topic) => caughtUp(brokers, groupId, topic)));
      streak = all.every(Boolean) ? streak + 1 : 0;
      return streak >= 4;
    },
    'input and retry topics fully committed',
    timeoutMs,
    1000,
  );
}

/** Produces `count` JSON records {n} keyed over `keys` keys; returns them as lineage of what was written. */
export async function produceNumbered(brokers: string[], topic: string, count: number, keys = 100, from = 0): Promise<void> {
  await produce(
    brokers,
    topic,
    Array.from({ length: count }, (_, i) => ({ key: `key-${(from + i) % keys}`, value: JSON.stringify({ n: from + i }) })),
  );
}

/** The lineage of every record in a topic (read_uncommitted: inputs are produced without transactions). */
export async function inputLineage(
  brokers: string[],
  topic: string,
  expected: number,
): Promise<Array<{ topic: string; partition: number; offset: string }>> {
  const records = await readTopics(brokers, [topic], {
    readCommitted: false,
    until: (r) => r.length >= expected,
    quietMs: 500,
    timeoutMs: 120_000,
  });
  return records.map(({ partition, offset }) => ({ topic, partition, offset }));
}

/**
 * The topics one pipeline needs: input and output with `partitions`, a one-partition
 * dead-letter topic and `retryTiers` one-partition retry topics (the default policy retries 3 times).
 */
export async function createPipelineTopics(brokers: string[], prefix: string, partitions = 1, retryTiers = 3) {
  const input = uniqueName(prefix);
  const output = `${input}.out`;
  await createTopics(brokers, [
    { topic: input, partitions },
    { topic: output, partitions },
    { topic: `${input}.dlt`, partitions: 1 },
    ...Array.from({ length: retryTiers }, (_, tier) => ({ topic: `${input}.retry.${tier + 1}`, partitions: 1 })),
  ]);
  return { input, output, dlt: `${input}.dlt` };
}

/** Raw record values in log order per partition: Avro and other binary values must not go through a string. */
export async function readRawValues(brokers: string[], topic: string, expected: number, timeoutMs = 60_000): Promise<Buffer[]> {
  const consumer = kafkaClient(brokers).consumer({ groupId: uniqueName('raw-reader'), maxWaitTimeInMs: 200 });
  const values: Buffer[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value) values.push(message.value);
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (values.length < expected) {
      if (Date.now() > deadline) throw new Error(`read ${values.length} of ${expected} records from ${topic} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return values;
  } finally {
    await consumer.disconnect();
  }
}
