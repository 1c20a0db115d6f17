import { randomUUID } from 'node:crypto';
import { type Admin, type IHeaders, Kafka, type KafkaMessage, logLevel, type Message } from 'kafkajs';

/** Shared helpers for integration tests: unique names, topic setup, produce, read back. */

export function kafkaClient(brokers: string[], clientId = 'txstream-test'): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 5 } });
}

/** Every test names its own topics and groups, so files can run in parallel. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function withAdmin<T>(brokers: string[], use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
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

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
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
    key: message.key?.toString() ?? null,
    value: message.value?.toString() ?? null,
    headers: headersToStrings(message.headers),
  };
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    result[name] = (Array.isArray(value) ? value[value.length - 1] : value)?.toString() ?? '';
  }
  return result;
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
