import { createServer, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { registerSchema } from '../../src/serde/registry.js';
import { registryAuthOf, registryUrlProblem } from '../../src/serde/registry-auth.js';
import { loadTopicsDir } from '../../src/topics/index.js';

const SECRET = 's3cr3t-Pa55';

describe('schema registry credentials', () => {
  it('refuses a URL with credentials without repeating it', () => {
    const problem = registryUrlProblem(`https://alice:${SECRET}@registry.example:8081`);
    expect(problem).toMatch(/^carries credentials \(user:password@\); the value is not shown\. Set schemaRegistry\.username/);
    expect(problem).not.toContain(SECRET);
    expect(registryUrlProblem('http://127.0.0.1:8081')).toBeUndefined();
    expect(registryUrlProblem(`not a url ${SECRET}`)).not.toContain(SECRET);
  });

  it('reports such a URL in a topics file by file and line, without the password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'txstream-registry-'));
    writeFileSync(join(dir, 'a.yaml'), `schemaRegistry:\n  url: http://alice:${SECRET}@127.0.0.1:8081\n`);
    let message = '';
    try {
      loadTopicsDir(dir);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('schemaRegistry.url');
    expect(message).toContain('carries credentials');
    expect(message).not.toContain(SECRET);
  });

  it('takes the password from a file, and wants a user name with it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'txstream-registry-')), 'password');
    writeFileSync(file, `${SECRET}\n`);
    expect(registryAuthOf({ username: 'alice', passwordFile: file }, 'test')).toEqual({ username: 'alice', password: SECRET });
    expect(() => registryAuthOf({ password: SECRET }, 'test')).toThrow('a schema registry password needs a user name too');
    expect(registryAuthOf({}, 'test')).toBeUndefined();
  });

  it('sends basic auth to the registry', async () => {
    let seen: IncomingHttpHeaders = {};
    const server = createServer((request, response) => {
      seen = request.headers;
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify({ id: 7 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      expect(await registerSchema(`http://127.0.0.1:${port}`, 's-value', SchemaType.AVRO, '"string"', { username: 'alice', password: SECRET })).toBe(7);
    } finally {
      server.close();
    }
    expect(seen.authorization).toBe(`Basic ${Buffer.from(`alice:${SECRET}`).toString('base64')}`);
  });
});
