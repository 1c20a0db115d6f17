import { describe, expect, it } from 'vitest';
import { coordinatorPartition, javaStringHash } from '../support/coordinator.js';

describe('coordinator partition (Kafka places group and transaction state by Java hashCode)', () => {
  it("matches Java's String.hashCode, overflow included", () => {
    // Values computed by the JVM: "hello".hashCode(), "".hashCode(), and a string that overflows int.
    expect(javaStringHash('hello')).toBe(99162322);
    expect(javaStringHash('')).toBe(0);
    expect(javaStringHash('polygenelubricants')).toBe(-2147483648);
    expect(javaStringHash('Aa')).toBe(javaStringHash('BB'));
  });

  it('maps Integer.MIN_VALUE to partition 0, as Utils.abs does, and others by abs % partitions', () => {
    expect(coordinatorPartition('polygenelubricants', 10)).toBe(0);
    expect(coordinatorPartition('hello', 10)).toBe(99162322 % 10);
    expect(coordinatorPartition('A', 50)).toBe(65 % 50);
  });

  it('rejects a partition count that is not a positive integer', () => {
    expect(() => coordinatorPartition('g', 0)).toThrow(/positive integer/);
  });
});
