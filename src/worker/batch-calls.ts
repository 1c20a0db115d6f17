import type { TopicPartition } from '../commit/index.js';
import { HandlerContractError, HandlerTimeoutError, thrownInstanceOf, UnitRollbackError } from '../errors/index.js';
import type { TaskMetrics } from '../observability/metrics.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { encodeLineage } from '../pipeline/lineage.js';
import { type BatchHandlerFn, type HandlerContext, type HandlerResult, normaliseResult } from '../pipeline/records.js';
import type { FailureRouter, RoutingTarget } from './failure-router.js';
import type { CallSubject, HandlerInvoker } from './handler-invoker.js';
import { laneOf, type Slots, subBatches } from './lanes.js';
import type { DecodedInput } from './record-decoder.js';

/** A batch call's subject: its first record's lineage and how many more, named only if the call is stuck or times out. */
const BATCH_CALL: CallSubject<readonly DecodedInput[]> = {
  records: (inputs) => {
    const first = inputs[0]?.record;
    return first ? `${encodeLineage(first)}${inputs.length > 1 ? ` and ${inputs.length - 1} more records` : ''}` : 'no records';
  },
  fields: (inputs) => ({ offset: inputs[0]?.record.offset, records: inputs.length }),
};

export interface BatchCallsDeps {
  readonly pipeline: ResolvedPipeline;
  readonly partition: TopicPartition;
  readonly metrics: TaskMetrics;
}

/**
 * A batch handler on a unit: one call for the whole unit, or under concurrency one per
 * sub-batch of whole keys; a call that throws is split until its failing records stand alone,
 * each routed by the error policy while its neighbours' outputs are kept.
 */
export class BatchCalls {
  constructor(
    private readonly deps: BatchCallsDeps,
    private readonly invoker: HandlerInvoker,
    private readonly router: FailureRouter,
  ) {}

  /**
   * A batch handler under concurrency: the unit in sub-batches of whole lanes (a key's records
   * in one sub-batch, in offset order), handled at the same time, each isolating its own
   * failures. A record the `block` policy holds fails the whole unit, as without concurrency.
   */
  async handleSubBatches(handleBatch: BatchHandlerFn<unknown, unknown>, inputs: DecodedInput[], unit: RoutingTarget, context: HandlerContext, slots: Slots): Promise<void> {
    const { metrics, partition, pipeline } = this.deps;
    const groups = subBatches(inputs, pipeline.concurrency.maxInFlight, (input) => laneOf(pipeline.concurrency.ordering, input.message.key));
    const settled = await Promise.allSettled(
      groups.map((group) =>
        slots(async () => {
          metrics.callsInFlight(partition, 1);
          try {
            await this.handleIsolating(handleBatch, group, unit, context);
          } finally {
            metrics.callsInFlight(partition, -1);
          }
        }),
      ),
    );
    // Every sub-batch has settled before the unit fails: none writes into a unit that is gone.
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Calls a batch handler; when it throws, splits the batch in halves until the
   * failing records stand alone, so their neighbours' outputs are still kept.
   * A record is handled again at most log2(batch size) times.
   */
  async handleIsolating(handleBatch: BatchHandlerFn<unknown, unknown>, inputs: DecodedInput[], unit: RoutingTarget, context: HandlerContext): Promise<void> {
    let results: readonly HandlerResult[];
    try {
      results = await this.invoker.invoke(BATCH_CALL, inputs, context, (batch, bounded) =>
        handleBatch(
          batch.map((input) => input.record),
          bounded,
        ),
      );
      if (!Array.isArray(results) || results.length !== inputs.length) {
        throw new HandlerContractError(
          `batch handler of pipeline '${this.deps.pipeline.name}' returned ${Array.isArray(results) ? results.length : typeof results} results for ${inputs.length} records; it must return one per record`,
        );
      }
    } catch (error) {
      if (thrownInstanceOf(error, UnitRollbackError)) throw error;
      const [only] = inputs;
      if (inputs.length === 1 && only) return this.router.route(unit, only.message, error);
      if (thrownInstanceOf(error, HandlerTimeoutError)) {
        // Halving would wait out the timeout log2(n) times: one record per call finds the stuck ones in one more timeout each.
        for (const input of inputs) await this.handleIsolating(handleBatch, [input], unit, context);
        return;
      }
      const middle = Math.ceil(inputs.length / 2);
      await this.handleIsolating(handleBatch, inputs.slice(0, middle), unit, context);
      await this.handleIsolating(handleBatch, inputs.slice(middle), unit, context);
      return;
    }
    await this.invoker.refreshTopicsOf(results);
    inputs.forEach((input, index) => {
      try {
        unit.outputs.addOutputs(input.record, normaliseResult(results[index]));
      } catch (error) {
        this.router.route(unit, input.message, error);
      }
    });
  }
}
