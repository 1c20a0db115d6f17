import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4 has no KIP-447: its TxnOffsetCommit stops at v1 (no group metadata, so the
 * group coordinator cannot refuse a zombie's offsets), its OffsetFetch at v4 (no
 * require_stable), its GROUP_JOIN event carries no generation id, and nothing runs between
 * "the group is rebalancing" and the rejoin. patches/kafkajs+2.2.4.patch adds all four; these
 * tests fail on the unpatched package. Byte layouts follow Kafka's message definitions
 * (TxnOffsetCommitRequest.json v3, OffsetFetchRequest.json v7; flexible versions: compact
 * strings and arrays, tagged fields, request header v2).
 */
const require = createRequire(import.meta.url);
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

interface ProtocolDefinition {
  versions: string[];
  protocol: (options: { version: number }) => (args: Record<string, unknown>) => {
    request: { apiVersion: number; encode: () => Promise<{ buffer: Buffer }> };
    response: { decode: (raw: Buffer) => Promise<Record<string, unknown>>; parse: (data: Record<string, unknown>) => Promise<unknown> };
  };
}

const TxnOffsetCommit = require(`${KAFKAJS}/src/protocol/requests/txnOffsetCommit`) as ProtocolDefinition;
const OffsetFetch = require(`${KAFKAJS}/src/protocol/requests/offsetFetch`) as ProtocolDefinition;
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

describe('OffsetFetch v7 (require_stable)', () => {
  it('is offered and sends require_stable', async () => {
    expect(OffsetFetch.versions).toContain('7');
    const { request } = OffsetFetch.protocol({ version: 7 })({ groupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0 }, { partition: 1 }] }], requireStable: true });
    const decoder = new Decoder((await request.encode()).buffer);
    expect(decoder.readUVarInt()).toBe(0);
    expect(decoder.readUVarIntString()).toBe('g');
    expect(decoder.readUVarInt()).toBe(2);
    expect(decoder.readUVarIntString()).toBe('in');
    expect(decoder.readUVarInt()).toBe(3);
    expect([decoder.readInt32(), decoder.readInt32()]).toEqual([0, 1]);
    expect(decoder.readUVarInt()).toBe(0);
    expect(decoder.readInt8()).toBe(1); // require_stable
  });

  it('decodes to the shape of the older versions and keeps an unstable partition for the caller', async () => {
    const { response } = OffsetFetch.protocol({ version: 7 })({ groupId: 'g', topics: [], requireStable: true });
    const answer = (errorCode: number) =>
      new Encoder()
        .writeUVarInt(0)
        .writeInt32(0)
        .writeUVarInt(2)
        .writeUVarIntString('in')
        .writeUVarInt(2)
        .writeInt32(0)
        .writeInt64('77')
        .writeInt32(-1)
        .writeUVarIntString(null)
        .writeInt16(errorCode)
        .writeUVarInt(0)
        .writeUVarInt(0)
        .writeInt16(0)
        .writeUVarInt(0).buffer;
    const stable = await response.decode(answer(0));
    expect(stable).toMatchObject({ errorCode: 0, responses: [{ topic: 'in', partitions: [{ partition: 0, offset: '77', metadata: null, errorCode: 0 }] }] });
    // An unstable partition is not an error of the whole answer: the caller waits for that partition only.
    expect(await response.parse(await response.decode(answer(88)))).toMatchObject({ responses: [{ partitions: [{ partition: 0, errorCode: 88 }] }] });
    await expect(response.parse(await response.decode(answer(16)))).rejects.toMatchObject({ code: 16 });
  });
});

describe('the transactional producer and the consumer runner', () => {
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

  it('awaits onPartitionsRevoked before it rejoins a rebalancing group', async () => {
    const Runner = require(`${KAFKAJS}/src/consumer/runner`) as new (options: Record<string, unknown>) => {
      fetchManager: { start(): Promise<void> };
      running: boolean;
      scheduleFetchManager(): void;
    };
    const { createLogger, LEVELS } = require(`${KAFKAJS}/src/loggers`) as {
      createLogger: (options: Record<string, unknown>) => { namespace(name: string): unknown };
      LEVELS: Record<string, number>;
    };
    const { KafkaJSProtocolError } = require(`${KAFKAJS}/src/errors`) as { KafkaJSProtocolError: new (error: Record<string, unknown>) => Error };
    const order: string[] = [];
    let rejoined!: () => void;
    const done = new Promise<void>((resolve) => (rejoined = resolve));
    const runner = new Runner({
      logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} }),
      consumerGroup: {
        groupId: 'g',
        memberId: 'm',
        joinAndSync: async () => {
          order.push('rejoin');
          runner.running = false;
          rejoined();
        },
      },
      instrumentationEmitter: new EventEmitter(),
      concurrency: 1,
      eachBatch: async () => {},
      onCrash: () => {},
      onPartitionsRevoked: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push('revoked');
      },
    });
    runner.running = true;
    runner.fetchManager = {
      start: async () => {
        throw new KafkaJSProtocolError({ type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false, message: 'rebalancing' });
      },
    };
    runner.scheduleFetchManager();
    await done;
    expect(order).toEqual(['revoked', 'rejoin']);
  });
});
