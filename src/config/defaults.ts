/**
 * Every default of txstream, in one place. Each says why it is what it is;
 * load-tests/results/ has the measurements behind the commit settings.
 */

export const COMMIT_STRATEGIES = ['transactional', 'batch', 'per-message', 'auto'] as const;
export type CommitStrategyName = (typeof COMMIT_STRATEGIES)[number];

export const DEFAULTS = {
  clientId: 'txstream',
  /** Exactly-once unless the pipeline asks for less. */
  commitStrategy: 'transactional' as CommitStrategyName,
  /** Records handed to the handler at once. */
  batchSize: 500,
  /** How long the broker may hold a fetch to fill it (fetch.max.wait.ms). */
  lingerMs: 50,
  /**
   * Commits start this far apart (from one commit's start to the next's; a transaction stays
   * open at least half of it: commit/cadence.ts), so a record waits about half of it for its
   * commit: each transaction has a fixed cost of several round trips (kafka-notes), so short
   * intervals waste throughput and long ones delay read_committed readers.
   * Kafka Streams uses 100 ms under exactly-once.
   */
  commitIntervalMs: 100,
  /**
   * One transaction spans a commit interval of every partition's writes, never a handler call.
   * A worker that dies with a transaction open blocks read_committed readers of its outputs
   * (and the offsets' new owner) until this passes, unless it restarts under the same
   * instanceId: 10 s, as Kafka Streams under exactly-once.
   */
  transactionTimeoutMs: 10_000,
  /**
   * A transaction's first write is answered CONCURRENT_TRANSACTIONS until the coordinator has
   * written the previous transaction's markers to every partition it touched: milliseconds at a
   * few partitions, seconds at hundreds on a busy broker. It is retried until this, as the Java
   * producer retries it until its delivery timeout, and never longer than transactionTimeoutMs
   * (a coordinator that takes longer is stuck: the transaction aborts and its partitions rewind).
   * 10 s: the transaction timeout's default, so only a stuck coordinator aborts.
   */
  concurrentTransactionsTimeoutMs: 10_000,
  /** Partitions whose batches are processed at the same time by one worker. */
  partitionsConcurrently: 4,
  /**
   * Handler calls in flight per partition under `concurrency.ordering` key or unordered, when the
   * pipeline names no maxInFlight: enough to hide a few milliseconds of I/O per call.
   */
  maxInFlightPerPartition: 16,
  /**
   * Handler calls in flight in one worker, across its partitions and pipelines: bounds the
   * memory and the connections the handlers' I/O can take, whatever the pipelines ask.
   */
  maxInFlight: 1_000,
  /**
   * Partitions handled at the same time by a pipeline with concurrency inside its partitions:
   * their batches mostly wait on I/O, and maxInFlight bounds the calls, so one worker's usual
   * share of partitions is handled at once (partitionsConcurrently, when higher, wins).
   */
  partitionsConcurrentlyUnderConcurrency: 64,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  rebalanceTimeoutMs: 60_000,
  /**
   * A handler call that has not settled after this fails with HandlerTimeoutError (routed
   * by the error policy). Transactions do not wait for handlers: outputs are written after the
   * call returns, and the commit cycle commits what is written.
   */
  handlerTimeoutMs: 10_000,
  /** SIGTERM/SIGINT: finish and commit within this, or abort and exit non-zero. */
  drainTimeoutMs: 30_000,
  /** Past the drain deadline, aborting open transactions gets this long; then the worker stops regardless. */
  drainAbortGraceMs: 5_000,
  /**
   * How often a consumer reads topic metadata again, and so how long until partitions
   * added to an input are consumed (KafkaJS's default is 5 minutes). One metadata request
   * per consumer per interval.
   */
  metadataMaxAgeMs: 30_000,
  /**
   * The peak RSS one worker is sized for, in MiB: sizes its fetches, V8's young generation and, below
   * this default, how far its old generation runs ahead of what is live (config/memory-budget.ts),
   * which bound what it holds whatever its partition count; nothing caps the heap, so a large batch
   * still fits. 176: 512 KiB fetch responses (1 MiB from 64 partitions up: a fetch costs per partition
   * it names) and a 16 MiB young generation, the old generation left
   * to V8 (load-tests/results/partitions-2026-12-06-fetch-size.md: 1.25 MiB responses, the default
   * until then, peaked at 200–234 MiB with JSON at 96 partitions); the smallest budget, 164, also
   * holds the old generation at 2× what survived, for 1.5–1.7× the CPU per record
   * (partitions-2026-12-04-memory-default.md).
   */
  memoryBudgetMb: 176,
  /** Retry in place after a failed batch (until failure routing takes over). */
  retryBackoff: { initialMs: 200, multiplier: 2, maxMs: 30_000 },
  /**
   * `keyOrderOnRetry: hold`: how often a partition asks whether the retry tier holding its keys
   * has resolved them (one offsets request per topic per interval, shared by the worker's
   * partitions). A key waits for its retry at most this much longer than the retry itself.
   */
  holdCheckIntervalMs: 1_000,
  /** How often the metrics read consumer lag (committed offset vs high watermark). */
  lagRefreshMs: 5_000,
  /**
   * The ops server (/metrics, /healthz, /readyz) listens on every interface, as Prometheus
   * exporters do, so a scraper on another host (or another container) reaches it.
   */
  metricsHost: '0.0.0.0',
  /**
   * /healthz fails once the event loop was blocked this long: far above a GC pause or a large
   * batch on a loaded machine, far below a probe's usual 3 × 10 s before a restart.
   */
  livenessMaxEventLoopDelayMs: 5_000,
  /** How long /healthz keeps failing after a blocked event loop, so a probe sees it. */
  livenessHoldMs: 10_000,
  /** Dead-letter topic of an input topic. */
  deadLetterSuffix: '.dlt',
  /**
   * `txstream audit`: how long the read may take to reach the end offsets. Above the
   * transaction timeout, since read_committed waits for transactions open at the start.
   */
  auditReadTimeoutMs: 120_000,
  /**
   * `txstream dlt inspect`: how long reading a dead-letter topic to its end may take (`--timeout`, in ms as for `audit`).
   * Minutes for millions of records on one broker; a read cut short says what it left unread and
   * exits non-zero, never presents part of the topic as the whole.
   */
  deadLetterReadTimeoutMs: 60_000,
  /**
   * PostgreSQL sink: connections per pipeline. A partition holds one while its transaction is
   * open (up to commitIntervalMs), so about the partitions a worker owns; pg's own default.
   */
  sinkPoolSize: 10,
  /** PostgreSQL sink: the table of input offsets and owner epochs, one row per group and partition. */
  sinkOffsetsTable: 'txstream_offsets',
  /** PostgreSQL sink: the table of ids ctx.once has recorded. */
  sinkOnceTable: 'txstream_once',
  /** `txstream audit`: missing or duplicated inputs listed. */
  auditProblems: 20,
  /** `txstream console` listens here; loopback only unless the operator names another address (and a token). */
  consolePort: 8088,
  consoleHost: '127.0.0.1',
  /** How often the console reads each pipeline's lag (one admin request per pipeline) and how many readings its chart keeps (an hour at 5 s). */
  consoleLagIntervalMs: 5_000,
  consoleLagHistory: 720,
  /** Dead letters per page of the console's list. */
  consoleDeadLetterPage: 50,
  /**
   * Dead letters the console indexes per topic (headers and position, never values): past this many the list
   * shows the first ones and the counts still cover the whole topic.
   */
  consoleDeadLetterIndexLimit: 100_000,
  /** A dead letter's value shown up to this many bytes; larger ones are cut, their size shown. */
  consoleValueLimit: 16_384,
} as const;

/**
 * A worker's default instance id: unique among live processes (the pid), not stable across
 * restarts. Give each worker a stable name (TXSTREAM_INSTANCE_ID) where the platform has one.
 */
export function defaultInstanceId(hostname: string, pid: number): string {
  const host = hostname.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 100) || 'worker';
  return `${host}-${pid}`;
}
