/**
 * The Confluent Parallel Consumer baseline of the concurrency benchmark: parallel-consumer-core
 * and kafka-clients of the broker's version from Maven Central (load-tests/parallel-consumer/
 * pom.xml, copied into the jar cache like the broker's jars), ParallelEcho.java compiled with
 * javac at run time, run as a JVM of its own against the same broker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/local-kafka/cluster.js';
import { LINEAGE_HEADER } from '../../src/index.js';
import { prepareJavaBaseline } from './java-baseline.js';

const PC_DIR = join(import.meta.dirname, '..', 'parallel-consumer');
const SOURCE = join(PC_DIR, 'ParallelEcho.java');
const MAIN_CLASS = 'ParallelEcho';
/** The newest release on Maven Central when this baseline was written; passed to the pom. */
export const PARALLEL_CONSUMER_VERSION = '0.5.3.3';
/** What the report says it ran, in ParallelEcho.java's terms. */
export const PARALLEL_CONSUMER_MODE = 'ordering KEY, commit mode PERIODIC_TRANSACTIONAL_PRODUCER (commit interval 100 ms)';
/** Only its output's tail is kept: a JVM that warns on every retry must not fill the harness's memory. */
const OUTPUT_LIMIT = 64 * 1024;

/** Resolves the jars (once per Parallel Consumer and Kafka version) and compiles the source (once per source text); returns the classpath. */
export function prepareParallelConsumer(kafkaVersion: string): string {
  return prepareJavaBaseline({
    dir: join(process.env.TXSTREAM_CACHE_DIR ?? join(REPO_ROOT, '.cache'), 'parallel-consumer-baseline', `${PARALLEL_CONSUMER_VERSION}-kafka-${kafkaVersion}`),
    pom: join(PC_DIR, 'pom.xml'),
    properties: { 'parallel-consumer.version': PARALLEL_CONSUMER_VERSION, 'kafka.version': kafkaVersion },
    what: `Confluent Parallel Consumer ${PARALLEL_CONSUMER_VERSION} (Kafka clients ${kafkaVersion})`,
    source: SOURCE,
    mainClass: MAIN_CLASS,
  });
}

export interface ParallelConsumerOptions {
  readonly classpath: string;
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly input: string;
  readonly output: string;
  /** Parallel Consumer's maxConcurrency: its pool of threads calling the handler. */
  readonly maxConcurrency: number;
  readonly delayMs: number;
  /** The JVM closes itself after this long even if nobody stops it. */
  readonly maxSeconds: number;
  readonly heap?: string;
}

export interface ParallelConsumerProcess {
  readonly pid: number;
  readonly groupId: string;
  /** False once the JVM has exited. */
  alive(): boolean;
  /** Resolves when it has partitions assigned; rejects on exit or timeout. */
  running(timeoutMs?: number): Promise<void>;
  /** Closes stdin (the stop signal), waits for the JVM to exit; kills it after timeoutMs. */
  stop(timeoutMs?: number): Promise<{ clean: boolean; output: string }>;
}

export function startParallelConsumer(options: ParallelConsumerOptions): ParallelConsumerProcess {
  const child: ChildProcess = spawn(
    'java',
    [
      `-Xmx${options.heap ?? '512m'}`,
      // slf4j-simple on the classpath: Parallel Consumer's and the clients' warnings and errors, not their chatter.
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp',
      options.classpath,
      MAIN_CLASS,
      options.brokers.join(','),
      options.groupId,
      options.input,
      options.output,
      LINEAGE_HEADER,
      String(options.maxConcurrency),
      String(options.delayMs),
      String(options.maxSeconds),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  if (child.pid === undefined) throw new Error('java did not start (is Java 17+ on PATH?)');
  let output = '';
  let assigned = false;
  let exitCode: number | null | undefined;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((waiter) => waiter());
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    append(chunk);
    if (/^RUNNING/m.test(chunk.toString())) assigned = true;
    wake();
  });
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      wake();
      resolve();
    }),
  );
  return {
    pid: child.pid,
    groupId: options.groupId,
    alive: () => exitCode === undefined,
    running(timeoutMs = 120_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`Parallel Consumer had no partitions after ${timeoutMs} ms: ${output.slice(-400)}`)), timeoutMs);
        const check = () => {
          if (assigned) done();
          else if (exitCode !== undefined) done(new Error(`Parallel Consumer exited (${exitCode}): ${output.slice(-400)}`));
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
