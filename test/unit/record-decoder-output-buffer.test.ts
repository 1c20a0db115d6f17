import type { KafkaMessage, Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { DecodeError, HandlerContractError } from '../../src/errors/index.js';
import { type PipelineDefinition, type ResolvedPipeline, resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler, type InputRecord, type OutputRecord } from '../../src/pipeline/records.js';
import { failureCopy, originOf } from '../../src/routing/failure-copy.js';
import { FAILURE_HEADERS } from '../../src/routing/failure-headers.js';
import { LINEAGE_HEADER } from '../../src/pipeline/lineage.js';
import { OutputBuffer } from '../../src/worker/output-buffer.js';
import { decodeRecord } from '../../src/worker/record-decoder.js';

const handler = defineHandler({ handle: () => undefined });

function pipeline(overrides: Partial<PipelineDefinition> = {}): ResolvedPipeline {
  return resolvePipeline(
    { name: 'enrich', input: 'orders', output: 'orders.enriched', handler, ...overrides },
    { commit: DEFAULT_SETTINGS.commit },
  );
}

function kafkaMessage(
  overrides: Partial<{
    key: Buffer | null;
    value: Buffer | null;
    offset: string;
    timestamp: string;
    headers: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  }> = {},
): KafkaMessage {
  return {
    key: Buffer.from('order-1'),
    value: Buffer.from('{"id":1,"total":9.5}'),
    timestamp: '1700000000123',
    attributes: 0,
    offset: '42',
    headers: {},
    ...overrides,
  } as KafkaMessage;
}

function inputRecord(overrides: Partial<InputRecord> = {}): InputRecord {
  return {
    topic: 'orders',
    partition: 2,
    offset: '42',
    key: 'order-1',
    keyBytes: Buffer.from('order-1'),
    value: { id: 1 },
    headers: {},
    timestamp: 1700000000123,
    attempt: 1,
    ...overrides,
  };
}

/** What a consumer of `topic` fetches after `copy` was produced there: header values arrive as Buffers. */
function fetchedCopy(copy: Message, offset: string, timestamp: string): KafkaMessage {
  const headers: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(copy.headers ?? {})) {
    if (typeof value === 'string' || Buffer.isBuffer(value)) headers[name] = Buffer.from(value);
  }
  const bytes = (value: Message['key']) => (value === null || value === undefined ? null : Buffer.from(value));
  return { key: bytes(copy.key), value: bytes(copy.value), timestamp, attributes: 0, offset, headers } as KafkaMessage;
}

/** The retry copy of `message` (fetched from `topic`[`partition`]) after it failed once more. */
function retryCopyOf(topic: string, partition: number, message: KafkaMessage, fetchedAt: { offset: string; timestamp: string }): KafkaMessage {
  const copy = failureCopy(message, originOf(topic, partition, message, topic.includes('.retry.')), { error: new Error('timeout'), now: 1_700_000_100_000, dueAt: 1 });
  return fetchedCopy(copy, fetchedAt.offset, fetchedAt.timestamp);
}

describe('decodeRecord', () => {
  it('maps coordinates, key, value, headers and timestamp', () => {
    const message = kafkaMessage({ headers: { 'trace-id': Buffer.from('t-1'), plain: 'text' } });
    const record = decodeRecord(pipeline(), 'orders', 2, message);
    expect(record).toEqual({
      topic: 'orders',
      partition: 2,
      offset: '42',
      key: 'order-1',
      keyBytes: Buffer.from('order-1'),
      value: { id: 1, total: 9.5 },
      headers: { 'trace-id': 't-1', plain: 'text' },
      timestamp: 1700000000123,
      attempt: 1,
    });
  });

  it('presents a retry copy as its original record with attempt = failures + 1', () => {
    const original = kafkaMessage({ offset: '42', timestamp: '1700000000123', headers: { 'trace-id': Buffer.from('t-1') } });
    const firstCopy = retryCopyOf('orders', 2, original, { offset: '7', timestamp: '1800000000000' });
    const first = decodeRecord(pipeline(), 'orders.retry.1', 0, firstCopy);
    expect(first).toMatchObject({
      topic: 'orders',
      partition: 2,
      offset: '42',
      timestamp: 1700000000123,
      attempt: 2,
      key: 'order-1',
      keyBytes: Buffer.from('order-1'),
      value: { id: 1, total: 9.5 },
    });
    expect(first.headers['trace-id']).toBe('t-1');

    const secondCopy = retryCopyOf('orders.retry.1', 0, firstCopy, { offset: '3', timestamp: '1800000000500' });
    expect(decodeRecord(pipeline(), 'orders.retry.2', 5, secondCopy)).toMatchObject({
      topic: 'orders',
      partition: 2,
      offset: '42',
      timestamp: 1700000000123,
      attempt: 3,
    });
  });

  it('gives outputs of a retry copy the lineage of the original record', () => {
    const copy = retryCopyOf('orders', 2, kafkaMessage({ offset: '42' }), { offset: '7', timestamp: '1800000000000' });
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(decodeRecord(pipeline(), 'orders.retry.1', 0, copy), [{ value: 1 }]);
    expect(collector.topicMessages()[0]?.messages[0]?.headers?.[LINEAGE_HEADER]).toBe('orders/2/42');
  });

  it('reads attempt and coordinates from failure headers given as strings', () => {
    const message = kafkaMessage({
      offset: '5',
      headers: {
        [FAILURE_HEADERS.attempt]: '4',
        [FAILURE_HEADERS.originalTopic]: 'orders',
        [FAILURE_HEADERS.originalPartition]: '1',
        [FAILURE_HEADERS.originalOffset]: '900',
        [FAILURE_HEADERS.originalTimestamp]: '1600000000000',
      },
    });
    expect(decodeRecord(pipeline(), 'orders.retry.3', 0, message)).toMatchObject({
      topic: 'orders',
      partition: 1,
      offset: '900',
      timestamp: 1600000000000,
      attempt: 5,
    });
  });

  // Failure headers are read only on the pipeline's retry topics: a dead-letter copy consumed as input is a record of its own.
  it('presents a dead-letter copy consumed from an input topic as itself, at attempt 1', () => {
    const dlt = pipeline({ name: 'dlt-audit', input: 'orders.dlt' });
    const original = kafkaMessage({ offset: '42' });
    const deadLetterCopy = failureCopy(original, { topic: 'orders', partition: 2, offset: '42', timestamp: '1700000000123', attempt: 4 }, {
      error: new Error('timeout'),
      now: 1_700_000_100_000,
      reason: 'retries-exhausted',
    });
    const record = decodeRecord(dlt, 'orders.dlt', 0, fetchedCopy(deadLetterCopy, '5', '1700000100000'));
    expect(record).toMatchObject({ topic: 'orders.dlt', partition: 0, offset: '5', timestamp: 1700000100000, attempt: 1 });
  });

  it('names the original coordinates when the value of a retry copy cannot be decoded', () => {
    const copy = retryCopyOf('orders', 2, kafkaMessage({ offset: '42', value: Buffer.from('{"id":') }), { offset: '7', timestamp: '1' });
    expect(() => decodeRecord(pipeline(), 'orders.retry.1', 0, copy)).toThrow(/orders\[2\]@42/);
  });

  it('keeps the original key bytes, not a copy decoded from the string', () => {
    const key = Buffer.from([0xff, 0x00, 0x01]);
    const record = decodeRecord(pipeline(), 'orders', 0, kafkaMessage({ key }));
    expect(record.keyBytes).toBe(key);
  });

  it('maps a null key to null key and keyBytes', () => {
    const record = decodeRecord(pipeline(), 'orders', 0, kafkaMessage({ key: null }));
    expect(record.key).toBeNull();
    expect(record.keyBytes).toBeNull();
  });

  it('decodes a null value (tombstone) to null with the json serde', () => {
    expect(decodeRecord(pipeline(), 'orders', 0, kafkaMessage({ value: null })).value).toBeNull();
  });

  it('takes the last value of a repeated header and skips undefined ones', () => {
    const message = kafkaMessage({ headers: { repeated: [Buffer.from('first'), 'second', Buffer.from('last')], missing: undefined } });
    const record = decodeRecord(pipeline(), 'orders', 0, message);
    expect(record.headers).toEqual({ repeated: 'last' });
  });

  it('gives empty headers when the message has none', () => {
    const message = { key: null, value: null, timestamp: '1', attributes: 0, offset: '0', size: 10 } as KafkaMessage;
    expect(decodeRecord(pipeline(), 'orders', 0, message).headers).toEqual({});
  });

  it('uses the pipeline input serde', () => {
    const record = decodeRecord(
      pipeline({ serde: { input: 'string' } }),
      'orders',
      0,
      kafkaMessage({ value: Buffer.from('{"not":"parsed"}') }),
    );
    expect(record.value).toBe('{"not":"parsed"}');
  });

  it('throws a DecodeError naming topic[partition]@offset when the json value is malformed', () => {
    const message = kafkaMessage({ value: Buffer.from('{"id":'), offset: '1234' });
    let thrown: unknown;
    try {
      decodeRecord(pipeline(), 'orders.v2', 7, message);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DecodeError);
    expect((thrown as Error).message).toContain('orders.v2[7]@1234');
    expect((thrown as Error).message).toContain('not valid JSON');
  });
});

describe('OutputBuffer.addOutputs', () => {
  it('sends an output without a topic to the pipeline default output', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord(), [{ value: { ok: true } }]);
    const [group] = collector.topicMessages();
    expect(group?.topic).toBe('orders.enriched');
    expect(group?.messages).toHaveLength(1);
    expect(group?.messages[0]?.value).toEqual(Buffer.from('{"ok":true}'));
  });

  it('sends an output naming a topic to that topic', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord(), [{ topic: 'audit', value: 1 }]);
    expect(collector.topicMessages().map((group) => group.topic)).toEqual(['audit']);
  });

  it('defaults the key to the source key bytes', () => {
    const source = inputRecord({ keyBytes: Buffer.from([0xde, 0xad]) });
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(source, [{ value: 1 }]);
    expect(collector.topicMessages()[0]?.messages[0]?.key).toBe(source.keyBytes);
  });

  it('keeps an explicit key, including an explicit null', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord(), [
      { key: 'other', value: 1 },
      { key: null, value: 2 },
    ]);
    const messages = collector.topicMessages()[0]?.messages ?? [];
    expect(messages.map((message) => message.key)).toEqual(['other', null]);
  });

  it('adds the lineage header next to the output headers', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord({ topic: 'orders', partition: 2, offset: '42' }), [{ value: 1, headers: { custom: 'yes' } }]);
    expect(collector.topicMessages()[0]?.messages[0]?.headers).toEqual({ custom: 'yes', [LINEAGE_HEADER]: 'orders/2/42' });
  });

  it('does not let a handler override the lineage header', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord(), [{ value: 1, headers: { [LINEAGE_HEADER]: 'forged/0/0' } }]);
    expect(collector.topicMessages()[0]?.messages[0]?.headers?.[LINEAGE_HEADER]).toBe('orders/2/42');
  });

  it('passes an explicit partition through and omits it otherwise', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord(), [{ value: 1, partition: 5 }, { value: 2 }]);
    const [withPartition, without] = collector.topicMessages()[0]?.messages ?? [];
    expect(withPartition?.partition).toBe(5);
    expect(without).not.toHaveProperty('partition');
  });

  it('encodes values with the pipeline output serde', () => {
    const collector = new OutputBuffer(pipeline({ serde: { output: 'string' } }));
    collector.addOutputs(inputRecord(), [{ value: 'plain text' }]);
    expect(collector.topicMessages()[0]?.messages[0]?.value).toEqual(Buffer.from('plain text'));
  });

  it('groups messages by topic in arrival order and counts them', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord({ offset: '1' }), [{ value: 'a' }, { topic: 'audit', value: 'b' }]);
    collector.addOutputs(inputRecord({ offset: '2' }), [{ value: 'c' }]);
    expect(collector.count).toBe(3);
    const groups = collector.topicMessages();
    expect(groups.map((group) => group.topic)).toEqual(['orders.enriched', 'audit']);
    expect(groups[0]?.messages.map((message) => message.value?.toString())).toEqual(['"a"', '"c"']);
    expect(groups[0]?.messages.map((message) => message.headers?.[LINEAGE_HEADER])).toEqual(['orders/2/1', 'orders/2/2']);
  });

  it('adds nothing for an empty output list', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord(), []);
    expect(collector.count).toBe(0);
    expect(collector.topicMessages()).toEqual([]);
  });

  it('adds none of the outputs when one lacks a topic and the pipeline has no default output', () => {
    const collector = new OutputBuffer(pipeline({ output: undefined }));
    const outputs: OutputRecord[] = [{ topic: 'audit', value: 1 }, { value: 2 }, { topic: 'audit', value: 3 }];
    expect(() => collector.addOutputs(inputRecord(), outputs)).toThrow(HandlerContractError);
    expect(() => collector.addOutputs(inputRecord(), outputs)).toThrow(/'enrich' has no default output topic.*orders\/2\/42/);
    expect(collector.count).toBe(0);
    expect(collector.topicMessages()).toEqual([]);
  });

  it('adds none of the outputs when one is not a record', () => {
    const collector = new OutputBuffer(pipeline());
    const outputs = [{ value: 1 }, { topic: 'audit' }, null] as unknown as OutputRecord[];
    expect(() => collector.addOutputs(inputRecord(), outputs)).toThrow(HandlerContractError);
    expect(collector.count).toBe(0);
    expect(collector.topicMessages()).toEqual([]);
  });

  it('keeps earlier inputs when a later input is rejected', () => {
    const collector = new OutputBuffer(pipeline({ output: undefined }));
    collector.addOutputs(inputRecord({ offset: '1' }), [{ topic: 'audit', value: 1 }]);
    expect(() => collector.addOutputs(inputRecord({ offset: '2' }), [{ topic: 'audit', value: 2 }, { value: 3 }])).toThrow(
      HandlerContractError,
    );
    expect(collector.count).toBe(1);
    expect(collector.topicMessages()[0]?.messages.map((message) => message.headers?.[LINEAGE_HEADER])).toEqual(['orders/2/1']);
  });
});

describe('OutputBuffer.addFailureCopy', () => {
  it('writes a failure copy to its topic without counting it as an output', () => {
    const collector = new OutputBuffer(pipeline());
    collector.addOutputs(inputRecord(), [{ value: 1 }]);
    const copy: Message = { key: 'order-1', value: Buffer.from('x'), headers: { [FAILURE_HEADERS.attempt]: '1' } };
    collector.addFailureCopy('orders.retry.1', copy);
    expect(collector.count).toBe(1);
    expect(collector.topicMessages()).toEqual([
      { topic: 'orders.enriched', messages: [expect.objectContaining({ value: Buffer.from('1') })] },
      { topic: 'orders.retry.1', messages: [copy] },
    ]);
  });
});
