import { describe, expect, it } from 'vitest';
import { decodePcMetadata, doneCount, isDone } from '../../load-tests/lib/parallel-consumer-offsets.js';

// Written by Parallel Consumer 0.5.3.3's own encoder (every encoding forced) for committed offset
// 1000, highest done 1040, these offsets not done; its own decoder reads them back the same.
const INCOMPLETES = [1000, 1003, 1004, 1017, 1030, 1031, 1032];
const ENCODED = {
  BitSet: 'bAAp5v/9P/4BAA==',
  BitSetCompressed: 'YSi1L/0AWEkAAAAp5v/9P/4BAA==',
  BitSetV2: 'bwAAACnm//0//gEA',
  BitSetV2Compressed: 'cyi1L/0AWFkAAAAAACnm//0//gEA',
  RunLength: 'bgABAAIAAgAMAAEADAADAAg=',
  RunLengthCompressed: 'Sii1L/0AWIEAAAABAAIAAgAMAAEADAADAAg=',
  RunLengthV2: 'ZQAAAAEAAAACAAAAAgAAAAwAAAABAAAADAAAAAMAAAAI',
  RunLengthV2Compressed: 'cCi1L/0AWNUAAJAAAAABAAAAAgwMAAAAAwAAAAgCADOzOHNc',
};

describe('Parallel Consumer offset metadata', () => {
  for (const [encoding, metadata] of Object.entries(ENCODED)) {
    it(`decodes ${encoding} as Parallel Consumer does`, () => {
      const state = decodePcMetadata(3, 1000, metadata);
      expect(state).toEqual({ partition: 3, committed: 1000, highestSeen: 1040, incompletes: INCOMPLETES });
      expect(doneCount(state)).toBe(1000 + 41 - INCOMPLETES.length);
      expect([999, 1001, 1040].map((offset) => isDone(state, offset))).toEqual([true, true, true]);
      expect([1000, 1031, 1041].map((offset) => isDone(state, offset))).toEqual([false, false, false]);
    });
  }

  it('decodes what a run committed (zstd BitSet) as Parallel Consumer does', () => {
    const metadata =
      'YSi1L/0AWG0FAHQJB/f+//v/f++/////Pf9////+///9//fXa//9/vv//vefr/9v51sfP/+e78dezfW/z/69b3drHm7dqwy7tbq9M+XxrUzEtAQATDAAFJFlgl6udIcJdlMcMUAZQABGjBVeLDBhIATABQAQEApCLBhKAEA0ApQEAgIAQJAAIIAMAGgAAQSEIABAAIAAAUgAgAAgAAQEAIBAAAgA4BuAgKVAi0sTsFxUK0CDZUAE';
    const state = decodePcMetadata(3, 1201, metadata);
    expect(state.highestSeen).toBe(3239);
    expect(state.incompletes).toHaveLength(1049);
    expect(state.incompletes.slice(0, 5)).toEqual([1201, 1331, 1600, 1603, 1645]);
    expect(doneCount(state)).toBe(1201 + (3239 - 1201 + 1) - 1049);
  });

  it('reads no metadata as nothing done past the committed offset', () => {
    for (const metadata of ['', null, undefined]) expect(decodePcMetadata(0, 42, metadata)).toEqual({ partition: 0, committed: 42, highestSeen: 41, incompletes: [] });
    expect(doneCount(decodePcMetadata(0, 42, ''))).toBe(42);
  });

  it('refuses an encoding it does not know', () => {
    expect(() => decodePcMetadata(0, 0, Buffer.from('Lxyz').toString('base64'))).toThrow(/not decoded here/);
  });
});
