import type { Message } from 'kafkajs';
import type { TopicMessages } from './strategy.js';

/**
 * Splits outputs into produce requests that stay under the broker's record-batch
 * limit (message.max.bytes, 1 MiB by default). KafkaJS puts all of a request's
 * records for one partition into one record batch, so a large handler batch sent
 * at once is rejected as "larger than the max message size".
 */
export const MAX_REQUEST_BYTES = 512 * 1024;

/** Per-record framing of the record batch format (varints, attributes, deltas): an upper bound. */
const RECORD_OVERHEAD = 64;

export function estimateSize(message: Message): number {
  let size = RECORD_OVERHEAD + byteLength(message.key) + byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    size += Buffer.byteLength(name) + (Array.isArray(value) ? value.reduce((sum, item) => sum + byteLength(item), 0) : byteLength(value));
  }
  return size;
}

export function splitIntoRequests(outputs: readonly TopicMessages[], maxBytes = MAX_REQUEST_BYTES): TopicMessages[][] {
  const requests: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let currentBytes = 0;
  const close = () => {
    if (current.length > 0) requests.push(current);
    current = [];
    currentBytes = 0;
  };
  for (const { topic, messages } of outputs) {
    let batch: Message[] = [];
    for (const message of messages) {
      const size = estimateSize(message);
      if (currentBytes + size > maxBytes && (batch.length > 0 || current.length > 0)) {
        if (batch.length > 0) current.push({ topic, messages: batch });
        batch = [];
        close();
      }
      batch.push(message);
      currentBytes += size;
    }
    if (batch.length > 0) current.push({ topic, messages: batch });
  }
  close();
  return requests;
}

function byteLength(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
