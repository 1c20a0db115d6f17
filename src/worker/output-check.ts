import type { IHeaders, Message } from 'kafkajs';
import { FAILURE_HEADERS } from '../routing/failure-copy.js';

/**
 * What the client can encode and the cluster will take, checked before a unit is
 * written: a record the broker would refuse (or KafkaJS would drop, like one for a
 * partition that does not exist) is routed alone instead of failing its whole unit
 * forever. Pure: the topic facts come from the caller (TopicCatalog).
 */

export interface TopicLimits {
  readonly partitions: number;
  /** The topic's max.message.bytes: the largest record batch the broker appends. */
  readonly maxMessageBytes: number;
}

export interface OutputProblem {
  readonly topic: string;
  readonly partition?: number;
  readonly sizeBytes?: number;
  readonly limitBytes?: number;
  readonly message: string;
}

/** baseOffset … recordsCount of the v2 record batch format: every batch pays it once. */
export const RECORD_BATCH_OVERHEAD = 61;

/** Bytes of a zigzag varint, as the record format stores lengths and deltas. */
export function varintSize(value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  let bytes = 1;
  while (zigzag >= 128) {
    zigzag = Math.floor(zigzag / 128);
    bytes++;
  }
  return bytes;
}

function bytesOf(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return -1;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

function fieldSize(value: Buffer | string | null | undefined): number {
  const length = bytesOf(value);
  return varintSize(length) + Math.max(0, length);
}

function headerEntries(headers: IHeaders | undefined): Array<[string, Buffer | string | undefined]> {
  const entries: Array<[string, Buffer | string | undefined]> = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (Array.isArray(value)) for (const item of value) entries.push([name, item as Buffer | string]);
    else entries.push([name, value]);
  }
  return entries;
}

/**
 * The size of the record batch holding this record alone, uncompressed: what the broker
 * compares with max.message.bytes (test/integration/output-failures checks it at the limit).
 */
export function recordBatchSize(message: Message): number {
  const headers = headerEntries(message.headers);
  let body = 1 + 1 + 1; // attributes, timestamp delta 0, offset delta 0
  body += fieldSize(message.key) + fieldSize(message.value) + varintSize(headers.length);
  for (const [name, value] of headers) body += fieldSize(name) + fieldSize(value);
  return RECORD_BATCH_OVERHEAD + varintSize(body) + body;
}

const isBytes = (value: unknown): boolean => typeof value === 'string' || Buffer.isBuffer(value);

/** Key, value and header types KafkaJS can encode (it throws a TypeError in the middle of a write otherwise). */
export function typeProblem(message: Message): string | undefined {
  const { key, value, headers } = message;
  if (key !== undefined && key !== null && !isBytes(key)) return `key is a ${describe(key)}; it must be a string, a Buffer or null`;
  if (value !== null && !isBytes(value)) return `value is a ${describe(value)} after serialisation; it must be a string, a Buffer or null`;
  if (headers !== undefined && (headers === null || typeof headers !== 'object')) return `headers is a ${describe(headers)}; it must be an object`;
  for (const [name, header] of Object.entries(headers ?? {})) {
    const items: unknown[] = Array.isArray(header) ? header : [header];
    const bad = items.find((item) => item !== undefined && !isBytes(item));
    if (bad !== undefined) return `header '${name}' is a ${describe(bad)}; header values must be strings or Buffers`;
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

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
  const where = partition === undefined ? `topic '${topic}'` : `topic '${topic}' partition ${String(partition)}`;
  if (!declared) {
    return {
      topic,
      partition,
      message: `${where} is not an output of the pipeline (declared outputs: ${declaredList.join(', ') || 'none'}); add it to the pipeline's outputs`,
    };
  }
  if (!limits) return { topic, partition, message: `${where} does not exist in the cluster` };
  if (partition !== undefined && (!Number.isInteger(partition) || partition < 0 || partition >= limits.partitions)) {
    return { topic, partition, message: `${where} does not exist: the topic has partitions 0..${limits.partitions - 1}` };
  }
  const type = typeProblem(message);
  if (type) return { topic, partition, message: `${where}: ${type}` };
  const sizeBytes = recordBatchSize(message);
  if (sizeBytes > limits.maxMessageBytes) {
    return {
      topic,
      partition,
      sizeBytes,
      limitBytes: limits.maxMessageBytes,
      message: `${where}: record of ${sizeBytes} bytes is larger than the topic's max.message.bytes (${limits.maxMessageBytes})`,
    };
  }
  return undefined;
}

/**
 * A retry or dead-letter copy cut to fit `limitBytes`: the value first (the header
 * `txstream-payload-truncated` keeps its original size), then the error stack and the
 * record's own headers, then the key. Never fails: the copy always fits, at worst
 * as a record of failure headers only.
 */
export function fitCopy(copy: Message, limitBytes: number): { copy: Message; truncated: boolean } {
  if (recordBatchSize(copy) <= limitBytes) return { copy, truncated: false };
  const valueBytes = Math.max(0, bytesOf(copy.value));
  const marked: Message = { ...copy, headers: { ...copy.headers, [FAILURE_HEADERS.truncated]: String(valueBytes) } };
  const value = copy.value === null || copy.value === undefined ? null : Buffer.from(copy.value);
  // Cut the value by the overshoot; the length varint shrinks too, so one pass is enough.
  const overshoot = recordBatchSize({ ...marked, value: value ?? null }) - limitBytes;
  if (value && overshoot < value.length) return { copy: { ...marked, value: value.subarray(0, value.length - overshoot) }, truncated: true };
  let stripped: Message = { ...marked, value: null };
  if (recordBatchSize(stripped) <= limitBytes) return { copy: stripped, truncated: true };
  const failureOnly = Object.fromEntries(Object.entries(stripped.headers ?? {}).filter(([name]) => name.startsWith('txstream-') && name !== FAILURE_HEADERS.errorStack));
  stripped = { ...stripped, headers: failureOnly };
  if (recordBatchSize(stripped) <= limitBytes) return { copy: stripped, truncated: true };
  const { [FAILURE_HEADERS.originalKey]: _key, ...withoutKey } = failureOnly;
  return { copy: { ...stripped, key: null, headers: withoutKey }, truncated: true };
}
