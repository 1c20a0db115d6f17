import type { Logger } from 'pino';
import type { PartitionCommitter } from '../commit/index.js';
import { HandlerTimeoutError } from '../errors/index.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { type HandlerContext, type HandlerResult, normaliseResult } from '../pipeline/records.js';
import { isPromiseLike } from '../util/promise.js';
import { callContext, LazyHandlerSignal, withHandlerTimeout } from './handler-timeout.js';
import type { HandlerWatch } from './handler-watch.js';

export interface HandlerInvokerDeps {
  readonly pipeline: ResolvedPipeline;
  readonly catalog: TopicCatalog;
  /** The scope handler calls run in (the sink's). */
  readonly committer: Pick<PartitionCommitter, 'runHandlerCall'>;
  readonly logger: Logger;
  readonly handlerWatch?: HandlerWatch;
}

/**
 * Where the worker meets the user's handler: every call, of a record or a batch, runs in the
 * committer's scope and under the pipeline's timeout, with its own `ctx.signal`; what it
 * returns names topics the catalog is asked about again before the outputs are judged.
 */
export class HandlerInvoker {
  constructor(private readonly deps: HandlerInvokerDeps) {}

  /**
   * One handler call in the committer's scope (with the context fields it adds: the sink's
   * savepoint and ctx.db), bounded by the pipeline's handlerTimeoutMs. `records` names what
   * the call handles, for the stuck warning and the timeout. A synchronous handler's result
   * (or what it threw) comes back synchronously where the committer needs no scope.
   */
  invoke<T>(records: () => string, fields: object, context: HandlerContext, call: (context: HandlerContext) => T | Promise<T>): T | Promise<T> {
    return this.deps.committer.runHandlerCall(context, (scoped) => this.callHandler(records, fields, scoped, call));
  }

  /**
   * One handler call, bounded by the pipeline's handlerTimeoutMs. The handler's signal
   * aborts on drain while the call runs, or on its timeout (and stays aborted for an abandoned
   * call); a warning names the records while the call is stuck.
   */
  private callHandler<T>(records: () => string, fields: object, context: HandlerContext, call: (context: HandlerContext) => T | Promise<T>): T | Promise<T> {
    const timeoutMs = this.deps.pipeline.handlerTimeoutMs;
    // Not AbortSignal.any: see handlerSignal (Node 24 lost an abandoned call's abort).
    const bounded = new LazyHandlerSignal(context.signal);
    let result: T | Promise<T>;
    try {
      result = withHandlerTimeout(() => call(callContext(context, bounded)), timeoutMs, () => ({
        records,
        abort: () => bounded.abort(new HandlerTimeoutError(records(), timeoutMs)),
        onAbandoned: () => this.deps.handlerWatch?.abandon(records()) ?? (() => {}),
        onStuck: (elapsedMs) => {
          this.deps.logger.warn({ ...fields, elapsedMs, timeoutMs }, `handler still running on ${records()} after ${elapsedMs} ms; it times out at ${timeoutMs} ms`);
        },
      }));
    } catch (error) {
      bounded.release();
      throw error;
    }
    if (!isPromiseLike(result)) {
      bounded.release();
      return result;
    }
    return Promise.resolve(result).finally(() => bounded.release());
  }

  /**
   * Outputs naming a topic or partition the catalog does not know: read the topic again before
   * judging (a promise then; nothing to wait for, the common case, returns undefined).
   */
  refreshTopicsOf(results: readonly unknown[]): Promise<void> | undefined {
    const { pipeline, catalog } = this.deps;
    let stale: Set<string> | undefined;
    for (const result of results) {
      let outputs: readonly unknown[];
      try {
        outputs = normaliseResult(result as HandlerResult);
      } catch {
        continue;
      }
      for (const output of outputs) {
        if (output === null || typeof output !== 'object') continue;
        const { topic = pipeline.output, partition } = output as { topic?: unknown; partition?: unknown };
        if (typeof topic !== 'string' || !pipeline.outputs.includes(topic)) continue;
        const limits = catalog.get(topic);
        if (!limits || (typeof partition === 'number' && partition >= limits.partitions)) (stale ??= new Set()).add(topic);
      }
    }
    return stale ? catalog.refresh(stale) : undefined;
  }
}
