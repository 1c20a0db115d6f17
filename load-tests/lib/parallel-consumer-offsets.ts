/**
 * What a Confluent Parallel Consumer group has committed. Its committed offset is only the lowest
 * record not yet done in the partition: the records it finished past it (out of offset order, as
 * KEY ordering does) are committed too, listed in the offset's metadata, in the same transaction
 * as their outputs; after a restart it skips them. So its progress and its exactly-once audit
 * both need that metadata, decoded here as Parallel Consumer 0.5.3 writes it
 * (OffsetMapCodecManager, EncodedOffsetPair, OffsetBitSet, OffsetRunLength):
 *
 * base64 of a magic byte naming the encoding, then
 * - BitSet ('l', 'o'): the bit count (v1 a 16-bit, v2 a 32-bit big-endian integer), then a
 *   java.util.BitSet (bit i is byte i/8's bit i%8); bit i set means offset committed+i is done,
 *   and the last bit is the highest offset seen;
 * - RunLength ('n', 'e'): run lengths (v1 16-bit, v2 32-bit, big-endian) from the committed
 *   offset on, alternately not done and done, the first run not done.
 * and their zstd-compressed forms ('a', 's', 'J', 'p'), which it picks when they are smaller.
 * Empty metadata: nothing done past the committed offset. Any other encoding is refused, not guessed at.
 */
import { zstdDecompressSync } from 'node:zlib';

export interface PcPartitionState {
  readonly partition: number;
  /** The committed offset: every record below it is done. */
  readonly committed: number;
  /** The highest offset the metadata covers (committed - 1 when it covers none). */
  readonly highestSeen: number;
  /** Offsets in [committed, highestSeen] not done, ascending. */
  readonly incompletes: readonly number[];
}

const ENCODINGS: Record<string, { kind: 'bitset' | 'runlength'; width: 2 | 4; zstd: boolean }> = {
  l: { kind: 'bitset', width: 2, zstd: false }, // BitSet
  a: { kind: 'bitset', width: 2, zstd: true }, // BitSetCompressed
  o: { kind: 'bitset', width: 4, zstd: false }, // BitSetV2
  s: { kind: 'bitset', width: 4, zstd: true }, // BitSetV2Compressed
  n: { kind: 'runlength', width: 2, zstd: false }, // RunLength
  J: { kind: 'runlength', width: 2, zstd: true }, // RunLengthCompressed
  e: { kind: 'runlength', width: 4, zstd: false }, // RunLengthV2
  p: { kind: 'runlength', width: 4, zstd: true }, // RunLengthV2Compressed
};

export function decodePcMetadata(partition: number, committed: number, metadata: string | null | undefined): PcPartitionState {
  const bytes = Buffer.from(metadata ?? '', 'base64');
  if (bytes.length === 0) return { partition, committed, highestSeen: committed - 1, incompletes: [] };
  const magic = bytes[0] as number;
  const encoding = ENCODINGS[String.fromCharCode(magic)];
  if (!encoding) throw new Error(`Parallel Consumer offset metadata of partition ${partition}: encoding 0x${magic.toString(16)} is not decoded here`);
  const data = encoding.zstd ? zstdDecompressSync(bytes.subarray(1)) : bytes.subarray(1);
  const read = (at: number) => (encoding.width === 2 ? data.readInt16BE(at) : data.readInt32BE(at));
  const incompletes: number[] = [];
  if (encoding.kind === 'bitset') {
    const size = read(0);
    const bits = data.subarray(encoding.width);
    for (let i = 0; i < size; i++) {
      const byte = bits[i >> 3] ?? 0;
      if (((byte >> (i & 7)) & 1) === 0) incompletes.push(committed + i);
    }
    return { partition, committed, highestSeen: committed + size - 1, incompletes };
  }
  // As Parallel Consumer decodes it: a trailing partial value is ignored, and a done run moves the
  // highest seen offset to its end, a not-done run to its last offset.
  let offset = committed;
  let highestSeen = committed > 0 ? committed - 1 : 0;
  let done = false;
  for (let at = 0; at + encoding.width <= data.length; at += encoding.width) {
    const run = read(at);
    if (!done) for (let i = 0; i < run; i++) incompletes.push(offset + i);
    offset += run;
    if (run > 0 || done) highestSeen = offset - 1;
    done = !done;
  }
  return { partition, committed, highestSeen, incompletes };
}

/** Records done in the partition: those below the committed offset and those the metadata lists as done past it. */
export function doneCount(state: PcPartitionState): number {
  const past = state.highestSeen >= state.committed ? state.highestSeen - state.committed + 1 - state.incompletes.length : 0;
  return Math.max(0, state.committed) + past;
}

/** Whether the group has committed this offset as done. */
export function isDone(state: PcPartitionState, offset: number): boolean {
  if (offset < state.committed) return true;
  if (offset > state.highestSeen) return false;
  return !binaryIncludes(state.incompletes, offset);
}

function binaryIncludes(sorted: readonly number[], value: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const at = sorted[middle] as number;
    if (at === value) return true;
    if (at < value) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}
