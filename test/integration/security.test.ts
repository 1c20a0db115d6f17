import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { SecuritySettings } from '../../src/config/schema.js';
import { runJava } from '../../src/local-jvm/java.js';
import { findFreePort } from '../../src/local-server/supervisor.js';
import { clusterDir, jarCacheDir, LocalKafkaCluster } from '../../src/local-kafka/cluster.js';
import type { ClusterLayout } from '../../src/local-kafka/layout.js';
import { buildKafkaSecurity, describeConnectionFailure, describeSecurity } from '../../src/security/index.js';
import { createTopics, uniqueName } from '../support/kafka.js';
import { generateTestPki, type TestPki } from '../support/tls.js';

/**
 * Security against a broker of its own (not the suite's): one KRaft node with a
 * PLAINTEXT listener (inter-broker, admin), SASL_PLAINTEXT (SCRAM and PLAIN),
 * SSL, SSL requiring a client certificate (MTLS), and SASL_SSL. The CA and the
 * certificates are generated per run; the SCRAM users are created with Kafka's
 * own ConfigCommand over the PLAINTEXT listener.
 */

const REPO = resolve(import.meta.dirname, '../..');
const CLI = join(REPO, 'bin', 'txstream.js');
const USER = 'alice';
const PASSWORD = 'alice-Secret-7f3c1e';
const WRONG_PASSWORD = 'wrong-Secret-9d2b44';
const PLAIN_USER = 'bob';
const PLAIN_PASSWORD = 'bob-Secret-5a8e02';

interface SecureBroker {
  cluster: LocalKafkaCluster;
  plaintext: string;
  sasl: string;
  ssl: string;
  mtls: string;
  saslSsl: string;
}

const NAME = `sec-${process.pid}`;
let pki: TestPki;
let broker: SecureBroker;

async function startSecureBroker(pkiFiles: TestPki): Promise<SecureBroker> {
  const name = NAME;
  const host = '127.0.0.1';
  const [plaintext, controller, sasl, ssl, mtls, saslSsl] = await distinctFreePorts(6);
  const listeners = { PLAINTEXT: plaintext, SASL_PLAINTEXT: sasl, SSL: ssl, MTLS: mtls, SASL_SSL: saslSsl };
  const advertised = Object.entries(listeners).map(([listener, port]) => `${listener}://${host}:${port}`);
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const layout: ClusterLayout = {
    host,
    nodes: [{ nodeId: 1, brokerPort: plaintext as number, controllerPort: controller as number, dir: join(clusterDir(name), 'node-1') }],
    overrides: {
      listeners: [...advertised, `CONTROLLER://${host}:${controller}`].join(','),
      'advertised.listeners': advertised.join(','),
      'listener.security.protocol.map':
        'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_SSL:SASL_SSL',
      'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512,PLAIN',
      'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config': scram,
      'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config': scram,
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${PLAIN_USER}="${PLAIN_PASSWORD}";`,
      'listener.name.sasl_ssl.sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': scram,
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': scram,
      'ssl.keystore.type': 'PKCS12',
      'ssl.keystore.location': pkiFiles.brokerKeystore,
      'ssl.keystore.password': pkiFiles.storePassword,
      'ssl.key.password': pkiFiles.storePassword,
      'ssl.truststore.type': 'PKCS12',
      'ssl.truststore.location': pkiFiles.brokerTruststore,
      'ssl.truststore.password': pkiFiles.storePassword,
      'listener.name.mtls.ssl.client.auth': 'required',
    },
  };
  const { cluster } = await LocalKafkaCluster.start({ name, layout });
  const plaintextBroker = `${host}:${plaintext}`;
  try {
    // Kafka's own tool (kafka-configs.sh), over the PLAINTEXT listener; the same class in Kafka 3.9 and 4.1.
    // One mechanism per call: a request may not alter one user's credentials twice.
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
      runJava(`${jarCacheDir(cluster.version)}/*`, 'kafka.admin.ConfigCommand', [
        '--bootstrap-server',
        plaintextBroker,
        '--alter',
        '--add-config',
        `${mechanism}=[password=${PASSWORD}]`,
        '--entity-type',
        'users',
        '--entity-name',
        USER,
      ]);
    }
    // The credentials reach the broker through the metadata log: wait until both mechanisms log in.
    for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
      const security: SecuritySettings = { sasl: { mechanism, username: USER, password: PASSWORD } };
      await eventually(async () => {
        const admin = client(`${host}:${sasl}`, security, { retry: { retries: 0 } }).admin();
        await admin.connect();
        await admin.disconnect();
      });
    }
  } catch (error) {
    await cluster.stop({ wipe: true });
    throw error;
  }
  return {
    cluster,
    plaintext: plaintextBroker,
    sasl: `${host}:${sasl}`,
    ssl: `${host}:${ssl}`,
    mtls: `${host}:${mtls}`,
    saslSsl: `${host}:${saslSsl}`,
  };
}

async function eventually(attempt: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolveWait) => setTimeout(resolveWait, 250));
    }
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await findFreePort());
  return [...ports];
}

/** A KafkaJS client built the way txstream builds its own: from settings, through buildKafkaSecurity. */
function client(brokers: string, security: SecuritySettings, extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'txstream-security-test',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    retry: { retries: 3 },
    ...buildKafkaSecurity(security),
    ...extra,
  });
}

/** Produces a record and reads it back through the same secured listener. */
async function roundTrip(kafka: Kafka): Promise<string[]> {
  const topic = uniqueName('sec');
  await createTopics([broker.plaintext], [{ topic }]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const values = ['one', 'two', 'three'];
  try {
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
  } finally {
    await producer.disconnect();
  }
  const consumer = kafka.consumer({ groupId: uniqueName('sec-group'), sessionTimeout: 6000, heartbeatInterval: 500 });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolveRead, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${values.length} records in 30 s`)), 30_000);
      void consumer
        .run({
          eachMessage: async ({ message }) => {
            seen.push(message.value?.toString() ?? '');
            if (seen.length >= values.length) {
              clearTimeout(timer);
              resolveRead();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** The error a connect attempt fails with (the test fails if it connects). */
async function connectError(kafka: Kafka): Promise<Error> {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    return error as Error;
  } finally {
    await admin.disconnect().catch(() => {});
  }
  throw new Error('connected, but the connection was expected to fail');
}

beforeAll(async () => {
  pki = generateTestPki();
  broker = await startSecureBroker(pki);
});

afterAll(async () => {
  await broker?.cluster.stop({ wipe: true });
  // A broker that failed to start leaves its folder behind; its certificates too.
  rmSync(clusterDir(NAME), { recursive: true, force: true });
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

describe('SASL', () => {
  it('SCRAM-SHA-256: connects, produces and consumes', async () => {
    const kafka = client(broker.sasl, { sasl: { mechanism: 'scram-sha-256', username: USER, password: PASSWORD } });
    expect(await roundTrip(kafka)).toEqual(['one', 'two', 'three']);
  });

  it('SCRAM-SHA-512 and PLAIN connect', async () => {
    const scram512 = client(broker.sasl, { sasl: { mechanism: 'scram-sha-512', username: USER, password: PASSWORD } }).admin();
    await scram512.connect();
    expect((await scram512.describeCluster()).brokers).toHaveLength(1);
    await scram512.disconnect();
    const plain = client(broker.sasl, { sasl: { mechanism: 'plain', username: PLAIN_USER, password: PLAIN_PASSWORD } }).admin();
    await plain.connect();
    expect((await plain.describeCluster()).brokers).toHaveLength(1);
    await plain.disconnect();
  });

  it('a wrong password fails at once with one authentication error that does not hold the password', async () => {
    const lines: string[] = [];
    const kafka = client(
      broker.sasl,
      { sasl: { mechanism: 'scram-sha-256', username: USER, password: WRONG_PASSWORD } },
      {
        logLevel: logLevel.DEBUG,
        logCreator: () => (entry) => lines.push(JSON.stringify(entry)),
      },
    );
    const started = Date.now();
    const error = await connectError(kafka);
    expect(error.name).toBe('KafkaJSSASLAuthenticationError');
    expect(error.message).toMatch(/SCRAM SHA256 authentication failed/i);
    expect(error.message).toMatch(/invalid credentials/i);
    // Not retried as if the broker were down.
    expect(Date.now() - started).toBeLessThan(10_000);
    const failure = describeConnectionFailure(error, { brokers: [broker.sasl], sasl: { mechanism: 'scram-sha-256', username: USER } });
    expect(failure.kind).toBe('authentication');
    expect(failure.message).toMatch(/rejected the SASL credentials of user 'alice' \(SCRAM-SHA-256\).*invalid credentials/);
    const everything = `${error.message}\n${error.stack ?? ''}\n${failure.message}\n${lines.join('\n')}`;
    expect(everything).not.toContain(WRONG_PASSWORD);
    expect(everything).not.toContain(PASSWORD);
  });

  it('the built options never show the password or the private key in logs', () => {
    const built = buildKafkaSecurity({
      sasl: { mechanism: 'scram-sha-256', username: USER, password: PASSWORD },
      ssl: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile },
    });
    const ssl = built.ssl as { key?: string };
    expect(built.sasl && 'password' in built.sasl ? built.sasl.password : undefined).toBe(PASSWORD);
    expect(ssl.key).toMatch(/PRIVATE KEY/);
    const described = describeSecurity({ sasl: { mechanism: 'scram-sha-256', username: USER, password: PASSWORD } });
    expect(described).toEqual({ protocol: 'sasl_plaintext', sasl: { mechanism: 'scram-sha-256', username: USER, password: '[redacted]' } });
    const shown = `${JSON.stringify(built)}\n${JSON.stringify({ ...built.sasl })}\n${inspect(built, { depth: 5 })}\n${JSON.stringify(described)}`;
    expect(shown).not.toContain(PASSWORD);
    expect(shown).not.toMatch(/PRIVATE KEY/);
  });
});

describe('TLS', () => {
  it('connects, produces and consumes when the test CA is trusted', async () => {
    expect(await roundTrip(client(broker.ssl, { ssl: { caFile: pki.caFile } }))).toEqual(['one', 'two', 'three']);
  });

  it('mutual TLS: a client certificate signed by the CA is accepted, none is refused', async () => {
    const withCert = client(broker.mtls, { ssl: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile } });
    expect(await roundTrip(withCert)).toEqual(['one', 'two', 'three']);
    const refused = await connectError(client(broker.mtls, { ssl: { caFile: pki.caFile } }, { retry: { retries: 0 } }));
    expect(describeConnectionFailure(refused, { brokers: [broker.mtls] }).kind).toBe('client-certificate');
  });

  it('SASL_SSL: SCRAM over TLS', async () => {
    const admin = client(broker.saslSsl, {
      protocol: 'sasl_ssl',
      sasl: { mechanism: 'scram-sha-512', username: USER, password: PASSWORD },
      ssl: { caFile: pki.caFile },
    }).admin();
    await admin.connect();
    expect((await admin.describeCluster()).brokers).toHaveLength(1);
    await admin.disconnect();
  });

  it('an untrusted CA fails with a certificate error', async () => {
    const error = await connectError(client(broker.ssl, { ssl: { caFile: pki.otherCaFile } }, { retry: { retries: 0 } }));
    expect(error.message).toMatch(/self-signed certificate in certificate chain/i);
    const failure = describeConnectionFailure(error, { brokers: [broker.ssl] });
    expect(failure.kind).toBe('tls');
    expect(failure.message).toMatch(/^TLS handshake with Kafka at 127\.0\.0\.1:\d+ failed: self-signed certificate .*security\.ssl\.caFile/);
  });

  it('a missing CA file is a config error naming the setting and the file', () => {
    const missing = join(pki.dir, 'nope.pem');
    expect(() => buildKafkaSecurity({ ssl: { caFile: missing } })).toThrow(/security\.ssl\.caFile: cannot read .*nope\.pem \(no such file\)/);
  });
});

describe('txstream run', () => {
  function writeConfig(security: SecuritySettings, brokers: string, topics = { input: 'sec-in', output: 'sec-out' }): string {
    const dir = mkdtempSync(join(tmpdir(), 'txstream-sec-'));
    const file = join(dir, 'txstream.yaml');
    writeFileSync(
      file,
      stringify({
        brokers: [brokers],
        groupId: uniqueName('sec-run'),
        security,
        pipelines: [
          {
            name: 'echo',
            input: topics.input,
            output: topics.output,
            handler: { module: join(REPO, 'test', 'fixtures', 'echo-handler.ts'), export: 'echo' },
            // No retry topics to create (only the dead-letter topic).
            errors: { onError: 'skip' },
          },
        ],
      }),
    );
    return file;
  }

  function run(configFile: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolveRun, reject) => {
      const child = spawn(process.execPath, [CLI, 'run', '-c', configFile], {
        env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_LOG_FORMAT: 'json', TXSTREAM_LOG_LEVEL: 'debug', ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`txstream run did not exit within 60 s\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      }, 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolveRun({ code, stdout, stderr });
      });
    });
  }

  it('SCRAM settings from the environment: the worker connects and processes', async () => {
    const input = uniqueName('sec-in');
    const output = uniqueName('sec-out');
    await createTopics([broker.plaintext], [{ topic: input }, { topic: output }, { topic: `${input}.dlt` }]);
    const file = writeConfig({ sasl: { mechanism: 'scram-sha-256', username: USER, password: 'placeholder-from-file' } }, broker.sasl, {
      input,
      output,
    });
    const producer = client(broker.plaintext, {}).producer();
    await producer.connect();
    await producer.send({ topic: input, messages: [{ value: JSON.stringify({ n: 1 }) }] });
    await producer.disconnect();
    const child = spawn(process.execPath, [CLI, 'run', '-c', file], {
      env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_LOG_FORMAT: 'json', TXSTREAM_SASL_PASSWORD: PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    try {
      const consumer = client(broker.plaintext, {}).consumer({ groupId: uniqueName('sec-read'), readUncommitted: false });
      await consumer.connect();
      await consumer.subscribe({ topic: output, fromBeginning: true });
      const value = await new Promise<string>((resolveRead, reject) => {
        const timer = setTimeout(() => reject(new Error(`no output within 60 s; worker output:\n${out}`)), 60_000);
        void exited.then((code) => reject(new Error(`txstream run exited (${code}) before any output:\n${out}`)));
        void consumer.run({
          eachMessage: async ({ message }) => {
            clearTimeout(timer);
            resolveRead(message.value?.toString() ?? '');
          },
        });
      });
      await consumer.disconnect();
      expect(JSON.parse(value)).toEqual({ n: 1 });
    } finally {
      child.kill('SIGTERM');
      expect(await exited, out).toBe(0);
    }
    expect(out).not.toContain(PASSWORD);
  });

  it('a wrong SASL password (from the environment) exits non-zero with one clear line and no secret', async () => {
    const file = writeConfig({ sasl: { mechanism: 'scram-sha-256', username: USER, password: 'placeholder-from-file' } }, broker.sasl);
    const { code, stdout, stderr } = await run(file, { TXSTREAM_SASL_PASSWORD: WRONG_PASSWORD });
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^txstream: .*authentication failed/i);
    expect(lines[0]).toContain(broker.sasl);
    expect(`${stdout}${stderr}`).not.toContain(WRONG_PASSWORD);
    expect(`${stdout}${stderr}`).not.toContain('placeholder-from-file');
  });

  it('an untrusted CA exits non-zero with one clear line', async () => {
    const file = writeConfig({ ssl: { caFile: pki.otherCaFile } }, broker.ssl);
    const { code, stderr } = await run(file);
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^txstream: .*certificate/i);
    expect(lines[0]).toContain(broker.ssl);
  });

  it('a missing CA file exits 2 naming the setting and the file', async () => {
    const file = writeConfig({ ssl: { caFile: './missing-ca.pem' } }, broker.ssl);
    const { code, stderr } = await run(file);
    expect(code).toBe(2);
    expect(stderr).toMatch(/security\.ssl\.caFile: cannot read .*missing-ca\.pem \(no such file\)/);
  });
});
