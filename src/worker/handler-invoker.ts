import type { Logger } from 'pino';
import { type PartitionCommitter, unscopedHandlerCall } from '../commit/index.js';
import { HandlerTimeoutError } from '../errors/index.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { type HandlerContext, type HandlerResult, normaliseResult } from '../pipeline/records.js';
import { isPromiseLike } from '../util/promise.js';
import { boundHandlerResult, callContext, type HandlerTimeoutOptions, LazyHandlerSignal } from './handler-timeout.js';
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
 * What a handler call handles, told only when it is stuck or times out: made from the call's
 * argument then, so a call that settles in time (nearly all) makes no names, no log fields and
 * no closure for them.
 */
export interface CallSubject<A> {
  /** The records, for the stuck warning and the timeout's error. */
  records(arg: A): string;
  /** The log fields of the stuck warning. */
  fields(arg: A): object;
}

/**
 * Where the worker meets the user's handler: every call, of a record or a batch, runs in the
 * committer's scope and under the pipeline's timeout, with its own `ctx.signal`; what it
 * returns names topics the catalog is asked about again before the outputs are judged.
 */
export class HandlerInvoker {
  constructor(private readonly deps: HandlerInvokerDeps) {}

  /**
   * `call(arg, context)` in the committer's scope (with the context fields it adds: the sink's
   * savepoint and ctx.db), bounded by the pipeline's handlerTimeoutMs; `subject` names what it
   * handles if it is stuck or times out. A synchronous handler's result (or what it threw) comes
   * back synchronously where the committer needs no scope. The call is a function of `arg`, not
   * a closure over it, so a record call allocates nothing of its own (per record, closures and
   * options objects were a third of what handling a unit allocated).
   */
  invoke<A, T>(subject: CallSubject<A>, arg: A, context: HandlerContext, call: (arg: A, context: HandlerContext) => T | Promise<T>): T | Promise<T> {
    const { committer } = this.deps;
    // The committers of Kafka outputs have no scope: no closure to enter it.
    if (committer.runHandlerCall === unscopedHandlerCall) return this.callHandler(subject, arg, context, call);
    return committer.runHandlerCall(context, (scoped) => this.callHandler(subject, arg, scoped, call));
  }

  /**
   * One handler call, bounded by the pipeline's handlerTimeoutMs. The handler's signal
   * aborts on drain while the call runs, or on its timeout (and stays aborted for an abandoned
   * call); a warning names the records while the call is stuck.
   */
  private callHandler<A, T>(subject: CallSubject<A>, arg: A, context: HandlerContext, call: (arg: A, context: HandlerContext) => T | Promise<T>): T | Promise<T> {
    // Not AbortSignal.any: see handlerSignal (Node 24 lost an abandoned call's abort).
    const bounded = new LazyHandlerSignal(context.signal);
    let result: T | Promise<T>;
    try {
      result = call(arg, callContext(context, bounded));
    } catch (error) {
      bounded.release();
      throw error;
    }
    if (!isPromiseLike(result)) {
      bounded.release();
      return result;
    }
    const running = boundHandlerResult(result, this.deps.pipeline.handlerTimeoutMs, () => this.timeoutOptions(subject, arg, bounded));
    return Promise.resolve(running).finally(() => bounded.release());
  }

  /** What bounding a call that returned a promise needs. */
  private timeoutOptions<A>(subject: CallSubject<A>, arg: A, bounded: LazyHandlerSignal): HandlerTimeoutOptions {
    const timeoutMs = this.deps.pipeline.handlerTimeoutMs;
    const records = () => subject.records(arg);
    return {
      records,
      abort: () => bounded.abort(new HandlerTimeoutError(records(), timeoutMs)),
      onAbandoned: () => this.deps.handlerWatch?.abandon(records()) ?? (() => {}),
      onStuck: (elapsedMs) => {
        this.deps.logger.warn({ ...subject.fields(arg), elapsedMs, timeoutMs }, `handler still running on ${records()} after ${elapsedMs} ms; it times out at ${timeoutMs} ms`);
      },
    };
  }

  /**
   * Outputs naming a topic or partition the catalog does not know: read the topic again before
   * judging (a promise then; nothing to wait for, the common case, returns undefined).
   */
  refreshTopicsOf(results: readonly unknown[]): Promise<void> | undefined {
    let stale: Set<string> | undefined;
    for (const result of results) {
      let outputs: readonly unknown[];
      try {
        outputs = normaliseResult(result as HandlerResult);
      } catch {
        continue;
      }
      stale = this.staleTopicsOf(outputs, stale);
    }
    return stale ? this.deps.catalog.refresh(stale) : undefined;
  }

  /** refreshTopicsOf for one call's outputs, already normalised (a record call's: no array around them). */
  refreshTopicsOfOutputs(outputs: readonly unknown[]): Promise<void> | undefined {
    const stale = this.staleTopicsOf(outputs, undefined);
    return stale ? this.deps.catalog.refresh(stale) : undefined;
  }

  private staleTopicsOf(outputs: readonly unknown[], stale: Set<string> | undefined): Set<string> | undefined {
    const { pipeline, catalog } = this.deps;
    for (const output of outputs) {
      if (output === null || typeof output !== 'object') continue;
      const { topic = pipeline.output, partition } = output as { topic?: unknown; partition?: unknown };
      if (typeof topic !== 'string' || !pipeline.outputs.includes(topic)) continue;
      const limits = catalog.get(topic);
      if (!limits || (typeof partition === 'number' && partition >= limits.partitions)) (stale ??= new Set()).add(topic);
    }
    return stale;
  }
}
