import type { Message } from 'kafkajs';
import { bytesOf, recordBatchSize } from '../kafka/record-size.js';
import { FAILURE_HEADERS } from './failure-headers.js';

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
