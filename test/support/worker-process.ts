import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

const REPO = resolve(import.meta.dirname, '../..');
const CLI = join(REPO, 'bin', 'txstream.js');

export interface WorkerConfig {
  readonly brokers: string[];
  readonly groupId: string;
  readonly input: string;
  /** Absent for a sink pipeline (it writes to its database, not to Kafka). */
  readonly output?: string;
  readonly strategy?: 'transactional' | 'batch' | 'per-message' | 'auto';
  readonly batchSize?: number;
  readonly commitIntervalMs?: number;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly handlerDelayMs?: number;
  readonly errors?: Record<string, unknown>;
  /** Serve /metrics, /healthz and /readyz (0: any free port; see WorkerProcess.opsPort). */
  readonly metricsPort?: number;
  readonly transactionTimeoutMs?: number;
  readonly handlerTimeoutMs?: number;
  /** The pipeline's name (default `echo`). */
  readonly pipelineName?: string;
  /** A PostgreSQL sink pipeline: `sink.postgres` of the config, and the sink fixture handler instead of the echo one. */
  readonly postgresSink?: Record<string, unknown>;
  /** The pipeline's `concurrency`; with it the handler is the record handler `echoSlowly` (an I/O-like wait per record). */
  readonly concurrency?: { readonly ordering: 'partition' | 'key' | 'unordered'; readonly maxInFlight?: number };
}

/** Writes a config file for `txstream run` that echoes input to output through the test handler. */
export function writeWorkerConfig(config: WorkerConfig): string {
  const dir = mkdtempSync(join(tmpdir(), 'txstream-worker-'));
  const file = join(dir, 'txstream.yaml');
  writeFileSync(
    file,
    stringify({
      brokers: config.brokers,
      groupId: config.groupId,
      clientId: 'txstream-test-worker',
      sessionTimeoutMs: config.sessionTimeoutMs ?? 6000,
      heartbeatIntervalMs: config.heartbeatIntervalMs ?? 500,
      rebalanceTimeoutMs: 10_000,
      drainTimeoutMs: 15_000,
      ...(config.metricsPort === undefined ? {} : { metricsPort: config.metricsPort }),
      commit: {
        strategy: config.strategy ?? 'transactional',
        batchSize: config.batchSize ?? 100,
        commitIntervalMs: config.commitIntervalMs ?? 100,
        transactionTimeoutMs: config.transactionTimeoutMs ?? 20_000,
      },
      pipelines: [
        {
          name: config.pipelineName ?? 'echo',
          input: config.input,
          ...(config.output === undefined ? {} : { output: config.output }),
          handler: config.postgresSink
            ? { module: join(REPO, 'test', 'fixtures', 'pg-sink-handler.ts'), export: 'sinkRows' }
            : { module: join(REPO, 'test', 'fixtures', 'echo-handler.ts'), export: config.concurrency ? 'echoSlowly' : 'echo' },
          ...(config.concurrency ? { concurrency: config.concurrency } : {}),
          ...(config.postgresSink ? { sink: { postgres: config.postgresSink } } : {}),
          ...(config.handlerTimeoutMs === undefined ? {} : { handlerTimeoutMs: config.handlerTimeoutMs }),
          ...(config.errors ? { errors: config.errors } : {}),
        },
      ],
    }),
  );
  return file;
}

/** A `txstream run` child process, for tests that kill, stop and restart workers. */
export class WorkerProcess {
  private exit: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exit = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit(signal ? null : code)));
  }

  static start(configFile: string, options: { handlerDelayMs?: number; name?: string; failMode?: 'routing' | 'once'; instanceId?: string } = {}): WorkerProcess {
    return WorkerProcess.cli(['run', '-c', configFile], {
      name: options.name,
      env: {
        TEST_HANDLER_DELAY_MS: String(options.handlerDelayMs ?? 0),
        TEST_FAIL_MODE: options.failMode ?? '',
        ...(options.instanceId ? { TXSTREAM_INSTANCE_ID: options.instanceId } : {}),
      },
    });
  }

  /** Any `txstream …` command line, as a user types it, with its output in a log file. */
  static cli(args: readonly string[], options: { name?: string; env?: NodeJS.ProcessEnv } = {}): WorkerProcess {
    const logFile = join(
      tmpdir(),
      `txstream-${options.name ?? 'worker'}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.log`,
    );
    const log = openSync(logFile, 'a');
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        KAFKA_BROKERS: '',
        TXSTREAM_LOG_LEVEL: 'info',
        TXSTREAM_LOG_FORMAT: 'json',
        ...options.env,
      },
    });
    return new WorkerProcess(child, logFile);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Resolves with the exit code (null when killed by a signal). */
  exited(): Promise<number | null> {
    return this.exit;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exit;
  }

  log(): string {
    return readFileSync(this.logFile, 'utf8');
  }

  /** The exit code, or null while the process runs (or when a signal ended it). */
  exitCode(): number | null {
    return this.child.exitCode;
  }

  /** The port of the ops server, once the worker has logged it. */
  async opsPort(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = /"port":(\d+)[^\n]*"msg":"serving \/metrics/.exec(this.log());
      if (match) return Number(match[1]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`worker ${this.pid} did not log its ops port within ${timeoutMs} ms; log: ${this.logFile}`);
  }
}
