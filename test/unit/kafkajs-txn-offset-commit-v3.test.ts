import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4's TxnOffsetCommit stops at v1, which has no group metadata: the group coordinator
 * cannot tell a zombie's offsets from the current member's. TxnOffsetCommit v3 (KIP-447) carries the
 * consumer's generation, member id and group instance id, and `transaction.sendOffsets` passes them
 * through. patches/kafkajs+2.2.4+004+kip447-txn-offset-commit-v3.patch adds both; these tests fail on
 * the unpatched package. Byte layouts follow Kafka's TxnOffsetCommitRequest.json v3 (a flexible
 * version: compact strings and arrays, tagged fields, request header v2).
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

interface ProtocolDefinition {
  versions: string[];
  protocol: (options: { version: number }) => (args: Record<string, unknown>) => {
    request: { apiVersion: number; encode: () => Promise<{ buffer: Buffer }> };
    response: { decode: (raw: Buffer) => Promise<Record<string, unknown>>; parse: (data: Record<string, unknown>) => Promise<unknown> };
  };
}

const TxnOffsetCommit = require(`${KAFKAJS}/src/protocol/requests/txnOffsetCommit`) as ProtocolDefinition;
const Decoder = require(`${KAFKAJS}/src/protocol/decoder`) as new (buffer: Buffer) => {
  readUVarInt(): number;
  readUVarIntString(): string | null;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readInt8(): number;
};
const Encoder = require(`${KAFKAJS}/src/protocol/encoder`) as new () => {
  writeUVarInt(value: number): Encoder;
  writeUVarIntString(value: string | null): Encoder;
  writeInt16(value: number): Encoder;
  writeInt32(value: number): Encoder;
  writeInt64(value: string): Encoder;
  buffer: Buffer;
};
type Encoder = InstanceType<typeof Encoder>;

describe('TxnOffsetCommit v3 (KIP-447)', () => {
  const build = () =>
    TxnOffsetCommit.protocol({ version: 3 })({
      transactionalId: 'g.w1',
      groupId: 'g',
      producerId: '42',
      producerEpoch: 3,
      generationId: 9,
      memberId: 'member-a',
      groupInstanceId: null,
      topics: [{ topic: 'in', partitions: [{ partition: 2, offset: '1500' }] }],
    });

  it('is offered, so the broker is asked for it', () => {
    expect(TxnOffsetCommit.versions).toContain('3');
  });

  it('sends the generation and member id with the offsets', async () => {
    const { request } = build();
    expect(request.apiVersion).toBe(3);
    const decoder = new Decoder((await request.encode()).buffer);
    expect(decoder.readUVarInt()).toBe(0); // request header v2: no tagged fields
    expect(decoder.readUVarIntString()).toBe('g.w1');
    expect(decoder.readUVarIntString()).toBe('g');
    expect(decoder.readInt64().toString()).toBe('42');
    expect(decoder.readInt16()).toBe(3);
    expect(decoder.readInt32()).toBe(9);
    expect(decoder.readUVarIntString()).toBe('member-a');
    expect(decoder.readUVarIntString()).toBeNull();
    expect(decoder.readUVarInt()).toBe(2); // one topic (compact: n + 1)
    expect(decoder.readUVarIntString()).toBe('in');
    expect(decoder.readUVarInt()).toBe(2); // one partition
    expect(decoder.readInt32()).toBe(2);
    expect(decoder.readInt64().toString()).toBe('1500');
    expect(decoder.readInt32()).toBe(-1); // committed leader epoch: unknown
    expect(decoder.readUVarIntString()).toBeNull(); // metadata
  });

  it("turns the coordinator's refusal of a stale generation into an error", async () => {
    const { response } = build();
    const raw = new Encoder()
      .writeUVarInt(0) // response header tagged fields
      .writeInt32(0)
      .writeUVarInt(2)
      .writeUVarIntString('in')
      .writeUVarInt(2)
      .writeInt32(2)
      .writeInt16(22) // ILLEGAL_GENERATION
      .writeUVarInt(0)
      .writeUVarInt(0)
      .writeUVarInt(0).buffer;
    const decoded = await response.decode(raw);
    await expect(response.parse(decoded)).rejects.toMatchObject({ type: 'ILLEGAL_GENERATION' });
  });
});

describe('the transactional producer', () => {
  it('sendOffsets passes the consumer group metadata to TxnOffsetCommit', async () => {
    const createEosManager = require(`${KAFKAJS}/src/producer/eosManager`) as (options: Record<string, unknown>) => {
      initProducerId(): Promise<void>;
      beginTransaction(): void;
      sendOffsets(options: Record<string, unknown>): Promise<void>;
    };
    const { createLogger, LEVELS } = require(`${KAFKAJS}/src/loggers`) as {
      createLogger: (options: Record<string, unknown>) => unknown;
      LEVELS: Record<string, number>;
    };
    const sent: Array<Record<string, unknown>> = [];
    const coordinator = {
      initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
      addOffsetsToTxn: async () => {},
      txnOffsetCommit: async (request: Record<string, unknown>) => void sent.push(request),
    };
    const cluster = { retry: {}, refreshMetadataIfNecessary: async () => {}, findGroupCoordinator: async () => coordinator };
    const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} });
    const eosManager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx' });
    await eosManager.initProducerId();
    eosManager.beginTransaction();
    await eosManager.sendOffsets({
      consumerGroupId: 'g',
      consumerGroupMetadata: { generationId: 5, memberId: 'm-1', groupInstanceId: null },
      topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '10' }] }],
    });
    expect(sent[0]).toMatchObject({ groupId: 'g', generationId: 5, memberId: 'm-1', groupInstanceId: null });
  });
});
