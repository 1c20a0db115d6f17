import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { dirname } from 'node:path';

/**
 * Process plumbing shared by the local broker and the local schema registry:
 * both are JVM programs started detached, tracked by pid, and logged to a file.
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

/** Asks the OS for a free port on loopback. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface DetachedJava {
  readonly classpath: string;
  readonly mainClass: string;
  readonly args: readonly string[];
  readonly jvmOptions: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts a JVM that outlives this Node process; its stdout and stderr go to logFile. */
export function startDetachedJava(options: DetachedJava): number {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  const child = spawn('java', [...options.jvmOptions, '-cp', options.classpath, options.mainClass, ...options.args], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, ...options.env },
  });
  if (child.pid === undefined) {
    throw new LocalSetupError(`could not start java ${options.mainClass}; see ${options.logFile}`);
  }
  child.unref();
  return child.pid;
}

/** Runs a JVM to completion (e.g. a formatting tool); throws with its output on failure. */
export function runJava(classpath: string, mainClass: string, args: readonly string[], jvmOptions: readonly string[] = []): string {
  const result = spawnSync('java', [...jvmOptions, '-cp', classpath, mainClass, ...args], {
    encoding: 'utf8',
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.error || result.status !== 0) {
    throw new LocalSetupError(`${mainClass} ${args.join(' ')} failed (exit ${result.status}):\n${output.trim()}`);
  }
  return output;
}

/**
 * runJava without blocking the event loop: fault tests run Kafka's admin tools
 * (seconds of JVM start-up) while their timers keep killing and restarting workers.
 */
export function runJavaAsync(classpath: string, mainClass: string, args: readonly string[], jvmOptions: readonly string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('java', [...jvmOptions, '-cp', classpath, mainClass, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(new LocalSetupError(`could not start java ${mainClass}: ${error.message}`)));
    child.once('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new LocalSetupError(`${mainClass} ${args.join(' ')} failed (exit ${code}):\n${output.trim()}`));
    });
  });
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
