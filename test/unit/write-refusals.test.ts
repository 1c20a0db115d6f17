import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { CommitUnit } from '../../src/commit/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { spanOf, WriteRefusals } from '../../src/worker/write-refusals.js';

const refusal = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { type: 'MESSAGE_TOO_LARGE' });
const record = (offset: string) => ({ offset, key: null, value: Buffer.from('v'), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage;
const unit = (alone: boolean): CommitUnit => ({ outputs: [{ topic: 'out', messages: [{ value: 'v' }] }], nextOffset: '8', records: 1, alone });

describe('what a partition remembers of refused writes', () => {
  it('takes a one-record unit written alone for the refused record', () => {
    const refusals = new WriteRefusals('in', createLogger({ level: 'silent' }));
    refusals.writeFailed(spanOf([record('7')]), unit(true), refusal);
    expect(refusals.timesRefused('7')).toBe(1);
    expect(refusals.isolating).toBe(false);
  });

  it('writes a one-record unit refused together with other partitions’ units again alone before blaming its record', () => {
    const refusals = new WriteRefusals('in', createLogger({ level: 'silent' }));
    // One produce request carried it with other partitions' units: the refused record may be theirs.
    refusals.writeFailed(spanOf([record('7')]), unit(false), refusal);
    expect(refusals.timesRefused('7')).toBe(0);
    expect(refusals.isolating).toBe(true);
    expect(refusals.unitEnd([record('7'), record('8')], 0, 500)).toBe(1);
    // Refused again, alone this time: now it is this record.
    refusals.writeFailed(spanOf([record('7')]), unit(true), refusal);
    expect(refusals.timesRefused('7')).toBe(1);
  });

  it('remembers nothing of a failure that is not a refusal', () => {
    const refusals = new WriteRefusals('in', createLogger({ level: 'silent' }));
    refusals.writeFailed(spanOf([record('7')]), unit(false), new Error('connection closed'));
    expect(refusals.isolating).toBe(false);
    expect(refusals.timesRefused('7')).toBe(0);
  });
});
