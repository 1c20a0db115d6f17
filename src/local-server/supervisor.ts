import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';

/**
 * Supervising the local servers (broker, schema registry, PostgreSQL, Prometheus): each runs
 * detached from the command that started it, tracked by pid, logged to a file. Here: is it
 * alive, is its port free or answering, stop it, show the end of its log.
 */

/** A failure the user can fix; the CLI prints the message alone, no stack. */
export class LocalSetupError extends Error {
  override readonly name = 'LocalSetupError';
}

export function requireCommand(command: string, purpose: string): void {
  const probe = spawnSync(command, ['-version'], { stdio: 'ignore' });
  if (probe.error) {
    throw new LocalSetupError(
      `'${command}' was not found on PATH; it is needed to ${purpose}. Install it (for example: apt-get install ${command === 'mvn' ? 'maven' : 'openjdk-17-jre-headless'}) or set KAFKA_BROKERS to use an existing cluster.`,
    );
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Resolves true once something accepts TCP connections on the port. */
export function isListening(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** Linux's first ephemeral port (ip_local_port_range): from here up the kernel also hands ports to outgoing connections. */
export const EPHEMERAL_PORTS_FROM = 32_768;

/** Where findFreePort looks: below the ephemeral ports, and below the test suite's fault clusters, which take from its end up to them. */
export const FREE_PORT_RANGE = { from: 10_000, to: 20_000 } as const;

/**
 * A free port on loopback for a server that binds it a moment later. Not the OS's pick (listen on
 * port 0): that is an ephemeral port, which the kernel also gives to outgoing connections, and one
 * of them can take it before the server binds it (a console started 2 s after the pick found its
 * port taken, in a test run with many Kafka clients connecting). A random port of FREE_PORT_RANGE,
 * checked free, is never handed out that way.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const { from, to } = FREE_PORT_RANGE;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    if (await isPortFree(port, host)) return port;
  }
  throw new LocalSetupError(`no free port on ${host} between ${from} and ${to - 1} after 200 tries`);
}

/** Sends SIGTERM, waits for exit, then SIGKILL: a broker needs a moment to close its logs. */
export async function stopProcess(pid: number, graceMs = 30_000): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isAlive(pid)) return 'not-running';
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await sleep(200);
  }
  process.kill(pid, 'SIGKILL');
  return 'killed';
}

export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
