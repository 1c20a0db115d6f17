import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** `txstream run` with bad configuration: one clear message per problem and exit code 2, before any connection. */
const CLI = resolve(import.meta.dirname, '../../bin/txstream.js');

function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, 'run', ...args], {
    encoding: 'utf8',
    env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_BROKERS: '', ...env },
    timeout: 30_000,
  });
  return { code: result.status, stderr: result.stderr };
}

describe('txstream run with invalid configuration', () => {
  it('names the flag and the accepted values, and exits 2', () => {
    const { code, stderr } = run(['--brokers', '127.0.0.1:9092', '--commit-strategy', 'sometimes', '--batch-size', 'many']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--batch-size: 'many' is not a whole number/);
    expect(stderr).toMatch(/--commit-strategy → commit\.strategy: .*transactional.*batch.*per-message.*auto/);
  });

  it('says how to give the brokers when none are set', () => {
    const { code, stderr } = run([]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/brokers is required: set --brokers or TXSTREAM_BROKERS \/ KAFKA_BROKERS/);
  });

  it('names the environment variable a bad value came from', () => {
    const { code, stderr } = run(['--brokers', '127.0.0.1:9092'], { TXSTREAM_COMMIT_INTERVAL_MS: '-5' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/env TXSTREAM_COMMIT_INTERVAL_MS: '-5' is not a whole number/);
  });

  it('names the config file and the handler module that does not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'txstream-cli-'));
    const file = join(dir, 'txstream.yaml');
    writeFileSync(file, 'brokers: [127.0.0.1:9092]\npipelines:\n  - name: p\n    input: in\n    handler: { module: ./nowhere.ts }\n');
    const { code, stderr } = run(['-c', file]);
    expect(code).toBe(2);
    expect(stderr).toContain(`${file}:5:24 pipelines[0].handler.module: handler module './nowhere.ts' does not exist (looked for ${join(dir, 'nowhere.ts')}`);
  });

  it('says a -c folder is not a config file: one line, exit 2, as for a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'txstream-cli-'));
    const { code, stderr } = run(['-c', dir]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`txstream: ${dir}: is a folder; -c/--config takes a YAML or JSON file (a topics folder goes to --topics-dir)`);
    expect(run(['-c', join(dir, 'missing.yaml')])).toEqual({ code: 2, stderr: `txstream: ${join(dir, 'missing.yaml')}: config file not found\n` });
  });

  it('reports every problem of a -c file at once, each with its file and line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'txstream-cli-'));
    const file = join(dir, 'txstream.yaml');
    const handler = resolve(import.meta.dirname, '../fixtures/echo-handler.ts');
    writeFileSync(
      file,
      [
        'brokers: [127.0.0.1:9092]',
        'commit: { strategy: sometimes }',
        'pipelines:',
        '  - name: enrich',
        '    input: orders',
        '    output: orders.enriched',
        '    handler: { module: ./nowhere.ts }',
        '  - name: enrich',
        '    input: payments',
        '    outputs: [payments.retry.1]',
        `    handler: { module: ${handler}, export: echo }`,
        '',
      ].join('\n'),
    );
    const { code, stderr } = run(['-c', file]);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      'txstream: invalid configuration:',
      `  - ${file}:2:21 commit.strategy: Invalid option: expected one of "transactional"|"batch"|"per-message"|"auto" (transactional | batch | per-message | auto)`,
      `  - ${file}:7:24 pipelines[0].handler.module: handler module './nowhere.ts' does not exist (looked for ${join(dir, 'nowhere.ts')}; paths are relative to the file's folder)`,
      `  - ${file}:8:11 pipelines[1].name: pipeline 'enrich' is defined twice (first as pipelines[0]); pipeline names must be unique`,
      `  - ${file}:10:15 pipelines[1].outputs[0]: output 'payments.retry.1' is also its retry topic of attempt 1 (of input 'payments'); outputs must be other topics`,
    ]);
  });

  it('rejects an unknown flag with exit 2', () => {
    const { code, stderr } = run(['--batch-sise', '10']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown option '--batch-sise'/);
  });

  it('names timers Node or the group cannot take, with the accepted range', () => {
    const { code, stderr } = run(['--brokers', '127.0.0.1:9092', '--session-timeout-ms', '10000', '--heartbeat-interval-ms', '10000', '--drain-timeout-ms', '3000000000']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--heartbeat-interval-ms → heartbeatIntervalMs: must be below sessionTimeoutMs \(10000\); accepted: 100\.\.9999/);
    expect(stderr).toMatch(/--drain-timeout-ms → drainTimeoutMs: at most 2147483647 ms \(Node's timer limit\)/);
  });

  it('refuses a pipeline whose output is its input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'txstream-cli-'));
    const file = join(dir, 'txstream.yaml');
    const handler = resolve(import.meta.dirname, '../fixtures/echo-handler.ts');
    writeFileSync(file, `brokers: [127.0.0.1:9092]\npipelines:\n  - name: loop\n    input: orders\n    output: orders\n    handler: { module: ${handler}, export: echo }\n`);
    const { code, stderr } = run(['-c', file]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`txstream: invalid configuration:\n  - ${file}:5:13 pipelines[0].output: output 'orders' is also its input; outputs must be other topics`);
    // Importing the handler module through tsx is slow on a loaded machine.
  }, 30_000);
});
