import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FREE_PORT_RANGE, findFreePort, isPortFree } from '../../src/local-server/supervisor.js';

const servers: Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function listenOn(port: number): Promise<void> {
  const server = createServer();
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1' }, () => resolve());
  });
}

describe('findFreePort', () => {
  it('picks below the ephemeral ports, which outgoing connections take between the pick and the bind', async () => {
    for (let i = 0; i < 20; i++) {
      const port = await findFreePort();
      expect(port).toBeGreaterThanOrEqual(FREE_PORT_RANGE.from);
      expect(port).toBeLessThan(FREE_PORT_RANGE.to);
      expect(port).toBeLessThan(32_768);
    }
  });

  it('passes over a port that is taken', async () => {
    const taken = await findFreePort();
    await listenOn(taken);
    expect(await isPortFree(taken)).toBe(false);
    const fraction = (port: number) => (port - FREE_PORT_RANGE.from + 0.5) / (FREE_PORT_RANGE.to - FREE_PORT_RANGE.from);
    const other = taken + 1 < FREE_PORT_RANGE.to ? taken + 1 : taken - 1;
    vi.spyOn(Math, 'random').mockReturnValueOnce(fraction(taken)).mockReturnValueOnce(fraction(other));
    expect(await findFreePort()).toBe(other);
  });
});
