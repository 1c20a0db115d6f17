/**
 * The settings a user can give by flag or environment variable, one row each.
 * The CLI's options and the env reader are both made from this table.
 */
export interface SettingSpec {
  /** Path inside WorkerSettings. */
  readonly path: readonly string[];
  readonly flag: string;
  readonly env: readonly string[];
  /** A `boolean` setting is a flag without a value (`--allow-replay`); its env and file values are true or false. */
  readonly kind: 'string' | 'int' | 'list' | 'boolean';
  readonly description: string;
  /**
   * What the setting is about, so each command offers (and documents in --help) only what it reads:
   * connection (every command that talks to Kafka), pipelines (which ones, their groups),
   * worker (how `run` processes), ops (the metrics and health server of `run`), console (`txstream console`).
   */
  readonly group: SettingGroup;
}

export type SettingGroup = 'connection' | 'pipelines' | 'worker' | 'ops' | 'console';

export const SETTINGS: readonly SettingSpec[] = [
  {
    path: ['brokers'],
    flag: 'brokers',
    group: 'connection',
    env: ['TXSTREAM_BROKERS', 'KAFKA_BROKERS'],
    kind: 'list',
    description: 'bootstrap brokers, host:port[,host:port]',
  },
  { path: ['clientId'], flag: 'client-id', group: 'connection', env: ['TXSTREAM_CLIENT_ID'], kind: 'string', description: 'Kafka client id' },
  {
    path: ['groupId'],
    flag: 'group-id',
    group: 'pipelines',
    env: ['TXSTREAM_GROUP_ID'],
    kind: 'string',
    description: 'consumer group prefix: a pipeline joins <group-id>.<pipeline>',
  },
  {
    path: ['only'],
    flag: 'pipeline',
    group: 'pipelines',
    env: ['TXSTREAM_PIPELINES'],
    kind: 'list',
    description: 'only these pipelines (comma-separated; default: all)',
  },
  {
    path: ['commit', 'strategy'],
    flag: 'commit-strategy',
    group: 'worker',
    env: ['TXSTREAM_COMMIT_STRATEGY'],
    kind: 'string',
    description: 'transactional | batch | per-message | auto',
  },
  { path: ['commit', 'batchSize'], flag: 'batch-size', group: 'worker', env: ['TXSTREAM_BATCH_SIZE'], kind: 'int', description: 'records per handler call' },
  {
    path: ['commit', 'lingerMs'],
    flag: 'linger-ms',
    group: 'worker',
    env: ['TXSTREAM_LINGER_MS'],
    kind: 'int',
    description: 'how long a fetch may wait to fill',
  },
  {
    path: ['commit', 'commitIntervalMs'],
    flag: 'commit-interval-ms',
    group: 'worker',
    env: ['TXSTREAM_COMMIT_INTERVAL_MS'],
    kind: 'int',
    description: 'how often commits start (a PostgreSQL sink: how long its transaction may span batches)',
  },
  {
    path: ['commit', 'transactionTimeoutMs'],
    flag: 'transaction-timeout-ms',
    group: 'worker',
    env: ['TXSTREAM_TRANSACTION_TIMEOUT_MS'],
    kind: 'int',
    description: 'broker-side timeout of an open transaction',
  },
  {
    path: ['commit', 'concurrentTransactionsTimeoutMs'],
    flag: 'concurrent-transactions-timeout-ms',
    group: 'worker',
    env: ['TXSTREAM_CONCURRENT_TRANSACTIONS_TIMEOUT_MS'],
    kind: 'int',
    description: 'how long a transaction waits for the previous one to end (CONCURRENT_TRANSACTIONS) before it aborts; at most the transaction timeout',
  },
  {
    path: ['partitionsConcurrently'],
    flag: 'partitions-concurrently',
    group: 'worker',
    env: ['TXSTREAM_PARTITIONS_CONCURRENTLY'],
    kind: 'int',
    description: 'partitions processed at once',
  },
  {
    path: ['maxInFlight'],
    flag: 'max-in-flight',
    group: 'worker',
    env: ['TXSTREAM_MAX_IN_FLIGHT'],
    kind: 'int',
    description: "handler calls in flight in the whole worker (caps every pipeline's concurrency.maxInFlight)",
  },
  {
    path: ['sessionTimeoutMs'],
    flag: 'session-timeout-ms',
    group: 'worker',
    env: ['TXSTREAM_SESSION_TIMEOUT_MS'],
    kind: 'int',
    description: 'group session timeout',
  },
  {
    path: ['heartbeatIntervalMs'],
    flag: 'heartbeat-interval-ms',
    group: 'worker',
    env: ['TXSTREAM_HEARTBEAT_INTERVAL_MS'],
    kind: 'int',
    description: 'group heartbeat interval',
  },
  {
    path: ['rebalanceTimeoutMs'],
    flag: 'rebalance-timeout-ms',
    group: 'worker',
    env: ['TXSTREAM_REBALANCE_TIMEOUT_MS'],
    kind: 'int',
    description: 'group rebalance timeout',
  },
  {
    path: ['drainTimeoutMs'],
    flag: 'drain-timeout-ms',
    group: 'worker',
    env: ['TXSTREAM_DRAIN_TIMEOUT_MS'],
    kind: 'int',
    description: 'graceful shutdown deadline',
  },
  {
    path: ['instanceId'],
    flag: 'instance-id',
    group: 'worker',
    env: ['TXSTREAM_INSTANCE_ID'],
    kind: 'string',
    description: "this worker's stable name (a pod or container name): a restart under the same name aborts its predecessor's open transaction at once (default: <hostname>-<pid>)",
  },
  {
    path: ['metadataMaxAgeMs'],
    flag: 'metadata-max-age-ms',
    group: 'worker',
    env: ['TXSTREAM_METADATA_MAX_AGE_MS'],
    kind: 'int',
    description: 'how soon partitions added to an input are consumed (metadata refresh interval)',
  },
  {
    path: ['memoryBudgetMb'],
    flag: 'memory-budget-mb',
    group: 'worker',
    env: ['TXSTREAM_MEMORY_BUDGET_MB'],
    kind: 'int',
    description: 'memory one worker may take, in MiB: sizes its fetches by the partitions it consumes (default 160: under 200 MiB RSS at 96 partitions)',
  },
  {
    path: ['postgresUrl'],
    flag: 'postgres-url',
    group: 'pipelines',
    env: ['TXSTREAM_POSTGRES_URL'],
    kind: 'string',
    description: 'connection URL of every PostgreSQL sink pipeline, replacing the files\' sink.postgres connection (password: PGPASSWORD or in the URL)',
  },
  {
    path: ['security', 'protocol'],
    flag: 'security-protocol',
    group: 'connection',
    env: ['TXSTREAM_SECURITY_PROTOCOL'],
    kind: 'string',
    description: 'plaintext | ssl | sasl_plaintext | sasl_ssl (default: from the sasl and ssl settings given)',
  },
  {
    path: ['security', 'sasl', 'mechanism'],
    flag: 'sasl-mechanism',
    group: 'connection',
    env: ['TXSTREAM_SASL_MECHANISM'],
    kind: 'string',
    description: 'plain | scram-sha-256 | scram-sha-512',
  },
  {
    path: ['security', 'sasl', 'username'],
    flag: 'sasl-username',
    group: 'connection',
    env: ['TXSTREAM_SASL_USERNAME'],
    kind: 'string',
    description: 'SASL user name',
  },
  {
    path: ['security', 'sasl', 'password'],
    flag: 'sasl-password',
    group: 'connection',
    env: ['TXSTREAM_SASL_PASSWORD'],
    kind: 'string',
    description: 'SASL password (prefer the environment variable: flags are visible in ps)',
  },
  {
    path: ['security', 'ssl', 'caFile'],
    flag: 'ssl-ca-file',
    group: 'connection',
    env: ['TXSTREAM_SSL_CA_FILE'],
    kind: 'string',
    description: 'PEM file of the CA(s) that signed the brokers\' certificates',
  },
  {
    path: ['security', 'ssl', 'certFile'],
    flag: 'ssl-cert-file',
    group: 'connection',
    env: ['TXSTREAM_SSL_CERT_FILE'],
    kind: 'string',
    description: 'PEM client certificate, for mutual TLS',
  },
  {
    path: ['security', 'ssl', 'keyFile'],
    flag: 'ssl-key-file',
    group: 'connection',
    env: ['TXSTREAM_SSL_KEY_FILE'],
    kind: 'string',
    description: 'PEM private key of the client certificate',
  },
  {
    path: ['metricsPort'],
    flag: 'metrics-port',
    env: ['TXSTREAM_METRICS_PORT'],
    kind: 'int',
    group: 'ops',
    description: 'serve /metrics, /healthz and /readyz on this port (0: any free port; default: no server)',
  },
  {
    path: ['metricsHost'],
    flag: 'metrics-host',
    env: ['TXSTREAM_METRICS_HOST'],
    kind: 'string',
    group: 'ops',
    description: 'address the ops server listens on (default 0.0.0.0: every interface; 127.0.0.1 keeps it local)',
  },
  {
    path: ['livenessMaxEventLoopDelayMs'],
    flag: 'liveness-max-event-loop-delay-ms',
    env: ['TXSTREAM_LIVENESS_MAX_EVENT_LOOP_DELAY_MS'],
    kind: 'int',
    group: 'ops',
    description: '/healthz answers 503 for 10 s after the event loop was blocked longer than this (default 5000)',
  },
  {
    path: ['console', 'port'],
    flag: 'port',
    env: ['TXSTREAM_CONSOLE_PORT'],
    kind: 'int',
    group: 'console',
    description: 'port of the web console (default 8088; 0: any free port)',
  },
  {
    path: ['console', 'host'],
    flag: 'host',
    env: ['TXSTREAM_CONSOLE_HOST'],
    kind: 'string',
    group: 'console',
    description: 'address the console listens on (default 127.0.0.1: this machine only; any other needs --token)',
  },
  {
    path: ['console', 'token'],
    flag: 'token',
    env: ['TXSTREAM_CONSOLE_TOKEN'],
    kind: 'string',
    group: 'console',
    description: 'token the console asks for before showing anything and on every change; required beyond loopback and with --allow-replay (prefer the environment variable: flags are visible in ps)',
  },
  {
    path: ['console', 'allowReplay'],
    flag: 'allow-replay',
    env: ['TXSTREAM_CONSOLE_ALLOW_REPLAY'],
    kind: 'boolean',
    group: 'console',
    description: 'let the console replay dead letters (off by default; needs --token)',
  },
];

/** The settings of these groups, in table order. */
export function settingsOf(...groups: readonly SettingGroup[]): SettingSpec[] {
  return SETTINGS.filter((spec) => groups.includes(spec.group));
}

export function settingLabel(spec: SettingSpec): string {
  return `--${spec.flag}`;
}
