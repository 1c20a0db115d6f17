import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadSettings } from '../../src/config/load.js';
import { SETTINGS, type SettingSpec } from '../../src/config/settings.js';
import { loadTopicsRun } from '../../src/topics/run.js';

/**
 * Every row of the settings table works from a flag, from its environment variable and as a key of a
 * config file, in both modes of `txstream run`: one `-c` file, or the worker settings of a topics folder.
 */

/** A valid value per setting (the SASL fields only validate together, so all are set at once). */
const VALUES: Record<string, string> = {
  brokers: 'broker-a:19092,broker-b:19093',
  'client-id': 'table-client',
  'group-id': 'table-group',
  pipeline: 'a',
  'postgres-url': 'postgres://table-user@table-db:5432/table',
  'commit-strategy': 'batch',
  'batch-size': '42',
  'linger-ms': '43',
  'commit-interval-ms': '44',
  'transaction-timeout-ms': '4500',
  'concurrent-transactions-timeout-ms': '3500',
  'partitions-concurrently': '46',
  'max-in-flight': '460',
  'session-timeout-ms': '4700',
  'heartbeat-interval-ms': '480',
  'rebalance-timeout-ms': '4900',
  'drain-timeout-ms': '50',
  'metadata-max-age-ms': '5100',
  'memory-budget-mb': '520',
  'instance-id': 'worker-7',
  'security-protocol': 'sasl_ssl',
  'sasl-mechanism': 'scram-sha-512',
  'sasl-username': 'table-user',
  'sasl-password': 'table-secret',
  'ssl-ca-file': 'ca.pem',
  'ssl-cert-file': 'client.pem',
  'ssl-key-file': 'client.key',
  'metrics-port': '9465',
  'metrics-host': '127.0.0.2',
  'liveness-max-event-loop-delay-ms': '1234',
  port: '8099',
  host: '127.0.0.3',
  token: 'table-console-token-0123',
  'allow-replay': 'true',
};

function typed(spec: SettingSpec): unknown {
  const text = VALUES[spec.flag] as string;
  if (spec.kind === 'int') return Number(text);
  if (spec.kind === 'list') return text.split(',');
  if (spec.kind === 'boolean') return text === 'true';
  return text;
}

function at(object: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], object);
}

/** The config-file form of every setting: its path in the table, as nested keys. */
function asFile(): Record<string, unknown> {
  const file: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    let node = file;
    spec.path.slice(0, -1).forEach((key) => {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    });
    node[spec.path.at(-1) as string] = typed(spec);
  }
  return file;
}

const dir = mkdtempSync(join(tmpdir(), 'txstream-settings-table-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'pass.mjs'), 'export const pass = (record) => ({ value: record.value });\n');
const pipelines = [{ name: 'a', input: 'in', output: 'out', handler: { module: './pass.mjs', export: 'pass' } }];

const configFile = join(dir, 'config.yaml');
writeFileSync(configFile, stringify({ ...asFile(), pipelines }));
const topicsDir = join(dir, 'topics');
const emptyTopicsDir = join(dir, 'topics-empty');
for (const [folder, settings] of [
  [topicsDir, asFile()],
  [emptyTopicsDir, {}],
] as const) {
  mkdirSync(folder);
  writeFileSync(join(folder, 'pipelines.yaml'), stringify({ ...settings, pipelines: pipelines.map((p) => ({ ...p, handler: { ...p.handler, module: '../pass.mjs' } })) }));
  writeFileSync(join(folder, 'topics.yaml'), 'topics:\n  - { name: in, partitions: 1 }\n  - { name: out, partitions: 1 }\n');
}

const flags = Object.fromEntries(SETTINGS.map((spec) => [spec.flag, VALUES[spec.flag]]));
const env = Object.fromEntries(SETTINGS.map((spec) => [spec.env[0] as string, VALUES[spec.flag]]));

describe('the settings table', () => {
  it('has a test value for every row', () => {
    expect(SETTINGS.map((spec) => spec.flag).sort()).toEqual(Object.keys(VALUES).sort());
  });

  const modes: Array<[string, () => Promise<unknown>]> = [
    ['flags, with a config file', async () => loadSettings({ flags, env: {}, file: join(dir, 'empty.yaml') }).settings],
    ['env, with a config file', async () => loadSettings({ env, file: join(dir, 'empty.yaml') }).settings],
    ['keys of a config file (-c)', async () => loadSettings({ env: {}, file: configFile }).settings],
    ['flags, in topics-dir mode', async () => (await loadTopicsRun({ dir: emptyTopicsDir, flags, env: {} })).settings],
    ['env, in topics-dir mode', async () => (await loadTopicsRun({ dir: emptyTopicsDir, env })).settings],
    ['keys of the topics files (topics-dir mode)', async () => (await loadTopicsRun({ dir: topicsDir, env: {} })).settings],
  ];
  writeFileSync(join(dir, 'empty.yaml'), stringify({ pipelines }));

  for (const [mode, load] of modes) {
    it(`takes every setting from ${mode}`, async () => {
      const settings = await load();
      for (const spec of SETTINGS) expect(at(settings, spec.path), `${spec.flag} (${spec.path.join('.')})`).toEqual(typed(spec));
    });
  }
});
