import { z } from 'zod';
import { COMMIT_STRATEGIES, DEFAULTS } from './defaults.js';
import { concurrencySchema } from './concurrency.js';
import { errorPolicySchema } from './error-policy.js';
import { sinkFileSchema } from './postgres-sink.js';
import { MEMORY_MODEL, MIN_MEMORY_BUDGET_MB } from './memory-budget.js';
import { MAX_TIMER_MS } from './timers.js';

/** The validated shape of a worker's configuration, from flags, env and file together. */

const ms = (min = 0) => z.number().int().min(min).max(MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (Node's timer limit)`);

export const commitSettingsSchema = z
  .object({
    strategy: z.enum(COMMIT_STRATEGIES),
    batchSize: z.number().int().min(1).max(100_000),
    lingerMs: ms(0).max(60_000),
    commitIntervalMs: ms(0).max(600_000),
    transactionTimeoutMs: ms(1_000).max(900_000),
    /** Used up to transactionTimeoutMs (the smaller of the two wins). */
    concurrentTransactionsTimeoutMs: ms(1).max(900_000),
  })
  .strict();

export const serdeNameSchema = z.enum(['json', 'json-bigint', 'string', 'bytes']);

export const pipelineFileSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    output: z.string().min(1).optional(),
    /** Other topics the handler may write to; anything else is rejected as output-rejected. */
    outputs: z.array(z.string().min(1)).optional(),
    /** A handler call past this fails with HandlerTimeoutError (Node's timers take at most 2^31-1 ms). */
    handlerTimeoutMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
    /** Handler calls at the same time inside a partition, and the order they keep. */
    concurrency: concurrencySchema.optional(),
    handler: z
      .object({
        module: z.string().min(1),
        export: z.string().min(1).default('default'),
      })
      .strict(),
    groupId: z.string().min(1).optional(),
    deadLetterTopic: z.string().min(1).optional(),
    serde: z.object({ input: serdeNameSchema.optional(), output: serdeNameSchema.optional() }).strict().optional(),
    commit: commitSettingsSchema.partial().optional(),
    errors: errorPolicySchema.optional(),
    /** A database the handler writes to exactly once (ctx.db); the pipeline then has no Kafka outputs. */
    sink: sinkFileSchema.optional(),
  })
  .strict();

export const SECURITY_PROTOCOLS = ['plaintext', 'ssl', 'sasl_plaintext', 'sasl_ssl'] as const;
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** How the worker connects to the brokers: TLS, SASL, or both. Checked as a whole in src/security. */
export const securitySettingsSchema = z
  .object({
    /** Inferred when absent: sasl_ssl with both sasl and ssl, sasl_plaintext with sasl, ssl with ssl, else plaintext. */
    /** Case-insensitive, like Kafka's own SASL_SSL spelling. */
    protocol: z.string().toLowerCase().pipe(z.enum(SECURITY_PROTOCOLS)).optional(),
    sasl: z
      .object({
        mechanism: z.string().toLowerCase().pipe(z.enum(SASL_MECHANISMS)),
        username: z.string().min(1),
        password: z.string().min(1),
      })
      .strict()
      .optional(),
    ssl: z
      .object({
        /** PEM file of the CA(s) to trust; Node's bundled CAs when absent. */
        caFile: z.string().min(1).optional(),
        /** PEM client certificate and key, for brokers that require mutual TLS. */
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /** false accepts any broker certificate: for experiments only. */
        rejectUnauthorized: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** The worker settings' fields, without the checks across fields (topics files take any subset). */
export const workerSettingsFields = z
  .object({
    brokers: z.array(z.string().regex(/^[^\s:,]+:\d+$/, 'host:port')).min(1),
    clientId: z.string().min(1),
    groupId: z.string().min(1).optional(),
    commit: commitSettingsSchema,
    partitionsConcurrently: z.number().int().min(1).max(1000),
    /** Handler calls in flight in the whole worker, across partitions and pipelines. */
    maxInFlight: z.number().int().min(1).max(100_000),
    sessionTimeoutMs: ms(1_000),
    heartbeatIntervalMs: ms(100),
    rebalanceTimeoutMs: ms(1_000),
    drainTimeoutMs: ms(0),
    /** How soon partitions added to an input are picked up (metadata refresh). */
    metadataMaxAgeMs: ms(1_000),
    /** The memory one worker may take: sizes its fetches (config/memory-budget.ts). */
    memoryBudgetMb: z
      .number()
      .int()
      .min(MIN_MEMORY_BUDGET_MB, `a worker takes about ${MEMORY_MODEL.baseMiB} MiB before it fetches anything; accepted: ${MIN_MEMORY_BUDGET_MB}..1048576 MiB`)
      .max(1_048_576),
    /** Names the worker's transactional producers (`<group>.<instanceId>`); unique per live worker. */
    instanceId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,200}$/, 'letters, digits, dot, underscore and dash (it becomes part of a transactional id)')
      .optional(),
    /** The ops HTTP server's port; none when unset. */
    metricsPort: z.number().int().min(0).max(65_535).optional(),
    /** The address the ops server listens on. */
    metricsHost: z.string().min(1),
    /** /healthz fails after the event loop was blocked longer than this. */
    livenessMaxEventLoopDelayMs: ms(10),
    /** `txstream console`: where it listens, the token it asks for, whether it may replay. */
    console: z
      .object({
        port: z.number().int().min(0).max(65_535),
        host: z.string().min(1),
        token: z.string().min(16, 'at least 16 characters (e.g. openssl rand -hex 16)').optional(),
        allowReplay: z.boolean(),
      })
      .strict(),
    /** Connection URL for every PostgreSQL sink pipeline (a deployment's database, e.g. in a container). */
    postgresUrl: z.string().regex(/^postgres(ql)?:\/\//, 'a PostgreSQL URL: postgres://user@host:port/database').optional(),
    /** Names of the pipelines to run; all when empty. */
    only: z.array(z.string()).default([]),
    pipelines: z.array(pipelineFileSchema).default([]),
    security: securitySettingsSchema.optional(),
  })
  .strict();

export const workerSettingsSchema = workerSettingsFields.superRefine((settings, ctx) => {
  if (settings.heartbeatIntervalMs >= settings.sessionTimeoutMs) {
    ctx.addIssue({
      code: 'custom',
      path: ['heartbeatIntervalMs'],
      message: `must be below sessionTimeoutMs (${settings.sessionTimeoutMs}); accepted: 100..${settings.sessionTimeoutMs - 1}`,
    });
  }
});

export type CommitSettings = z.infer<typeof commitSettingsSchema>;
export type PipelineFileConfig = z.infer<typeof pipelineFileSchema>;
export type WorkerSettings = z.infer<typeof workerSettingsSchema>;
export type SecuritySettings = z.infer<typeof securitySettingsSchema>;

export const DEFAULT_SETTINGS: Omit<WorkerSettings, 'brokers' | 'pipelines' | 'only'> = {
  clientId: DEFAULTS.clientId,
  commit: {
    strategy: DEFAULTS.commitStrategy,
    batchSize: DEFAULTS.batchSize,
    lingerMs: DEFAULTS.lingerMs,
    commitIntervalMs: DEFAULTS.commitIntervalMs,
    transactionTimeoutMs: DEFAULTS.transactionTimeoutMs,
    concurrentTransactionsTimeoutMs: DEFAULTS.concurrentTransactionsTimeoutMs,
  },
  partitionsConcurrently: DEFAULTS.partitionsConcurrently,
  maxInFlight: DEFAULTS.maxInFlight,
  sessionTimeoutMs: DEFAULTS.sessionTimeoutMs,
  heartbeatIntervalMs: DEFAULTS.heartbeatIntervalMs,
  rebalanceTimeoutMs: DEFAULTS.rebalanceTimeoutMs,
  drainTimeoutMs: DEFAULTS.drainTimeoutMs,
  metadataMaxAgeMs: DEFAULTS.metadataMaxAgeMs,
  memoryBudgetMb: DEFAULTS.memoryBudgetMb,
  metricsHost: DEFAULTS.metricsHost,
  livenessMaxEventLoopDelayMs: DEFAULTS.livenessMaxEventLoopDelayMs,
  console: { port: DEFAULTS.consolePort, host: DEFAULTS.consoleHost, allowReplay: false },
};
