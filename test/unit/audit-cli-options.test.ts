import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** `txstream audit` and `dlt inspect` with bad options: one clear message and exit code 2, before any connection. */
const CLI = resolve(import.meta.dirname, '../../bin/txstream.js');

function audit(args: string[], command = ['audit']) {
  const result = spawnSync(process.execPath, [CLI, ...command, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_BROKERS: '' },
    timeout: 30_000,
  });
  return { code: result.status, stderr: result.stderr };
}

describe('txstream audit with invalid options', () => {
  it('names the flag with a bad number', () => {
    expect(audit(['echo', '--brokers', '127.0.0.1:9', '--problems', 'many'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--problems: 'many' is not a whole number of at least 0/),
    });
    expect(audit(['echo', '--brokers', '127.0.0.1:9', '--timeout', '0'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--timeout: '0' is not a whole number of at least 1/),
    });
  }, 30_000);

  it('refuses a timeout longer than Node keeps a timer (it would fire at once and cut every read short), in audit and dlt inspect alike', () => {
    for (const command of [['audit'], ['dlt', 'inspect']]) {
      expect(audit(['echo', '--brokers', '127.0.0.1:9', '--timeout', '3000000000'], command)).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--timeout: 3000000000 ms is longer than the longest timer Node keeps \(2147483647 ms/),
      });
    }
    expect(audit(['echo', '--brokers', '127.0.0.1:9', '--timeout', '0'], ['dlt', 'inspect'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--timeout: '0' is not a whole number of at least 1/),
    });
  }, 30_000);

  it('requires the pipeline name', () => {
    const { code, stderr } = audit([]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing required argument 'pipeline'/);
  }, 30_000);
});
