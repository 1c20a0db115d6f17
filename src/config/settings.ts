/**
 * The settings a user can give by flag or environment variable, one row each.
 * The CLI's options and the env reader are both made from this table.
 */
export interface SettingSpec {
  /** Path inside WorkerSettings. */
  readonly path: readonly string[];
  readonly flag: string;
  readonly env: readonly string[];
  readonly kind: 'string' | 'int' | 'list';
  readonly description: string;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    path: ['brokers'],
    flag: 'brokers',
    env: ['TXSTREAM_BROKERS', 'KAFKA_BROKERS'],
    kind: 'list',
    description: 'bootstrap brokers, host:port[,host:port]',
  },
  { path: ['clientId'], flag: 'client-id', env: ['TXSTREAM_CLIENT_ID'], kind: 'string', description: 'Kafka client id' },
  {
    path: ['groupId'],
    flag: 'group-id',
    env: ['TXSTREAM_GROUP_ID'],
    kind: 'string',
    description: 'consumer group prefix: a pipeline joins <group-id>.<pipeline>',
  },
  {
    path: ['only'],
    flag: 'pipeline',
    env: ['TXSTREAM_PIPELINES'],
    kind: 'list',
    description: 'run only these pipelines (comma-separated)',
  },
  {
    path: ['commit', 'strategy'],
    flag: 'commit-strategy',
    env: ['TXSTREAM_COMMIT_STRATEGY'],
    kind: 'string',
    description: 'transactional | batch | per-message | auto',
  },
  { path: ['commit', 'batchSize'], flag: 'batch-size', env: ['TXSTREAM_BATCH_SIZE'], kind: 'int', description: 'records per handler call' },
  {
    path: ['commit', 'lingerMs'],
    flag: 'linger-ms',
    env: ['TXSTREAM_LINGER_MS'],
    kind: 'int',
    description: 'how long a fetch may wait to fill',
  },
  {
    path: ['commit', 'commitIntervalMs'],
    flag: 'commit-interval-ms',
    env: ['TXSTREAM_COMMIT_INTERVAL_MS'],
    kind: 'int',
    description: 'how long one transaction may span batches',
  },
  {
    path: ['commit', 'transactionTimeoutMs'],
    flag: 'transaction-timeout-ms',
    env: ['TXSTREAM_TRANSACTION_TIMEOUT_MS'],
    kind: 'int',
    description: 'broker-side timeout of an open transaction',
  },
  {
    path: ['partitionsConcurrently'],
    flag: 'partitions-concurrently',
    env: ['TXSTREAM_PARTITIONS_CONCURRENTLY'],
    kind: 'int',
    description: 'partitions processed at once',
  },
  {
    path: ['sessionTimeoutMs'],
    flag: 'session-timeout-ms',
    env: ['TXSTREAM_SESSION_TIMEOUT_MS'],
    kind: 'int',
    description: 'group session timeout',
  },
  {
    path: ['heartbeatIntervalMs'],
    flag: 'heartbeat-interval-ms',
    env: ['TXSTREAM_HEARTBEAT_INTERVAL_MS'],
    kind: 'int',
    description: 'group heartbeat interval',
  },
  {
    path: ['rebalanceTimeoutMs'],
    flag: 'rebalance-timeout-ms',
    env: ['TXSTREAM_REBALANCE_TIMEOUT_MS'],
    kind: 'int',
    description: 'group rebalance timeout',
  },
  {
    path: ['drainTimeoutMs'],
    flag: 'drain-timeout-ms',
    env: ['TXSTREAM_DRAIN_TIMEOUT_MS'],
    kind: 'int',
    description: 'graceful shutdown deadline',
  },
  {
    path: ['metadataMaxAgeMs'],
    flag: 'metadata-max-age-ms',
    env: ['TXSTREAM_METADATA_MAX_AGE_MS'],
    kind: 'int',
    description: 'how soon partitions added to an input are consumed (metadata refresh interval)',
  },
  {
    path: ['security', 'protocol'],
    flag: 'security-protocol',
    env: ['TXSTREAM_SECURITY_PROTOCOL'],
    kind: 'string',
    description: 'plaintext | ssl | sasl_plaintext | sasl_ssl (default: from the sasl and ssl settings given)',
  },
  {
    path: ['security', 'sasl', 'mechanism'],
    flag: 'sasl-mechanism',
    env: ['TXSTREAM_SASL_MECHANISM'],
    kind: 'string',
    description: 'plain | scram-sha-256 | scram-sha-512',
  },
  {
    path: ['security', 'sasl', 'username'],
    flag: 'sasl-username',
    env: ['TXSTREAM_SASL_USERNAME'],
    kind: 'string',
    description: 'SASL user name',
  },
  {
    path: ['security', 'sasl', 'password'],
    flag: 'sasl-password',
    env: ['TXSTREAM_SASL_PASSWORD'],
    kind: 'string',
    description: 'SASL password (prefer the environment variable: flags are visible in ps)',
  },
  {
    path: ['security', 'ssl', 'caFile'],
    flag: 'ssl-ca-file',
    env: ['TXSTREAM_SSL_CA_FILE'],
    kind: 'string',
    description: 'PEM file of the CA(s) that signed the brokers\' certificates',
  },
  {
    path: ['security', 'ssl', 'certFile'],
    flag: 'ssl-cert-file',
    env: ['TXSTREAM_SSL_CERT_FILE'],
    kind: 'string',
    description: 'PEM client certificate, for mutual TLS',
  },
  {
    path: ['security', 'ssl', 'keyFile'],
    flag: 'ssl-key-file',
    env: ['TXSTREAM_SSL_KEY_FILE'],
    kind: 'string',
    description: 'PEM private key of the client certificate',
  },
];

export function settingLabel(spec: SettingSpec): string {
  return `--${spec.flag}`;
}
