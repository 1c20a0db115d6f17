import type { Message } from 'kafkajs';
import { recordBatchSize, recordBatchSizeAtMost } from '../kafka/record-size.js';
import type { TopicLimits } from '../kafka/topic-catalog.js';

/**
 * What the client can encode and the cluster will take, checked before a unit is
 * written: a record the broker would refuse (or KafkaJS would drop, like one for a
 * partition that does not exist) is routed alone instead of failing its whole unit
 * forever. Pure: the topic facts come from the caller (TopicCatalog).
 */

export interface OutputProblem {
  readonly topic: string;
  readonly partition?: number;
  readonly sizeBytes?: number;
  readonly limitBytes?: number;
  readonly message: string;
}

const isBytes = (value: unknown): boolean => typeof value === 'string' || Buffer.isBuffer(value);

/** Key, value and header types KafkaJS can encode (it throws a TypeError in the middle of a write otherwise). */
export function typeProblem(message: Message): string | undefined {
  const { key, value, headers } = message;
  if (key !== undefined && key !== null && !isBytes(key)) return `key is a ${describe(key)}; it must be a string, a Buffer or null`;
  if (value !== null && !isBytes(value)) return `value is a ${describe(value)} after serialisation; it must be a string, a Buffer or null`;
  if (headers === undefined) return undefined;
  if (headers === null || typeof headers !== 'object') return `headers is a ${describe(headers)}; it must be an object`;
  // Checked for every output: one pass, no array per header, nor of their names.
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const header: unknown = headers[name];
    if (Array.isArray(header)) {
      for (const item of header as unknown[]) if (item !== undefined && !isBytes(item)) return headerProblem(name, item);
    } else if (header !== undefined && !isBytes(header)) return headerProblem(name, header);
  }
  return undefined;
}

const headerProblem = (name: string, value: unknown) => `header '${name}' is a ${describe(value)}; header values must be strings or Buffers`;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

/** Where a problem is, named only once there is one (every output is checked, and most have none). */
const whereOf = (topic: string, partition: number | undefined) => (partition === undefined ? `topic '${topic}'` : `topic '${topic}' partition ${String(partition)}`);

/**
 * The problem with writing `message` to `topic`, if any. `limits` is undefined when the
 * topic is not in the cluster; `declared` says whether the pipeline may write there.
 */
export function checkOutput(
  topic: string,
  message: Message,
  limits: TopicLimits | undefined,
  declared: boolean,
  declaredList: readonly string[],
): OutputProblem | undefined {
  const partition = message.partition;
  if (!declared) {
    return {
      topic,
      partition,
      message: `${whereOf(topic, partition)} is not an output of the pipeline (declared outputs: ${declaredList.join(', ') || 'none'}); add it to the pipeline's outputs`,
    };
  }
  if (!limits) return { topic, partition, message: `${whereOf(topic, partition)} does not exist in the cluster` };
  if (partition !== undefined && (!Number.isInteger(partition) || partition < 0 || partition >= limits.partitions)) {
    return { topic, partition, message: `${whereOf(topic, partition)} does not exist: the topic has partitions 0..${limits.partitions - 1}` };
  }
  const type = typeProblem(message);
  if (type) return { topic, partition, message: `${whereOf(topic, partition)}: ${type}` };
  // Measured exactly only when the bound says it might not fit.
  const sizeBytes = recordBatchSizeAtMost(message) > limits.maxMessageBytes ? recordBatchSize(message) : 0;
  if (sizeBytes > limits.maxMessageBytes) {
    return {
      topic,
      partition,
      sizeBytes,
      limitBytes: limits.maxMessageBytes,
      message: `${whereOf(topic, partition)}: record of ${sizeBytes} bytes is larger than the topic's max.message.bytes (${limits.maxMessageBytes})`,
    };
  }
  return undefined;
}
