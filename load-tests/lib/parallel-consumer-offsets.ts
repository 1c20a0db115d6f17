/**
 * What a Confluent Parallel Consumer group has committed, and its exactly-once audit. Its committed
 * offset is only the lowest record not yet done in the partition: the records it finished past it
 * (out of offset order, as KEY ordering does) are committed too, listed in the offset's metadata in
 * the same transaction as their outputs, and skipped after a restart. So its progress and its
 * audit both need that metadata, decoded here as Parallel Consumer 0.5.3 writes it
 * (OffsetMapCodecManager, EncodedOffsetPair, OffsetBitSet, OffsetRunLength): base64 of a magic
 * byte naming the encoding, then
 * - BitSet ('l', 'o'): the bit count (v1 a 16-bit, v2 a 32-bit big-endian integer), then a
 *   java.util.BitSet (bit i is byte i/8's bit i%8); bit i set means offset committed+i is done,
 *   and the last bit is the highest offset seen;
 * - RunLength ('n', 'e'): run lengths (v1 16-bit, v2 32-bit, big-endian) from the committed
 *   offset on, alternately not done and done, the first run not done;
 * - their zstd-compressed forms ('a', 's', 'J', 'p'), which it picks when they are smaller.
 * Empty metadata: nothing done past the committed offset. Any other encoding is refused, not guessed at.
 */
import { zstdDecompressSync } from 'node:zlib';
import type { Admin, Kafka } from 'kafkajs';
import { toAuditResult } from '../../src/audit/lineage-audit.js';
import { auditPipeline, positionKey } from '../../src/audit/pipeline-audit.js';
import { readAuditSnapshot } from '../../src/audit/pipeline-audit-read.js';
import { withAdmin } from '../../src/kafka/admin.js';
import type { GroupAudit } from './kafka-env.js';

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

/** The group's committed state of every partition of the topic (a partition without a commit: nothing done). */
export async function pcCommittedStates(admin: Admin, groupId: string, topic: string): Promise<PcPartitionState[]> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).map(({ partition, offset, metadata }) =>
    Number(offset) < 0 ? { partition, committed: 0, highestSeen: -1, incompletes: [] } : decodePcMetadata(partition, Number(offset), metadata),
  );
}

/** Records the group has committed as done: measureCommittedRate's count for a Parallel Consumer group. */
export async function pcCommittedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  return (await pcCommittedStates(admin, groupId, topic)).reduce((sum, state) => sum + doneCount(state), 0);
}

/**
 * The exactly-once audit of a stopped Parallel Consumer group, with the code of `txstream audit`
 * (auditGroup): the inputs it committed as done, below its committed offsets or listed done in
 * their metadata, must each have exactly one output (read_committed, by lineage). An output of any
 * other input counts as unexpected and fails it: that input would run again after a restart, and
 * be written twice.
 */
export async function auditParallelConsumerGroup(kafka: Kafka, options: { groupId: string; input: string; output: string; timeoutMs?: number }): Promise<GroupAudit> {
  const states = new Map((await withAdmin(kafka, (admin) => pcCommittedStates(admin, options.groupId, options.input))).map((state) => [state.partition, state]));
  // The whole input is read: what it committed as done reaches past its committed offsets.
  const { snapshot } = await readAuditSnapshot(
    kafka,
    { groupId: options.groupId, inputs: [options.input], retryTiers: [], outputs: [options.output], deadLetters: [] },
    { inputs: 'to-end', timeoutMs: options.timeoutMs ?? 60_000 },
  );
  const done = [...snapshot.inputs].filter((input) => {
    const state = states.get(input.partition);
    return state !== undefined && isDone(state, Number(input.offset));
  });
  // Every input kept counts as processed: each partition's "committed" lies past the last one done.
  const committed = new Map([...states.values()].map((state) => [positionKey(options.input, state.partition), String(Math.max(state.committed, state.highestSeen + 1))]));
  const audit = auditPipeline({ inputTopics: snapshot.inputTopics, inputs: done, committed, outputs: snapshot.outputs }, { problemLimit: 10 });
  return { ...toAuditResult(audit), committed: audit.processed, outputRecords: audit.records.outputs, deadLettered: 0 };
}
