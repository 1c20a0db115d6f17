import type { IHeaders, Message } from 'kafkajs';

/**
 * Sizes of records in the v2 record batch format, the one place txstream does this
 * arithmetic: the output checks compare a record with its topic's max.message.bytes,
 * the failure path cuts copies to fit, and writes split their requests by it.
 */

/** baseOffset … recordsCount of the v2 record batch format: every batch pays it once. */
export const RECORD_BATCH_OVERHEAD = 61;

/** The broker's default message.max.bytes: the largest record batch a topic takes unless it says otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * What a produce request stays under whatever its topics allow: KafkaJS writes a request's records
 * for one partition as one record batch, so a request whose records all went to one partition must
 * still fit the default record-batch limit (a topic that allows less lowers it: topic-catalog.ts).
 * Half of that was the limit until 2026-12-07, and at 96 partitions left each partition's batch a
 * few records: the whole limit, alternated on a kept broker at 96 partitions, wrote 124,251–144,302
 * records/s copying bytes against 109,779–119,465, and 73,637–80,806 with JSON against 65,990–77,089.
 */
export const MAX_REQUEST_BYTES = DEFAULT_MAX_MESSAGE_BYTES - RECORD_BATCH_OVERHEAD;

/**
 * Per-record framing inside a batch of many (length, attributes, timestamp and offset
 * deltas, key and value lengths): an upper bound, since the deltas grow with the batch.
 */
const RECORD_FRAMING_BOUND = 64;

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

/** Bytes of a key, value or header value; -1 for null (the format's own marker). */
export function bytesOf(value: Buffer | string | null | undefined): number {
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

/** The most bytes a key, value or header value can take: a UTF-16 code unit is at most 3 bytes of UTF-8. */
function bytesAtMost(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? 3 * value.length : value.length;
}

/** A varint's most bytes, for a length of up to 2^31 (5 × 7 bits). */
const VARINT_MAX = 5;

/**
 * An upper bound of `recordBatchSize`, cheap enough for every output: no string is measured and
 * nothing is allocated. The output checks measure exactly only a record this bound puts near a limit.
 */
export function recordBatchSizeAtMost(message: Message): number {
  // The record's length, its attributes and two zero deltas (1 byte each, as recordBatchSize counts
  // them), the key's, value's and header count's lengths, then each header's name and value lengths.
  let size = RECORD_BATCH_OVERHEAD + VARINT_MAX + 3 + 3 * VARINT_MAX + bytesAtMost(message.key) + bytesAtMost(message.value);
  const headers = message.headers;
  if (headers) {
    // No array of the names: this runs for every output.
    for (const name in headers) {
      if (!Object.hasOwn(headers, name)) continue;
      const value = headers[name];
      if (Array.isArray(value)) for (const item of value) size += 2 * VARINT_MAX + 3 * name.length + bytesAtMost(item as Buffer | string);
      else size += 2 * VARINT_MAX + 3 * name.length + bytesAtMost(value);
    }
  }
  return size;
}

/** What a record adds to a batch of many, at most: its bytes plus a bound on its framing. */
export function recordSizeInBatch(message: Message): number {
  let size = RECORD_FRAMING_BOUND + Math.max(0, bytesOf(message.key)) + Math.max(0, bytesOf(message.value));
  // Every output pays this: no intermediate arrays.
  for (const name in message.headers) {
    const value = message.headers[name];
    if (Array.isArray(value)) for (const item of value) size += Buffer.byteLength(name) + Math.max(0, bytesOf(item as Buffer | string));
    else size += Buffer.byteLength(name) + Math.max(0, bytesOf(value));
  }
  return size;
}
