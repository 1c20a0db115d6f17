import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { FAILURE_HEADERS } from '../../src/routing/failure-headers.js';
import { replayFilterProblems, replayTarget, retryHeadersProblem } from '../../src/routing/header-checks.js';
import { matchesFilters } from '../../src/routing/replay-filter.js';

const now = 1_800_000_000_000;
const expected = { input: 'orders', tier: 2, now, maxDelayMs: 60_000 };

function message(headers: Record<string, string>): KafkaMessage {
  return { key: null, value: null, offset: '5', timestamp: String(now), attributes: 0, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])) } as KafkaMessage;
}

const sound = {
  [FAILURE_HEADERS.attempt]: '2',
  [FAILURE_HEADERS.dueAt]: String(now + 1000),
  [FAILURE_HEADERS.originalTopic]: 'orders',
  [FAILURE_HEADERS.originalPartition]: '3',
  [FAILURE_HEADERS.originalOffset]: '42',
  [FAILURE_HEADERS.originalTimestamp]: String(now - 5000),
  [FAILURE_HEADERS.firstFailedAt]: new Date(now - 4000).toISOString(),
};

describe('retryHeadersProblem', () => {
  it('accepts the headers txstream writes', () => {
    expect(retryHeadersProblem(message(sound), expected)).toBeUndefined();
  });

  it.each([
    ['a due time past the longest backoff', { [FAILURE_HEADERS.dueAt]: String(now + 60_000 + 300_001) }, 'txstream-due-at is'],
    ['a due time that is not a number', { [FAILURE_HEADERS.dueAt]: 'soon' }, "txstream-due-at is 'soon'"],
    ['an attempt of another tier', { [FAILURE_HEADERS.attempt]: '7' }, "txstream-attempt is '7'; on retry tier 2 it must be 2"],
    ['another original topic', { [FAILURE_HEADERS.originalTopic]: 'payments' }, "txstream-original-topic is 'payments'; this tier belongs to input 'orders'"],
    ['a negative partition', { [FAILURE_HEADERS.originalPartition]: '-1' }, "txstream-original-partition is '-1'; it must be a non-negative integer"],
    ['a bad first-failure time', { [FAILURE_HEADERS.firstFailedAt]: 'yesterday' }, 'must be an ISO 8601 time'],
  ])('refuses %s', (_name, override, text) => {
    expect(retryHeadersProblem(message({ ...sound, ...override }), expected)).toContain(text);
  });

  it('refuses a record without failure headers', () => {
    expect(retryHeadersProblem(message({}), expected)).toContain('txstream-attempt is missing');
  });
});

describe('replayTarget', () => {
  const pipeline = { inputs: ['orders', 'refunds'], deadLetterTopicFor: (input: string) => `${input}.dlt` };

  it('replays to the original topic when it is an input whose DLT this is', () => {
    expect(replayTarget(message({ [FAILURE_HEADERS.originalTopic]: 'refunds' }), 'refunds.dlt', pipeline)).toEqual({ topic: 'refunds' });
  });

  it('refuses a topic outside the pipeline, and an input of another DLT', () => {
    expect(replayTarget(message({ [FAILURE_HEADERS.originalTopic]: '_schemas' }), 'orders.dlt', pipeline)).toEqual({
      problem: "txstream-original-topic names '_schemas', which is not an input of the pipeline (orders, refunds)",
    });
    expect(replayTarget(message({ [FAILURE_HEADERS.originalTopic]: 'refunds' }), 'orders.dlt', pipeline)).toHaveProperty('problem');
  });

  it('falls back to the only input of a DLT when the header is missing', () => {
    expect(replayTarget(message({}), 'orders.dlt', pipeline)).toEqual({ topic: 'orders' });
  });
});

describe('replayFilterProblems', () => {
  it('accepts known names and values, with or without the txstream- prefix', () => {
    expect(replayFilterProblems(['error-class=DecodeError', 'txstream-dlt-reason=decode-failed', 'key=abc', 'original-topic=orders'], ['orders'])).toEqual([]);
  });

  it('names a mistyped name, a mistyped value and a missing "="', () => {
    expect(replayFilterProblems(['error-clas=DecodeError', 'dlt-reason=decode-faild', 'DecodeError'], ['orders'])).toEqual([
      expect.stringMatching(/^--filter 'error-clas=DecodeError': unknown name 'error-clas'; known: key, dlt-reason, error-class/),
      expect.stringMatching(/^--filter 'dlt-reason=decode-faild': 'decode-faild' is not a known dlt-reason; accepted: one of retries-exhausted, decode-failed/),
      "--filter 'DecodeError': expected name=value",
    ]);
  });
});

describe('matchesFilters', () => {
  const record = (lineage: string, errorClass: string) =>
    ({ offset: '0', key: Buffer.from('k'), value: null, timestamp: '0', attributes: 0, headers: { 'txstream-lineage': lineage, 'txstream-error-class': errorClass } }) as unknown as KafkaMessage;

  it('needs every name to match, and any of the values given for one name (a selection of records)', () => {
    const selection = ['lineage=orders/0/5', 'lineage=orders/1/9'];
    expect(matchesFilters(record('orders/0/5', 'TypeError'), selection)).toBe(true);
    expect(matchesFilters(record('orders/1/9', 'TypeError'), selection)).toBe(true);
    expect(matchesFilters(record('orders/0/9', 'TypeError'), selection)).toBe(false);
    expect(matchesFilters(record('orders/0/5', 'TypeError'), [...selection, 'error-class=DecodeError'])).toBe(false);
    expect(matchesFilters(record('orders/0/5', 'DecodeError'), [...selection, 'txstream-error-class=DecodeError', 'key=k'])).toBe(true);
    expect(matchesFilters(record('orders/0/5', 'DecodeError'), [])).toBe(true);
  });

  it('takes lineage as <topic>/<partition>/<offset>', () => {
    expect(replayFilterProblems(['lineage=orders/0/5'], ['orders'])).toEqual([]);
    expect(replayFilterProblems(['lineage=orders-5'], ['orders'])).toEqual(["--filter 'lineage=orders-5': 'orders-5' is not a known lineage; accepted: an input record as <topic>/<partition>/<offset>"]);
  });
});
