import { type Command, Option } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { loadSettings } from '../config/load.js';
import { withPostgresUrl } from '../config/postgres-sink.js';
import type { WorkerSettings } from '../config/schema.js';
import { SETTINGS, type SettingSpec } from '../config/settings.js';
import { ConfigError, errorMessage } from '../errors/index.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { startOpsServer } from '../observability/ops-server.js';
import { configFilePipelineProblems } from '../pipeline/checks.js';
import type { PipelineDefinition } from '../pipeline/definition.js';
import { loadPipelines } from '../pipeline/load.js';
import { buildKafkaSecurity } from '../security/index.js';
import { loadTopicsRun } from '../topics/run.js';
import { createWorker, type Worker } from '../worker/worker.js';

export const EXIT = { ok: 0, failed: 1, config: 2 } as const;

/**
 * Adds -c/--config, --topics-dir and one option per setting the command reads (flags and env share
 * the same table), so its --help lists only what it reads.
 */
export function addSettingOptions(command: Command, specs: readonly SettingSpec[] = SETTINGS): Command {
  command.option('-c, --config <file>', 'YAML or JSON config file (env TXSTREAM_CONFIG)');
  addTopicsDirOption(command, 'without --config: the pipelines of this folder');
  for (const spec of specs) command.option(`--${spec.flag}${spec.kind === 'boolean' ? '' : ' <value>'}`, `${spec.description} (env ${spec.env.join(' / ')})`);
  return command;
}

/** --topics-dir, the one name of the topics folder in every command; --dir stays as a hidden alias. */
export function addTopicsDirOption(command: Command, description: string): Command {
  command.option('--topics-dir <dir>', `${description} (env TXSTREAM_TOPICS_DIR; default topics)`);
  command.addOption(new Option('--dir <dir>').hideHelp());
  return command;
}

export function topicsDirOf(options: Record<string, unknown>): string {
  return (options.topicsDir as string | undefined) ?? (options.dir as string | undefined) ?? (process.env.TXSTREAM_TOPICS_DIR || undefined) ?? 'topics';
}

export function flagsOf(options: Record<string, unknown>): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  for (const spec of SETTINGS) {
    const camel = spec.flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
    const value = options[camel];
    if (value !== undefined) flags[spec.flag] = String(value);
  }
  return flags;
}

/**
 * Signal handlers installed before the CLI loaded (bin/txstream.js, for `run` only): a signal then ends the
 * process with 0 and one line, since nothing was started. runUntilSignalled releases them once its own are in place.
 */
export interface EarlyStop {
  release(): void;
}

export async function runCommand(options: Record<string, unknown>, earlyStop?: EarlyStop): Promise<number> {
  const { settings, pipelines, baseDir } = await loadRun(options);
  // TLS files are read and SASL checked before anything connects (a ConfigError exits 2).
  const { ssl, sasl } = buildKafkaSecurity(settings.security, { baseDir });
  const logger = createLogger();
  const worker = createWorker({
    brokers: settings.brokers,
    clientId: settings.clientId,
    groupId: settings.groupId,
    commit: settings.commit,
    partitionsConcurrently: settings.partitionsConcurrently,
    maxInFlight: settings.maxInFlight,
    sessionTimeoutMs: settings.sessionTimeoutMs,
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    rebalanceTimeoutMs: settings.rebalanceTimeoutMs,
    drainTimeoutMs: settings.drainTimeoutMs,
    metadataMaxAgeMs: settings.metadataMaxAgeMs,
    memoryBudgetMb: settings.memoryBudgetMb,
    instanceId: settings.instanceId,
    pipelines,
    logger,
    kafka: { ssl, sasl },
  });
  const ops =
    settings.metricsPort === undefined
      ? undefined
      : await startOpsServer(worker, {
          port: settings.metricsPort,
          host: settings.metricsHost,
          livenessMaxEventLoopDelayMs: settings.livenessMaxEventLoopDelayMs,
        }).catch((error: unknown) => {
          throw new ConfigError(`cannot listen on ${settings.metricsHost}:${settings.metricsPort}: ${errorMessage(error)}`, '--metrics-port');
        });
  if (ops) logger.info({ port: ops.port, host: ops.host }, 'serving /metrics, /healthz and /readyz');
  try {
    return await runUntilSignalled(worker, logger, settings.drainTimeoutMs, earlyStop);
  } finally {
    await ops?.close();
  }
}

/**
 * The pipelines to run: those of one config file (--config), or by default every
 * pipeline of the topics folder, the same files `txstream topics apply` reads.
 */
export async function loadRun(
  options: Record<string, unknown>,
): Promise<{ settings: WorkerSettings; pipelines: PipelineDefinition[]; baseDir: string }> {
  const file = (options.config as string | undefined) ?? process.env.TXSTREAM_CONFIG;
  if (file) {
    // The pipelines' own checks run with the schema's, so a file's problems all show at once, each at its line.
    const { settings, baseDir } = loadSettings({ flags: flagsOf(options), env: process.env, file, checkFile: configFilePipelineProblems });
    return { settings, pipelines: withPostgresUrl(await loadPipelines(settings.pipelines, baseDir, settings.only), settings.postgresUrl), baseDir };
  }
  const dir = topicsDirOf(options);
  const run = await loadTopicsRun({ dir, flags: flagsOf(options), env: process.env });
  return { ...run, pipelines: withPostgresUrl(run.pipelines, run.settings.postgresUrl), baseDir: process.cwd() };
}

/**
 * Starts the worker and drains it on SIGTERM/SIGINT: exit 0 when everything in
 * flight was committed before the deadline, 1 otherwise or on a fatal error.
 */
export async function runUntilSignalled(worker: Worker, logger: Logger, drainTimeoutMs: number, earlyStop?: EarlyStop): Promise<number> {
  let stopping: Promise<number> | undefined;
  const stop = (reason: string, code: number): Promise<number> => {
    stopping ??= (async () => {
      logger.info({ reason, drainTimeoutMs }, 'draining');
      // The process must end even if stopping does not: a stop that fails (or never settles,
      // e.g. a client disconnecting in the middle of its own start) exits non-zero past the
      // drain deadline and its abort grace.
      const limitMs = drainTimeoutMs + DEFAULTS.drainAbortGraceMs + 5_000;
      const giveUp = setTimeout(() => {
        logger.error({ reason, limitMs }, 'the worker did not stop in time; exiting without a clean stop');
        process.exit(EXIT.failed);
      }, limitMs);
      giveUp.unref();
      try {
        const result = await worker.stop(drainTimeoutMs);
        return result.clean ? code : EXIT.failed;
      } catch (error) {
        logger.error({ err: error, reason }, 'stopping the worker failed');
        return EXIT.failed;
      } finally {
        clearTimeout(giveUp);
      }
    })();
    return stopping;
  };
  const finished = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second signal means "now": say so, then exit without waiting for the drain.
        logger.error({ signal, drainTimeoutMs }, `second ${signal} while draining; exiting now without finishing the drain`);
        process.exit(EXIT.failed);
      }
      void stop(signal, EXIT.ok).then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Only now, in the same tick: no signal can fall between the early handlers and these.
    earlyStop?.release();
    worker.onFatal((error) => {
      logger.fatal({ err: error }, 'worker failed');
      void stop('fatal error', EXIT.failed).then(resolve);
    });
  });
  // A fatal error or a signal while start is still under way ends the run too: never wait on a start that hangs.
  const started = worker.start().then(() => {
    logger.info({ pipelines: worker.pipelines.map((pipeline) => pipeline.name) }, 'worker running');
    return 'started' as const;
  });
  const first = await Promise.race([started, finished]);
  // Once the run has ended another way, a start that fails late has nothing left to report.
  started.catch(() => {});
  return first === 'started' ? finished : first;
}

/** A whole-number flag of at least `min`, or a ConfigError naming the flag (exit 2). */
export function wholeNumberOption(value: unknown, flag: string, min: number): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new ConfigError(`'${String(value)}' is not a whole number of at least ${min}`, flag);
  return parsed;
}

/** Node's longest timer: a longer one fires at once (with a warning), so a read would stop before it began. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timeout flag in ms: a whole number from 1 to Node's longest timer. */
export function timeoutOption(value: unknown, flag: string): number {
  const ms = wholeNumberOption(value, flag, 1);
  if (ms > MAX_TIMER_MS) throw new ConfigError(`${ms} ms is longer than the longest timer Node keeps (${MAX_TIMER_MS} ms, about 24 days)`, flag);
  return ms;
}
