import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ElapsedHistogram } from './elapsed-histogram.js';
import type { WorkerStats } from './stats.js';

/**
 * The worker's Prometheus metrics, in a registry of its own (no process-wide
 * globals: two workers in one process do not mix their numbers). Counters are read
 * from each pipeline's WorkerStats when scraped, so nothing is counted twice;
 * histograms and gauges are fed by the partition tasks and the lag poller.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly batchSize: Histogram<'pipeline'>;
  readonly processingSeconds: Histogram<'pipeline'>;
  readonly commitSeconds: Histogram<'pipeline' | 'strategy'>;
  readonly endToEndSeconds: ElapsedHistogram<'pipeline'>;
  readonly rebalancePauseSeconds: Histogram<'pipeline'>;
  readonly callsInFlight: Gauge<'pipeline' | 'topic' | 'partition'>;
  readonly keyWaitSeconds: Histogram<'pipeline'>;
  readonly heldOutputs: Gauge<'pipeline' | 'topic' | 'partition'>;
  readonly assignedPartitions: Gauge<'pipeline'>;
  readonly consumerLag: Gauge<'pipeline' | 'topic' | 'partition'>;

  constructor(statsByPipeline: () => ReadonlyMap<string, Readonly<WorkerStats>>) {
    const registers = [this.registry];
    // Node's standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, …), unprefixed,
    // so community Node.js dashboards and alerts work on a txstream worker as they are.
    collectDefaultMetrics({ register: this.registry });
    const fromStats = (name: string, help: string, labelNames: readonly string[], read: (stats: Readonly<WorkerStats>) => Array<[Record<string, string>, number]>) =>
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [pipeline, stats] of statsByPipeline()) for (const [labels, value] of read(stats)) this.inc({ pipeline, ...labels }, value);
        },
      });
    fromStats('txstream_records_total', 'Input records finished, by outcome (ok: committed with its outputs)', ['pipeline', 'outcome'], (stats) => [
      [{ outcome: 'ok' }, stats.recordsIn - stats.retried - stats.deadLettered - stats.skipped - stats.heldBack],
      [{ outcome: 'retried' }, stats.retried],
      [{ outcome: 'dead_lettered' }, stats.deadLettered],
      [{ outcome: 'skipped' }, stats.skipped],
      [{ outcome: 'held_back' }, stats.heldBack],
    ]);
    fromStats('txstream_output_records_total', 'Output records committed', ['pipeline'], (stats) => [[{}, stats.recordsOut]]);
    fromStats('txstream_transactions_total', 'Transactions ended, by result', ['pipeline', 'result'], (stats) => [
      [{ result: 'committed' }, stats.transactionsCommitted],
      [{ result: 'aborted' }, stats.transactionsAborted],
    ]);
    fromStats('txstream_transactions_aborted_total', 'Transactions aborted, by cause (a Kafka error code such as CONCURRENT_TRANSACTIONS, an error class, or other)', ['pipeline', 'cause'], (stats) =>
      Object.entries(stats.transactionsAbortedBy).map(([cause, count]): [Record<string, string>, number] => [{ cause }, count]),
    );
    fromStats('txstream_rebalances_total', 'Group generations joined', ['pipeline'], (stats) => [[{}, stats.rebalances]]);
    fromStats('txstream_fenced_total', 'Partitions rolled back because their transaction was fenced (a generation that is over, or a fenced producer)', ['pipeline'], (stats) => [
      [{}, stats.fenced],
    ]);
    fromStats('txstream_replayed_total', 'Dead-letter records replayed', ['pipeline'], (stats) => [[{}, stats.replayed]]);

    this.batchSize = new Histogram({
      name: 'txstream_batch_size',
      help: 'Records per handler call',
      labelNames: ['pipeline'],
      buckets: [1, 10, 50, 100, 250, 500, 1000, 5000],
      registers,
    });
    this.processingSeconds = new Histogram({
      name: 'txstream_processing_duration_seconds',
      help: 'Decode, handle and write of one handler batch',
      labelNames: ['pipeline'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.commitSeconds = new Histogram({
      name: 'txstream_commit_duration_seconds',
      help: 'Transaction commit (sendOffsets + EndTxn), or offset commit for the non-transactional strategies',
      labelNames: ['pipeline', 'strategy'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.rebalancePauseSeconds = new Histogram({
      name: 'txstream_rebalance_pause_seconds',
      help: 'From the group rebalancing (pending work committed, partitions revoked) to every partition of the new generation open',
      labelNames: ['pipeline'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    // Observed for every committed record, thousands at once: counted without prom-client's per-observation work.
    this.endToEndSeconds = new ElapsedHistogram(
      'txstream_end_to_end_latency_seconds',
      'Commit time minus input record timestamp',
      ['pipeline'],
      [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    );
    this.callsInFlight = new Gauge({
      name: 'txstream_handler_calls_in_flight',
      help: 'Handler calls running now, per input partition (concurrency inside a partition)',
      labelNames: ['pipeline', 'topic', 'partition'],
      registers,
    });
    this.keyWaitSeconds = new Histogram({
      name: 'txstream_key_wait_seconds',
      help: 'How long a record waited for the record before it with the same key (concurrency.ordering key)',
      labelNames: ['pipeline'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.heldOutputs = new Gauge({
      name: 'txstream_held_outputs',
      help: 'Records handled and waiting for the rest of their unit before their outputs are written, per input partition',
      labelNames: ['pipeline', 'topic', 'partition'],
      registers,
    });
    this.assignedPartitions = new Gauge({ name: 'txstream_assigned_partitions', help: 'Partitions assigned to this worker', labelNames: ['pipeline'], registers });
    this.consumerLag = new Gauge({
      name: 'txstream_consumer_lag',
      help: 'High watermark minus committed offset, refreshed periodically',
      labelNames: ['pipeline', 'topic', 'partition'],
      registers,
    });
  }

  /** What a partition task reports, bound to its pipeline. */
  forPipeline(pipeline: string, strategy: string): TaskMetrics {
    return {
      unitProcessed: (records, seconds) => {
        this.batchSize.observe({ pipeline }, records);
        this.processingSeconds.observe({ pipeline }, seconds);
      },
      committed: (seconds, timestamps) => {
        if (seconds !== undefined) this.commitSeconds.observe({ pipeline, strategy }, seconds);
        this.endToEndSeconds.observeSince({ pipeline }, Date.now(), timestamps);
      },
      commitCycle: (seconds) => this.commitSeconds.observe({ pipeline, strategy }, seconds),
      rebalancePause: (seconds) => this.rebalancePauseSeconds.observe({ pipeline }, seconds),
      callsInFlight: ({ topic, partition }, delta) => this.callsInFlight.inc({ pipeline, topic, partition: String(partition) }, delta),
      keyWait: (seconds) => this.keyWaitSeconds.observe({ pipeline }, seconds),
      heldOutputs: ({ topic, partition }, count) => this.heldOutputs.set({ pipeline, topic, partition: String(partition) }, count),
    };
  }
}

export interface TaskMetrics {
  unitProcessed(records: number, seconds: number): void;
  /**
   * A commit made these input records durable (their timestamps, for end-to-end latency);
   * `seconds` is the commit's duration, undefined when the shared cycle reported it once already.
   */
  committed(seconds: number | undefined, timestamps: readonly number[]): void;
  /** One commit cycle of the shared transaction, for all its partitions. */
  commitCycle(seconds: number): void;
  rebalancePause(seconds: number): void;
  /** Handler calls of a partition started (+1) or settled (-1), under concurrency. */
  callsInFlight(partition: { readonly topic: string; readonly partition: number }, delta: number): void;
  /** A record waited this long for the one before it with its key. */
  keyWait(seconds: number): void;
  /** Records of the unit being handled that are done and wait for the rest of it. */
  heldOutputs(partition: { readonly topic: string; readonly partition: number }, count: number): void;
}

export const NO_TASK_METRICS: TaskMetrics = {
  unitProcessed: () => {},
  committed: () => {},
  commitCycle: () => {},
  rebalancePause: () => {},
  callsInFlight: () => {},
  keyWait: () => {},
  heldOutputs: () => {},
};
