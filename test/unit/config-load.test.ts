import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { type ConfigSources, loadSettings } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors/index.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'txstream-config-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCounter = 0;
function writeConfig(text: string, name = `config-${++fileCounter}.yaml`): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Runs loadSettings expecting a ConfigError, and returns it. */
function configErrorOf(sources: ConfigSources): ConfigError {
  try {
    loadSettings(sources);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadSettings to throw a ConfigError');
}

const BROKERS = { TXSTREAM_BROKERS: 'localhost:9092' };

describe('loadSettings defaults and precedence', () => {
  it('fills every default when only brokers are given', () => {
    const { settings, baseDir } = loadSettings({ env: BROKERS });
    expect(settings).toEqual({
      brokers: ['localhost:9092'],
      clientId: DEFAULTS.clientId,
      commit: {
        strategy: 'transactional',
        batchSize: DEFAULTS.batchSize,
        lingerMs: DEFAULTS.lingerMs,
        commitIntervalMs: DEFAULTS.commitIntervalMs,
        transactionTimeoutMs: DEFAULTS.transactionTimeoutMs,
        concurrentTransactionsTimeoutMs: DEFAULTS.concurrentTransactionsTimeoutMs,
      },
      partitionsConcurrently: DEFAULTS.partitionsConcurrently,
      maxInFlight: DEFAULTS.maxInFlight,
      sessionTimeoutMs: DEFAULTS.sessionTimeoutMs,
      heartbeatIntervalMs: DEFAULTS.heartbeatIntervalMs,
      rebalanceTimeoutMs: DEFAULTS.rebalanceTimeoutMs,
      drainTimeoutMs: DEFAULTS.drainTimeoutMs,
      metadataMaxAgeMs: DEFAULTS.metadataMaxAgeMs,
      memoryBudgetMb: DEFAULTS.memoryBudgetMb,
      metricsHost: DEFAULTS.metricsHost,
      livenessMaxEventLoopDelayMs: DEFAULTS.livenessMaxEventLoopDelayMs,
      console: { port: DEFAULTS.consolePort, host: DEFAULTS.consoleHost, allowReplay: false },
      only: [],
      pipelines: [],
    });
    expect(baseDir).toBe(process.cwd());
  });

  it('lets the file override defaults, env override the file, and flags override env', () => {
    const file = writeConfig(
      ['brokers: [file:1]', 'clientId: from-file', 'commit:', '  batchSize: 10', '  lingerMs: 11', '  commitIntervalMs: 12'].join('\n'),
    );
    const { settings } = loadSettings({
      file,
      env: { TXSTREAM_BATCH_SIZE: '20', TXSTREAM_LINGER_MS: '21' },
      flags: { 'batch-size': '30' },
    });
    expect(settings.brokers).toEqual(['file:1']);
    expect(settings.clientId).toBe('from-file');
    // flag > env > file
    expect(settings.commit.batchSize).toBe(30);
    // env > file
    expect(settings.commit.lingerMs).toBe(21);
    // file > default
    expect(settings.commit.commitIntervalMs).toBe(12);
    // untouched nested default survives the deep merge
    expect(settings.commit.transactionTimeoutMs).toBe(DEFAULTS.transactionTimeoutMs);
    expect(settings.commit.strategy).toBe(DEFAULTS.commitStrategy);
  });

  it('lets flags override file values for lists', () => {
    const file = writeConfig('brokers: [file:1, file:2]\n');
    const { settings } = loadSettings({ file, flags: { brokers: 'flag:9' } });
    expect(settings.brokers).toEqual(['flag:9']);
  });

  it('ignores flags left undefined and env variables set to the empty string', () => {
    const { settings } = loadSettings({
      env: { ...BROKERS, TXSTREAM_CLIENT_ID: '' },
      flags: { 'client-id': undefined, 'batch-size': undefined },
    });
    expect(settings.clientId).toBe(DEFAULTS.clientId);
    expect(settings.commit.batchSize).toBe(DEFAULTS.batchSize);
  });

  it('trims string values from flags and env', () => {
    const { settings } = loadSettings({ env: BROKERS, flags: { 'client-id': '  worker-a  ', 'commit-strategy': ' batch ' } });
    expect(settings.clientId).toBe('worker-a');
    expect(settings.commit.strategy).toBe('batch');
  });

  it('parses whole numbers from env, including surrounding whitespace', () => {
    const { settings } = loadSettings({ env: { ...BROKERS, TXSTREAM_PARTITIONS_CONCURRENTLY: ' 8 ' } });
    expect(settings.partitionsConcurrently).toBe(8);
  });
});

describe('loadSettings lists and brokers', () => {
  it('splits a comma-separated broker list and trims each entry', () => {
    const { settings } = loadSettings({ flags: { brokers: 'a:1, b:2' } });
    expect(settings.brokers).toEqual(['a:1', 'b:2']);
  });

  it('drops empty entries from a list', () => {
    const { settings } = loadSettings({ flags: { brokers: 'a:1,,b:2,', pipeline: 'orders , , payments' } });
    expect(settings.brokers).toEqual(['a:1', 'b:2']);
    expect(settings.only).toEqual(['orders', 'payments']);
  });

  it('falls back to KAFKA_BROKERS when TXSTREAM_BROKERS is not set', () => {
    const { settings } = loadSettings({ env: { KAFKA_BROKERS: 'k1:9092,k2:9093' } });
    expect(settings.brokers).toEqual(['k1:9092', 'k2:9093']);
  });

  it('prefers TXSTREAM_BROKERS over KAFKA_BROKERS', () => {
    const { settings } = loadSettings({ env: { KAFKA_BROKERS: 'kafka:1', TXSTREAM_BROKERS: 'tx:2' } });
    expect(settings.brokers).toEqual(['tx:2']);
  });

  it('falls back to KAFKA_BROKERS when TXSTREAM_BROKERS is empty', () => {
    const { settings } = loadSettings({ env: { KAFKA_BROKERS: 'kafka:1', TXSTREAM_BROKERS: '' } });
    expect(settings.brokers).toEqual(['kafka:1']);
  });

  it('rejects a broker without a port, naming where it came from', () => {
    const error = configErrorOf({ env: { KAFKA_BROKERS: 'localhost' } });
    expect(error.message).toContain('env KAFKA_BROKERS');
    expect(error.message).toContain('brokers.0');
    expect(error.message).toContain('host:port');
  });

  it('says how to set brokers when none are given', () => {
    const error = configErrorOf({ env: {} });
    expect(error.message).toContain('brokers is required');
    expect(error.message).toContain('--brokers');
    expect(error.message).toContain('TXSTREAM_BROKERS');
    expect(error.message).toContain('KAFKA_BROKERS');
    expect(error.message).toContain("'brokers' in the config file");
  });
});

describe('loadSettings validation messages', () => {
  it('names the flag when an integer flag is not a whole number', () => {
    const error = configErrorOf({ env: BROKERS, flags: { 'batch-size': 'abc' } });
    expect(error.message).toContain("--batch-size: 'abc' is not a whole number");
    expect(error.message).toContain('records per handler call');
  });

  it('names the env variable when an integer env value is not a whole number', () => {
    const error = configErrorOf({ env: { ...BROKERS, TXSTREAM_LINGER_MS: '1.5' } });
    expect(error.message).toContain("env TXSTREAM_LINGER_MS: '1.5' is not a whole number");
  });

  it('rejects negative numbers as not whole numbers', () => {
    const error = configErrorOf({ env: BROKERS, flags: { 'drain-timeout-ms': '-1' } });
    expect(error.message).toContain("--drain-timeout-ms: '-1' is not a whole number");
  });

  it('names the setting, its origin and the accepted values for an unknown commit strategy', () => {
    const error = configErrorOf({ env: BROKERS, flags: { 'commit-strategy': 'foo' } });
    expect(error.message).toContain('--commit-strategy');
    expect(error.message).toContain('commit.strategy');
    for (const accepted of ['transactional', 'batch', 'per-message', 'auto']) expect(error.message).toContain(accepted);
  });

  it('names the env variable as the origin of a bad enum value from env', () => {
    const error = configErrorOf({ env: { ...BROKERS, TXSTREAM_COMMIT_STRATEGY: 'sometimes' } });
    expect(error.message).toMatch(/env TXSTREAM_COMMIT_STRATEGY → commit\.strategy/);
  });

  it('reports range violations of numeric settings with their origin', () => {
    const error = configErrorOf({ env: BROKERS, flags: { 'batch-size': '0' } });
    expect(error.message).toMatch(/--batch-size → commit\.batchSize/);
  });

  it('reports several problems at once in one ConfigError', () => {
    const error = configErrorOf({
      env: {},
      flags: { 'batch-size': 'abc', 'commit-strategy': 'foo', 'linger-ms': 'soon' },
    });
    expect(error.message.startsWith('invalid configuration:')).toBe(true);
    expect(error.message).toContain('--batch-size');
    expect(error.message).toContain('--linger-ms');
    expect(error.message).toContain('commit.strategy');
    expect(error.message).toContain('brokers is required');
    const bullets = error.message.split('\n').filter((line) => line.startsWith('  - '));
    expect(bullets).toHaveLength(4);
  });
});

describe('loadSettings config files', () => {
  it('reads pipelines from a YAML file and applies their schema defaults', () => {
    const file = writeConfig(
      [
        'brokers:',
        '  - broker-1:9092',
        'groupId: team',
        'pipelines:',
        '  - name: enrich-orders',
        '    input: [orders, orders.retry]',
        '    output: orders.enriched',
        '    handler:',
        '      module: ./handlers/enrich.js',
        '    serde:',
        '      input: string',
        '    commit:',
        '      strategy: batch',
      ].join('\n'),
    );
    const { settings } = loadSettings({ file, env: {} });
    expect(settings.groupId).toBe('team');
    expect(settings.pipelines).toEqual([
      {
        name: 'enrich-orders',
        input: ['orders', 'orders.retry'],
        output: 'orders.enriched',
        handler: { module: './handlers/enrich.js', export: 'default' },
        serde: { input: 'string' },
        commit: { strategy: 'batch' },
      },
    ]);
  });

  it('reads a JSON file too', () => {
    const file = writeConfig(JSON.stringify({ brokers: ['j:1'], clientId: 'json-client' }), 'settings.json');
    const { settings } = loadSettings({ file, env: {} });
    expect(settings.brokers).toEqual(['j:1']);
    expect(settings.clientId).toBe('json-client');
  });

  it('treats an empty file as no settings', () => {
    const file = writeConfig('');
    const { settings } = loadSettings({ file, env: BROKERS });
    expect(settings.clientId).toBe(DEFAULTS.clientId);
  });

  it('rejects an unknown key in a pipeline, naming the key and the file', () => {
    const file = writeConfig(
      ['brokers: [b:1]', 'pipelines:', '  - name: p1', '    input: in', '    handler: { module: ./h.js }', '    outptu: typo-topic'].join(
        '\n',
      ),
    );
    const error = configErrorOf({ file, env: {} });
    expect(error.message).toContain(`${file}:6:5 pipelines[0].outptu: unknown key 'outptu' (accepted: name, input, output, outputs, `);
  });

  it('rejects an unknown top-level key, naming the key', () => {
    const file = writeConfig('brokers: [b:1]\nbatchSize: 10\n');
    const error = configErrorOf({ file, env: {} });
    expect(error.message).toContain('batchSize');
  });

  // BUG (src/config/load.ts describeIssue): the origin lookup loop stops at path length 1 and never
  // looks up '' (which recordOrigins does record for the file), so a top-level unknown key is reported
  // as "(root): Unrecognized key" without naming the file. Remove `.fails` once fixed.
  it('names the file when it holds an unknown top-level key', () => {
    const file = writeConfig('brokers: [b:1]\nbatchSize: 10\n');
    const error = configErrorOf({ file, env: {} });
    expect(error.message).toContain(file);
  });

  it('rejects an unknown key in the commit section, naming the key and the file', () => {
    const file = writeConfig('brokers: [b:1]\ncommit:\n  lingerMS: 10\n');
    const error = configErrorOf({ file, env: {} });
    expect(error.message).toContain('lingerMS');
    expect(error.message).toContain(file);
  });

  it('names the file as the origin of an invalid value in it', () => {
    const file = writeConfig('brokers: [b:1]\ncommit:\n  strategy: eventually\n');
    const error = configErrorOf({ file, env: {} });
    expect(error.message).toContain(`${file}:3:13 commit.strategy: Invalid option`);
  });

  it('names the env variable, not the file, when env overrides a file value with a bad one', () => {
    const file = writeConfig('brokers: [b:1]\ncommit:\n  strategy: batch\n');
    const error = configErrorOf({ file, env: { TXSTREAM_COMMIT_STRATEGY: 'nope' } });
    expect(error.message).toContain('env TXSTREAM_COMMIT_STRATEGY → commit.strategy');
    expect(error.message).not.toContain(`${file} →`);
  });

  it('rejects a pipeline name with characters outside the allowed set', () => {
    const file = writeConfig(
      ['brokers: [b:1]', 'pipelines:', '  - name: bad name', '    input: in', '    handler: { module: ./h.js }'].join('\n'),
    );
    const error = configErrorOf({ file, env: {} });
    expect(error.message).toContain(`${file}:3:11 pipelines[0].name: letters, digits`);
  });

  it('names the path of a missing config file', () => {
    const missing = join(dir, 'does-not-exist.yaml');
    const error = configErrorOf({ file: missing, env: BROKERS });
    expect(error.message).toContain(missing);
    expect(error.message).toContain('not found');
    expect(error.source).toBe(missing);
  });

  it('names a folder given as the config file, with the source set to it', () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder, { recursive: true });
    const error = configErrorOf({ file: folder, env: BROKERS });
    expect(error.message).toBe(`${folder}: is a folder; -c/--config takes a YAML or JSON file (a topics folder goes to --topics-dir)`);
    expect(error.source).toBe(folder);
  });

  it('rejects a file that is not valid YAML, naming the file', () => {
    const file = writeConfig('brokers: [a:1\nclientId: x: y: z\n');
    const error = configErrorOf({ file, env: {} });
    expect(error.message).toContain(file);
    expect(error.message).toContain('not valid YAML/JSON');
  });

  it('rejects a file whose top level is not a mapping', () => {
    const file = writeConfig('- a\n- b\n');
    const error = configErrorOf({ file, env: BROKERS });
    expect(error.message).toContain(file);
    expect(error.message).toContain('mapping');
  });

  it("gives the file's folder as baseDir", () => {
    const nested = join(dir, 'nested', 'deeper');
    mkdirSync(nested, { recursive: true });
    const file = join(nested, 'txstream.yaml');
    writeFileSync(file, 'brokers: [b:1]\n');
    expect(loadSettings({ file, env: {} }).baseDir).toBe(nested);
  });
});

describe('loadSettings: every problem of a file at once, each at its line', () => {
  it('reports the schema problems and those of the file checks together, in line order', () => {
    const file = writeConfig(
      [
        'brokers: [b:1]',
        'commit:',
        '  strategy: sometimes',
        'pipelines:',
        '  - name: p',
        '    input: in',
        '    handler: { module: ./h.js }',
        '  - name: p',
        '    input: in2',
        'batchSize: 10',
      ].join('\n'),
    );
    const error = configErrorOf({
      file,
      env: { TXSTREAM_LINGER_MS: 'soon' },
      checkFile: (data) => {
        expect((data as { batchSize?: number }).batchSize).toBe(10);
        return [{ path: ['pipelines', 1, 'name'], message: 'is used twice' }];
      },
    });
    expect(error.message.split('\n')).toEqual([
      'invalid configuration:',
      "  - env TXSTREAM_LINGER_MS: 'soon' is not a whole number (how long a fetch may wait to fill)",
      `  - ${file}:3:13 commit.strategy: Invalid option: expected one of "transactional"|"batch"|"per-message"|"auto" (transactional | batch | per-message | auto)`,
      `  - ${file}:8:5 pipelines[1].handler: is required (a mapping)`,
      `  - ${file}:8:11 pipelines[1].name: is used twice`,
      `  - ${file}:10:1 batchSize: unknown key 'batchSize' (accepted: brokers, clientId, groupId, commit, partitionsConcurrently, maxInFlight, sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, drainTimeoutMs, metadataMaxAgeMs, memoryBudgetMb, instanceId, metricsPort, metricsHost, livenessMaxEventLoopDelayMs, console, postgresUrl, only, pipelines, security)`,
    ]);
  });
});

describe('loadSettings wrong-typed file values', () => {
  // BUG (src/config/load.ts describeIssue): zod 4 leaves `issue.input` out of issues unless
  // `reportInput: true` is passed, so every invalid_type issue takes the "is required" branch:
  // a value that IS set but has the wrong type is reported as missing, and its origin (the file)
  // is dropped. Remove `.fails` once fixed.
  it('reports a wrong-typed value in the file as wrong, not as missing, naming the file', () => {
    const file = writeConfig('brokers: [b:1]\nclientId: 5\n');
    const error = configErrorOf({ file, env: {} });
    expect(error.message).not.toContain('clientId is required');
    expect(error.message).toContain(`${file}:2:11 clientId: Invalid input: expected string, received number`);
  });

  it('reports brokers given as a string in the file as the wrong type, not as missing', () => {
    const file = writeConfig('brokers: "a:1,b:2"\n');
    const error = configErrorOf({ file, env: {} });
    expect(error.message).not.toContain('brokers is required');
    expect(error.message).toContain(file);
  });
});
