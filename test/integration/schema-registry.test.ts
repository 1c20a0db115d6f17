import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findFreePort } from '../../src/local-server/supervisor.js';
import { LocalSchemaRegistry } from '../../src/local-registry/registry.js';
import { createTopics, produce, readRawValues, uniqueName } from '../support/kafka.js';

const brokers = inject('kafkaBrokers');
const registryName = uniqueName('test-registry');
let registry: LocalSchemaRegistry;

// A first run may build the registry from Maven Central (minutes with an empty ~/.m2).
const HOOK_TIMEOUT_MS = 180_000;

beforeAll(async () => {
  const started = await LocalSchemaRegistry.start({
    name: registryName,
    port: await findFreePort(),
    log: (line) => console.log(line),
  });
  registry = started.registry;
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  // Loaded by name, so a registry that started but never answered is stopped too.
  await LocalSchemaRegistry.load(registryName)?.stop({ wipe: true });
}, HOOK_TIMEOUT_MS);

function paymentSchema(extraFields: object[] = []) {
  return {
    type: 'record' as const,
    name: 'Payment',
    namespace: 'dev.txstream.test',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'amountCents', type: 'long' },
      { name: 'currency', type: { type: 'enum', name: 'Currency', symbols: ['EUR', 'USD'] } },
      { name: 'note', type: ['null', 'string'], default: null },
      { name: 'tags', type: { type: 'array', items: 'string' } },
      ...extraFields,
    ],
  };
}

async function registerPayment(client: SchemaRegistry, subject: string): Promise<number> {
  const { id } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(paymentSchema()) }, { subject });
  return id;
}

/** The ccompat REST API directly, for what the client library does not expose. */
async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${registry.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}


describe('the local schema registry (Apicurio, Confluent-compatible API)', () => {
  it('registers an Avro schema, and records encoded with it survive a trip through Kafka', async () => {
    const subject = `${uniqueName('payments')}-value`;
    const topic = uniqueName('registry-avro');
    await createTopics(brokers, [{ topic }]);
    const producerSide = new SchemaRegistry({ host: registry.url });
    const id = await registerPayment(producerSide, subject);
    const payments = Array.from({ length: 20 }, (_, i) => ({
      id: `p-${i}`,
      amountCents: 1000 + i,
      currency: i % 2 === 0 ? 'EUR' : 'USD',
      note: i % 3 === 0 ? null : `note ${i}`,
      tags: Array.from({ length: i % 4 }, (_, t) => `t${t}`),
    }));

    const encoded = await Promise.all(payments.map((payment) => producerSide.encode(id, payment)));
    await produce(
      brokers,
      topic,
      encoded.map((value, i) => ({ key: payments[i]?.id ?? null, value })),
    );

    // A fresh client has no cached schemas: it must fetch the writer schema by the id in each record.
    const consumerSide = new SchemaRegistry({ host: registry.url });
    const values = await readRawValues(brokers, topic, payments.length);
    expect(values.map((value) => value.readUInt32BE(1))).toEqual(payments.map(() => id));
    const decoded = await Promise.all(values.map((value) => consumerSide.decode(value)));
    expect(decoded).toEqual(payments);
  });

  it('gives the schema back by id and as the latest version of its subject', async () => {
    const subject = `${uniqueName('lookup')}-value`;
    const client = new SchemaRegistry({ host: registry.url });
    const id = await registerPayment(client, subject);

    const byId = await rest('GET', `/schemas/ids/${id}`);
    expect(byId.status).toBe(200);
    expect(JSON.parse((byId.json as { schema: string }).schema)).toEqual(paymentSchema());
    const type = await new SchemaRegistry({ host: registry.url }).getSchema(id);
    expect((type as unknown as { name: string }).name).toBe('dev.txstream.test.Payment');

    const latest = await rest('GET', `/subjects/${subject}/versions/latest`);
    expect(latest.status).toBe(200);
    expect(latest.json).toMatchObject({ subject, version: 1, id });
    expect(JSON.parse((latest.json as { schema: string }).schema)).toEqual(paymentSchema());
    expect(await client.getLatestSchemaId(subject)).toBe(id);
  });

  it('rejects an incompatible change under BACKWARD compatibility and accepts a compatible one', async () => {
    const subject = `${uniqueName('compat')}-value`;
    const client = new SchemaRegistry({ host: registry.url });
    // The client sets a new subject's compatibility to its option (BACKWARD by default): start from NONE,
    // so BACKWARD below comes from the REST call alone.
    const first = (
      await client.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(paymentSchema()) },
        { subject, compatibility: COMPATIBILITY.NONE },
      )
    ).id;
    expect((await rest('GET', `/config/${subject}`)).json).toEqual({ compatibilityLevel: 'NONE' });
    const config = await rest('PUT', `/config/${subject}`, { compatibility: 'BACKWARD' });
    expect(config).toEqual({ status: 200, json: { compatibility: 'BACKWARD' } });
    expect((await rest('GET', `/config/${subject}`)).json).toEqual({ compatibilityLevel: 'BACKWARD' });

    // A new required field without a default: readers on the new schema cannot read old records.
    // The registry itself refuses it (409); the client's own check only compares the subject's level with BACKWARD.
    const incompatible = paymentSchema([{ name: 'merchant', type: 'string' }]);
    await expect(client.register({ type: SchemaType.AVRO, schema: JSON.stringify(incompatible) }, { subject })).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(/incompatible/i),
    });
    expect(await client.getLatestSchemaId(subject)).toBe(first);

    // The same field with a default is backward compatible, so the rejection above was about compatibility.
    const compatible = paymentSchema([{ name: 'merchant', type: 'string', default: 'unknown' }]);
    const { id: second } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(compatible) }, { subject });
    expect(second).not.toBe(first);
    expect(await client.getLatestSchemaId(subject)).toBe(second);
  });

  it('fails to decode a record whose schema id the registry does not know', async () => {
    const client = new SchemaRegistry({ host: registry.url });
    const known = await registerPayment(client, `${uniqueName('unknown-id')}-value`);
    const payload = (await client.encode(known, { id: 'p', amountCents: 1, currency: 'EUR', note: null, tags: [] })).subarray(5);
    const unknownId = 2_000_000_000;
    const record = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), payload]);
    record.writeUInt32BE(unknownId, 1);

    // The same bytes with the real id decode, so the failure below is the id alone.
    const valid = Buffer.from(record);
    valid.writeUInt32BE(known, 1);
    await expect(new SchemaRegistry({ host: registry.url }).decode(valid)).resolves.toMatchObject({ id: 'p' });

    await expect(new SchemaRegistry({ host: registry.url }).decode(record)).rejects.toMatchObject({
      status: 404,
      message: expect.stringMatching(/not found|no content/i),
    });
  });
});
