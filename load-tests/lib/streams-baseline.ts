/**
 * The Kafka Streams EOS-v2 baseline: kafka-streams of the broker's version from Maven Central
 * (load-tests/streams/pom.xml, copied into the jar cache like the broker's jars), PassThrough.java
 * compiled with javac at run time, run as a JVM of its own against the same broker. It copies
 * values as bytes, or (values: 'json') parses and re-serialises them with Jackson.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/local-kafka/cluster.js';
import { LINEAGE_HEADER } from '../../src/index.js';
import { prepareJavaBaseline } from './java-baseline.js';

const STREAMS_DIR = join(import.meta.dirname, '..', 'streams');
const SOURCE = join(STREAMS_DIR, 'PassThrough.java');
const MAIN_CLASS = 'PassThrough';

function cacheDir(version: string): string {
  return join(process.env.TXSTREAM_CACHE_DIR ?? join(REPO_ROOT, '.cache'), 'streams-baseline', version);
}

/** Resolves the jars (once per version) and compiles the source (once per source text); returns the classpath. */
export function prepareStreamsBaseline(kafkaVersion: string): string {
  return prepareJavaBaseline({
    dir: cacheDir(kafkaVersion),
    pom: join(STREAMS_DIR, 'pom.xml'),
    properties: { 'kafka.version': kafkaVersion },
    what: `Kafka Streams ${kafkaVersion}`,
    source: SOURCE,
    mainClass: MAIN_CLASS,
  });
}

export interface StreamsOptions {
  readonly classpath: string;
  readonly brokers: readonly string[];
  readonly applicationId: string;
  readonly input: string;
  readonly output: string;
  /** The JVM closes itself after this long even if nobody stops it. */
  readonly maxSeconds: number;
  readonly heap?: string;
  /** bytes: values copied as they are; json: parsed and re-serialised by Jackson (the partner of txstream's serde 'json'). */
  readonly values?: 'bytes' | 'json';
}

export interface StreamsProcess {
  readonly pid: number;
  readonly applicationId: string;
  /** False once the JVM has exited. */
  alive(): boolean;
  /** Resolves when Kafka Streams reports RUNNING (partitions assigned); rejects on ERROR, exit or timeout. */
  running(timeoutMs?: number): Promise<void>;
  /** Closes stdin (the stop signal), waits for the JVM to exit; kills it after timeoutMs. */
  stop(timeoutMs?: number): Promise<{ clean: boolean; output: string }>;
}

export function startStreams(options: StreamsOptions): StreamsProcess {
  const stateDir = join(cacheDir('state'), options.applicationId);
  const child: ChildProcess = spawn(
    'java',
    [`-Xmx${options.heap ?? '512m'}`, '-cp', options.classpath, MAIN_CLASS, options.brokers.join(','), options.applicationId, options.input, options.output, LINEAGE_HEADER, stateDir, String(options.maxSeconds), options.values ?? 'bytes'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  if (child.pid === undefined) throw new Error('java did not start (is Java 17+ on PATH?)');
  let output = '';
  let state = 'CREATED';
  let exitCode: number | null | undefined;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((waiter) => waiter());
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (const match of chunk.toString().matchAll(/^STATE (\w+)$/gm)) state = match[1] as string;
    wake();
  });
  // SLF4J finds no binding on this classpath, so stderr carries only the JVM's own complaints.
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      rmSync(stateDir, { recursive: true, force: true });
      wake();
      resolve();
    }),
  );
  return {
    pid: child.pid,
    applicationId: options.applicationId,
    alive: () => exitCode === undefined,
    running(timeoutMs = 120_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`Kafka Streams not RUNNING after ${timeoutMs} ms (state ${state}): ${output.slice(-400)}`)), timeoutMs);
        const check = () => {
          if (state === 'RUNNING') done();
          else if (state === 'ERROR' || exitCode !== undefined) done(new Error(`Kafka Streams ${state === 'ERROR' ? 'failed' : `exited (${exitCode})`}: ${output.slice(-400)}`));
        };
        const done = (error?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(timeoutMs = 60_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdin?.end();
      await exited;
      clearTimeout(timer);
      return { clean: exitCode === 0 && /CLOSED clean/.test(output), output };
    },
  };
}
