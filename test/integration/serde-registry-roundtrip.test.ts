import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DecodeError, isNonRetryable } from '../../src/errors/index.js';
import { findFreePort } from '../../src/local-server/supervisor.js';
import { LocalSchemaRegistry } from '../../src/local-registry/registry.js';
import { createLogger } from '../../src/observability/logger.js';
import { FAILURE_HEADERS } from '../../src/routing/failure-headers.js';
import { createRegistrySerde, type RegistrySerde } from '../../src/serde/registry.js';
import { applyTopics } from '../../src/topics/cluster.js';
import { loadTopicsDir } from '../../src/topics/load.js';
import { pipelinesOfProject } from '../../src/topics/pipelines.js';
import { createWorker, type Worker } from '../../src/worker/worker.js';
import { caughtUp, createTopics, produce, readRawValues, readTopics, uniqueName, withAdmin } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';

/**
 * Registry serdes against a real Confluent-compatible registry (Apicurio 2.4.2, started by
 * LocalSchemaRegistry) and the suite's real broker: Avro, JSON Schema and Protobuf round trips,
 * an unknown schema id, and a pipeline from topics files whose bad records reach the DLT.
 */

const brokers = inject('kafkaBrokers');
const registryName = uniqueName('serde-registry');
let registry: LocalSchemaRegistry;
const dirs: string[] = [];

beforeAll(async () => {
  const started = await LocalSchemaRegistry.start({ name: registryName, port: await findFreePort(), log: (line) => console.log(line) });
  registry = started.registry;
}, 180_000);

afterAll(async () => {
  await LocalSchemaRegistry.load(registryName)?.stop({ wipe: true });
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, 180_000);

const PAYMENT_AVSC = JSON.stringify({
  type: 'record',
  name: 'Payment',
  namespace: 'dev.txstream.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amountCents', type: 'long' },
    { name: 'currency', type: { type: 'enum', name: 'Currency', symbols: ['EUR', 'USD'] } },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
});

const payments = Array.from({ length: 25 }, (_, i) => ({
  id: `p-${i}`,
  amountCents: 1000 + i,
  currency: i % 2 === 0 ? 'EUR' : 'USD',
  note: i % 3 === 0 ? null : `note ${i}`,
}));


/** The same payload bytes under a schema id the registry never gave out. */
function withUnknownId(record: Buffer): Buffer {
  const copy = Buffer.from(record);
  copy.writeInt32BE(1_999_999_999, 1);
  return copy;
}

const where = (offset: number) => ({ topic: 'payments', partition: 0, offset: String(offset) });

async function roundTrip(writer: RegistrySerde, values: unknown[]): Promise<unknown[]> {
  const topic = uniqueName('serde-roundtrip');
  await createTopics(brokers, [{ topic }]);
  await produce(
    brokers,
    topic,
    values.map((value) => ({ value: writer.encode(value) })),
  );
  const read = await readRawValues(brokers, topic, values.length);
  // A fresh reader: no cached schemas, it must fetch the writer schema by the id in the records.
  const reader = await createRegistrySerde({ url: registry.url, format: 'avro', subject: 'unused-value', prefetchSubject: false });
  await reader.prepare(read);
  return read.map((value, i) => reader.decode(value, where(i)));
}

describe('registry serdes through a real registry and broker', () => {
  it('Avro: registers the schema, encodes, produces, consumes and decodes the same values', async () => {
    const subject = `${uniqueName('payments')}-value`;
    const writer = await createRegistrySerde({ url: registry.url, format: 'avro', subject, schema: PAYMENT_AVSC });
    expect(writer.writerId).toBeGreaterThan(0);
    // Registering the same schema again gives the same id: creating serdes is idempotent.
    const again = await createRegistrySerde({ url: registry.url, format: 'avro', subject, schema: PAYMENT_AVSC });
    expect(again.writerId).toBe(writer.writerId);

    const encoded = writer.encode(payments[0]);
    expect(encoded?.[0]).toBe(0);
    expect(encoded?.readInt32BE(1)).toBe(writer.writerId);
    expect(await roundTrip(writer, payments)).toEqual(payments);
  });

  it('Avro: a record with a schema id the registry does not know is a non-retryable DecodeError naming the id', async () => {
    const subject = `${uniqueName('unknown')}-value`;
    const writer = await createRegistrySerde({ url: registry.url, format: 'avro', subject, schema: PAYMENT_AVSC });
    const good = writer.encode(payments[1]) as Buffer;
    const bad = withUnknownId(good);
    const reader = await createRegistrySerde({ url: registry.url, format: 'avro', subject, prefetchSubject: false });
    await reader.prepare([good, bad]);
    expect(reader.decode(good, where(0))).toEqual(payments[1]);
    let failure: unknown;
    try {
      reader.decode(bad, where(1));
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(DecodeError);
    expect(isNonRetryable(failure)).toBe(true);
    expect((failure as Error).message).toMatch(
      new RegExp(`^record payments\\[0\\]@1: unknown schema id 1999999999: the registry at ${registry.url.replace(/\./g, '\\.')} has no such schema \\(404`),
    );
    // decodeAsync does the same in one call.
    await expect(reader.decodeAsync(bad, where(2))).rejects.toBeInstanceOf(DecodeError);
  });

  it('Avro: an output that does not fit the schema is a non-retryable error naming the field', async () => {
    const writer = await createRegistrySerde({ url: registry.url, format: 'avro', subject: `${uniqueName('bad-out')}-value`, schema: PAYMENT_AVSC });
    let failure: unknown;
    try {
      writer.encode({ id: 'p', amountCents: 'lots', currency: 'EUR', note: null });
    } catch (error) {
      failure = error;
    }
    expect(isNonRetryable(failure)).toBe(true);
    expect((failure as Error).message).toMatch(/^output does not fit avro schema id \d+ of subject '.*' at amountCents: /);
  });

  it('JSON Schema: round trip, and a record that breaks the schema is a DecodeError', async () => {
    const schema = JSON.stringify({
      type: 'object',
      properties: { id: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
      required: ['id', 'qty'],
      additionalProperties: false,
    });
    const subject = `${uniqueName('orders-json')}-value`;
    const writer = await createRegistrySerde({ url: registry.url, format: 'json-schema', subject, schema });
    const orders = [
      { id: 'o-1', qty: 2 },
      { id: 'o-2', qty: 5 },
    ];
    const encoded = orders.map((order) => writer.encode(order) as Buffer);
    const reader = await createRegistrySerde({ url: registry.url, format: 'json-schema', subject });
    await reader.prepare(encoded);
    expect(encoded.map((value, i) => reader.decode(value, where(i)))).toEqual(orders);

    const header = encoded[0]?.subarray(0, 5) as Buffer;
    const broken = Buffer.concat([header, Buffer.from(JSON.stringify({ id: 'o-3', qty: 0 }))]);
    expect(() => reader.decode(broken, where(9))).toThrow(DecodeError);
    expect(() => reader.decode(broken, where(9))).toThrow(/does not decode with its writer schema id \d+ \(json-schema\)/);
  });

  it('Protobuf: round trip of the named message type, with Confluent message indexes', async () => {
    const schema = `syntax = "proto3";
package shop;
message Header { string source = 1; }
message Shipment { string id = 1; int32 parcels = 2; repeated string labels = 3; }
`;
    const subject = `${uniqueName('shipments')}-value`;
    const writer = await createRegistrySerde({ url: registry.url, format: 'protobuf', subject, schema, messageName: 'Shipment' });
    const shipment = { id: 's-1', parcels: 3, labels: ['fragile', 'upright'] };
    const encoded = writer.encode(shipment) as Buffer;
    // magic, id, message indexes [1] (count 1, index 1, zigzag), then the message.
    expect([...encoded.subarray(5, 7)]).toEqual([2, 2]);
    const reader = await createRegistrySerde({ url: registry.url, format: 'protobuf', subject, schema, messageName: 'Shipment' });
    await reader.prepare([encoded]);
    expect(reader.decode(encoded, where(0))).toEqual(shipment);
    // Without the schema text, the latest version of the subject gives both the id and the index path.
    const byLookup = await createRegistrySerde({ url: registry.url, format: 'protobuf', subject, messageName: 'Shipment', forEncoding: true });
    expect(byLookup.writerId).toBe(writer.writerId);
    expect(byLookup.encode(shipment)).toEqual(encoded);
  });

  it('a pipeline from topics files with an Avro input: good records are handled, undecodable ones reach the DLT with the reason', async () => {
    const p = uniqueName('avro-pipe');
    const subject = `${p}.payments-value`;
    const dir = mkdtempSync(join(tmpdir(), 'txstream-avro-pipe-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'payment.avsc'), PAYMENT_AVSC);
    writeFileSync(
      join(dir, 'audit.mjs'),
      'export default (record) => ({ value: { id: record.value.id, cents: record.value.amountCents, currency: record.value.currency } });\n',
    );
    writeFileSync(
      join(dir, 'payments.yaml'),
      `schemaRegistry: { url: "${registry.url}" }
topics:
  - name: ${p}.payments
    partitions: 2
  - name: ${p}.audited
    partitions: 2
pipelines:
  - name: audit
    input: ${p}.payments
    output: ${p}.audited
    handler: { module: ./audit.mjs }
    serde:
      input: { format: avro, subject: ${subject}, schema: ./payment.avsc }
    errors: { onError: retry, attempts: 1, backoff: { initialMs: 100, jitter: 0 } }
    retryTopics: { partitions: 1 }
    deadLetterTopics: { partitions: 1 }
`,
    );
    const project = loadTopicsDir(dir);
    await withAdmin(brokers, (admin) => applyTopics(admin, project.topics));
    const definitions = await pipelinesOfProject(project);

    const writer = await createRegistrySerde({ url: registry.url, format: 'avro', subject, schema: PAYMENT_AVSC });
    const good = payments.map((payment) => ({ key: payment.id, value: writer.encode(payment) }));
    const unknownId = withUnknownId(good[0]?.value as Buffer);
    await produce(brokers, `${p}.payments`, [...good, { key: 'bad-id', value: unknownId }, { key: 'not-avro', value: Buffer.from('{"id":"x"}') }]);

    let worker: Worker | undefined;
    try {
      worker = createWorker({
        brokers,
        groupId: p,
        pipelines: definitions,
        logger: createLogger({ level: 'error', pretty: false }),
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1000,
      });
      await worker.start();
      await waitFor(() => caughtUp(brokers, `${p}.audit`, `${p}.payments`), 'the input consumed to its end', 90_000, 250);

      const audited = await readTopics(brokers, [`${p}.audited`], { until: (records) => records.length >= payments.length });
      expect(audited.map((record) => JSON.parse(record.value ?? 'null') as unknown).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
        payments
          .map((payment) => ({ id: payment.id, cents: payment.amountCents, currency: payment.currency }))
          .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      );
      const dead = await readTopics(brokers, [`${p}.payments.dlt`], { until: (records) => records.length >= 2 });
      expect(dead.map((record) => record.key).sort()).toEqual(['bad-id', 'not-avro']);
      for (const record of dead) {
        expect(record.headers[FAILURE_HEADERS.errorClass]).toBe('DecodeError');
        expect(record.headers[FAILURE_HEADERS.reason]).toBe('decode-failed');
        expect(record.headers[FAILURE_HEADERS.originalTopic]).toBe(`${p}.payments`);
      }
      expect(dead.find((record) => record.key === 'bad-id')?.headers[FAILURE_HEADERS.errorMessage]).toMatch(/unknown schema id 1999999999/);
      expect(dead.find((record) => record.key === 'not-avro')?.headers[FAILURE_HEADERS.errorMessage]).toMatch(/not in the schema registry wire format/);
    } finally {
      await worker?.stop(10_000);
    }
  });
});
