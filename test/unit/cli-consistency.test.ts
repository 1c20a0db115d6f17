import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { settingsOf } from '../../src/config/settings.js';
import { formatTable } from '../../src/observability/group-status.js';

/** One CLI: the same flags for the same things, the same one-line failures and exit codes, help that lists what is read. */
const ROOT = resolve(import.meta.dirname, '../..');
const CLI = resolve(ROOT, 'bin/txstream.js');

function txstream(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_BROKERS: '', TXSTREAM_LOG_LEVEL: '', ...env },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const BROKER_COMMANDS = [['status'], ['lag'], ['dlt', 'inspect', 'orders-enricher'], ['dlt', 'replay', 'orders-enricher', '--dry-run'], ['topics', 'plan'], ['topics', 'apply'], ['run']];

describe('txstream CLI', { timeout: 60_000 }, () => {
  it('prints its version', () => {
    const { version } = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(txstream(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it.each(BROKER_COMMANDS)('%s: no broker answering is one line and exit 1, with the topics/ default', (...args) => {
    const { code, stdout, stderr } = txstream([...args, '--brokers', '127.0.0.1:1']);
    expect(stderr).toMatch(/^txstream: cannot reach Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED.*\n$/);
    expect(stdout).toBe('');
    expect(code).toBe(1);
  });

  it.each(BROKER_COMMANDS)('%s: reads the security settings as run does (a missing CA file is named before connecting)', (...args) => {
    const { code, stderr } = txstream([...args, '--brokers', '127.0.0.1:1'], { TXSTREAM_SSL_CA_FILE: '/nonexistent/ca.pem' });
    expect(stderr).toMatch(/\/nonexistent\/ca\.pem/);
    expect(stderr).not.toMatch(/cannot reach Kafka/);
    expect(code).not.toBe(0);
  });

  it('names the topics folder --topics-dir everywhere; --dir still works, unlisted', () => {
    for (const command of [['run'], ['status'], ['lag'], ['dlt', 'inspect'], ['dlt', 'replay'], ['topics', 'plan'], ['topics', 'apply'], ['topics', 'validate']]) {
      const help = txstream([...command, '--help']).stdout;
      expect(help, command.join(' ')).toContain('--topics-dir <dir>');
      expect(help, command.join(' ')).not.toMatch(/--dir\b/);
    }
    expect(txstream(['topics', 'validate', '--topics-dir', 'topics'])).toMatchObject({ code: 0 });
    expect(txstream(['topics', 'validate', '--dir', 'topics'])).toMatchObject({ code: 0 });
    expect(txstream(['topics', 'validate', '--dir', 'nowhere']).stderr).toMatch(/nowhere/);
  }, 120_000);

  it("lists in each command's --help only the settings it reads", () => {
    const worker = settingsOf('worker', 'ops').map((spec) => `--${spec.flag} `);
    const connection = settingsOf('connection').map((spec) => `--${spec.flag} `);
    for (const command of [['status'], ['lag'], ['dlt', 'inspect'], ['dlt', 'replay'], ['topics', 'plan'], ['topics', 'apply']]) {
      const help = txstream([...command, '--help']).stdout;
      for (const flag of worker) expect(help, `${command.join(' ')} ${flag}`).not.toContain(flag);
      for (const flag of connection) expect(help, `${command.join(' ')} ${flag}`).toContain(flag);
    }
    const run = txstream(['run', '--help']).stdout;
    for (const flag of [...worker, ...connection]) expect(run).toContain(flag);
    expect(txstream(['topics', 'validate', '--help']).stdout).not.toContain('--brokers');
  }, 120_000);

  it('dlt finds the pipeline in topics/ by default and names the defined ones when it is not there', () => {
    const { code, stderr } = txstream(['dlt', 'inspect', 'no-such-pipeline', '--brokers', '127.0.0.1:1']);
    expect(stderr).toBe("txstream: no pipeline named 'no-such-pipeline' in the topics folder (defined: orders-enricher)\n");
    expect(stderr).not.toContain('--pipeline');
    expect(code).toBe(2);
  });
});

describe('formatTable', () => {
  it('pads columns to the widest cell and right-aligns numbers', () => {
    expect(formatTable(['A', 'N'], [['x', '5'], ['long', '12345']], [false, true])).toEqual(['A         N', 'x         5', 'long  12345']);
  });
});
