import type { Registry } from 'prom-client';
import type { CommitStrategy, StrategyContext } from '../../commit/index.js';
import type { ResolvedPipeline } from '../../pipeline/definition.js';
import { sinkMetricsOf } from './metrics.js';
import { PostgresPartition } from './partition-committer.js';
import { SinkShared } from './shared.js';

/**
 * Exactly-once into PostgreSQL: the handler writes through `ctx.db` inside a database
 * transaction of its input partition, and txstream writes the partition's next offset into
 * the offsets table in that same transaction, then commits. The database, not Kafka, says
 * where a partition starts; Kafka's committed offset follows after each commit, best effort.
 *
 * The parts: the offsets table and its owner-epoch fencing (offsets.ts), the once-table
 * (once.ts), a savepoint per handler call and what a statement error means for the record
 * (partition-committer.ts, statement-errors.ts), `ctx.db` (scoped-client.ts), the pool and tables
 * every partition shares (shared.ts).
 *
 * What is atomic with what: the handler's rows and the offset, in one database transaction.
 * Retry and dead-letter copies are Kafka writes, acknowledged (acks=all) before that commit:
 * a crash in between writes them again (a duplicate copy at worst, recognised by the
 * once-table when consumed), never loses one.
 */
export function postgresSinkStrategy(pipeline: ResolvedPipeline, context: StrategyContext, registry: Registry): CommitStrategy {
  const sink = pipeline.sink?.postgres;
  if (!sink) throw new Error(`pipeline '${pipeline.name}' has no sink.postgres`);
  const shared = new SinkShared(pipeline, sink, context, sinkMetricsOf(registry));
  return {
    name: 'postgres',
    guarantee: 'exactly-once',
    start: () => shared.start(),
    notReadyReason: () => shared.waitingFor,
    // One database transaction per partition, committed by its own task (the runner flushes the tasks after this).
    forPartition: (partition, listener) => new PostgresPartition(shared, partition, listener),
    flush: async () => {},
    close: () => shared.close(),
  };
}
