import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The sink's own metrics, in the worker's registry (beside txstream_commit_duration_seconds,
 * which the sink feeds with strategy="postgres"). One set per registry: every sink pipeline
 * of a worker shares it, told apart by the pipeline label.
 */
export interface SinkMetrics {
  readonly rowsWritten: Counter<'pipeline'>;
  readonly commitSeconds: Histogram<'pipeline'>;
  readonly fencedCommits: Counter<'pipeline'>;
  readonly offsetSyncFailures: Counter<'pipeline'>;
}

const byRegistry = new WeakMap<Registry, SinkMetrics>();

export function sinkMetricsOf(registry: Registry): SinkMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    const registers = [registry];
    metrics = {
      rowsWritten: new Counter({
        name: 'txstream_sink_rows_written_total',
        help: 'Rows inserted, updated or deleted through ctx.db, counted when their transaction committed',
        labelNames: ['pipeline'],
        registers,
      }),
      commitSeconds: new Histogram({
        name: 'txstream_sink_commit_duration_seconds',
        help: 'Database commit of a partition: the epoch-checked offsets update and COMMIT',
        labelNames: ['pipeline'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers,
      }),
      fencedCommits: new Counter({
        name: 'txstream_sink_fenced_commits_total',
        help: 'Database commits refused because a newer owner opened the partition (rolled back, partition given up)',
        labelNames: ['pipeline'],
        registers,
      }),
      offsetSyncFailures: new Counter({
        name: 'txstream_sink_offset_sync_failures_total',
        help: "Kafka offset commits after a database commit that failed (best effort: the database's offsets are the truth)",
        labelNames: ['pipeline'],
        registers,
      }),
    };
    byRegistry.set(registry, metrics);
  }
  return metrics;
}
