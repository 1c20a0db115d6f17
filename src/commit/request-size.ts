import type { Message } from 'kafkajs';
import { MAX_REQUEST_BYTES, recordSizeInBatch } from '../kafka/record-size.js';
import type { TopicMessages } from './strategy.js';

export { MAX_REQUEST_BYTES };

/**
 * Splits outputs into produce requests under `maxBytes`. KafkaJS puts all of a request's
 * records for one partition into one record batch, so a large handler batch sent at once
 * is rejected as "larger than the max message size".
 */
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
      const size = recordSizeInBatch(message);
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

/**
 * The produce requests of several units written together: their outputs merged, one entry per
 * topic (each unit's order kept), split under the smallest request limit among them.
 */
export function requestsOf(units: ReadonlyArray<{ readonly outputs: readonly TopicMessages[]; readonly maxRequestBytes?: number }>): TopicMessages[][] {
  const limit = Math.min(...units.map((unit) => unit.maxRequestBytes ?? MAX_REQUEST_BYTES));
  return splitIntoRequests(mergeOutputs(units.map((unit) => unit.outputs)), limit);
}

function mergeOutputs(outputs: ReadonlyArray<readonly TopicMessages[]>): TopicMessages[] {
  if (outputs.length === 1) return [...(outputs[0] as readonly TopicMessages[])];
  const byTopic = new Map<string, Message[]>();
  for (const unit of outputs) {
    for (const { topic, messages } of unit) {
      const merged = byTopic.get(topic);
      if (merged) merged.push(...messages);
      else byTopic.set(topic, [...messages]);
    }
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
