import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('log redaction', () => {
  it('never writes SASL passwords, tokens, TLS keys or registry credentials, wherever they sit', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        config: { sasl: { mechanism: 'scram-sha-256', username: 'svc', password: 'hunter2-sasl' } },
        sasl: { password: 'hunter2-top' },
        registry: { url: 'http://registry', basicAuth: 'user:hunter2-registry', token: 'hunter2-token' },
        kafka: { ssl: { key: '-----BEGIN PRIVATE KEY----- hunter2-key' } },
        request: { headers: { authorization: 'Bearer hunter2-bearer' } },
      },
      'config dump',
    );
    const output = lines.join('');
    expect(output).not.toMatch(/hunter2/);
    expect(output).toContain('"username":"svc"');
    expect(output.match(/\[redacted\]/g)?.length).toBe(6);
  });

  it('keeps the fields a record-level line needs', () => {
    const { lines, logger } = capture();
    logger.child({ pipeline: 'p', topic: 't', partition: 3, transactionalId: 'g.t.3' }).warn({ offset: '42', attempt: 2 }, 'record failed');
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ pipeline: 'p', topic: 't', partition: 3, transactionalId: 'g.t.3', offset: '42', attempt: 2 });
  });
});
