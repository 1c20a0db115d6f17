import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { LocalSetupError } from '../local-server/supervisor.js';

/** Running Java programs: the local broker and schema registry are JVM programs, and so are Kafka's admin tools. */

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
