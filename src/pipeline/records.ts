/** The shapes a handler sees and returns. */

export interface InputRecord<V = unknown> {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are 64-bit: kept as a decimal string. */
  readonly offset: string;
  readonly key: string | null;
  readonly keyBytes: Buffer | null;
  readonly value: V;
  readonly headers: Readonly<Record<string, string>>;
  /** Record timestamp, milliseconds since the epoch. */
  readonly timestamp: number;
  /**
   * 1 for the first delivery; n+1 for a retry after n failures. A retried record keeps
   * its original topic, partition, offset and timestamp, so outputs keep their lineage.
   */
  readonly attempt: number;
}

export interface OutputRecord<V = unknown> {
  /** Defaults to the pipeline's `output` topic. */
  readonly topic?: string;
  readonly key?: string | Buffer | null;
  readonly value: V;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  readonly partition?: number;
}

/** What a handler returns for one input: nothing (filtered out), one output, or several. */
// `void` lets `async (record) => { ... }` with no return type-check as "no output".
export type HandlerResult<V = unknown> = OutputRecord<V> | readonly OutputRecord<V>[] | null | undefined | void;

export interface HandlerContext {
  readonly pipeline: string;
  /** Aborted when the worker starts draining: long handlers may stop early and throw. */
  readonly signal: AbortSignal;
  /** Keeps the group membership alive during long work (called automatically too). */
  heartbeat(): Promise<void>;
}

export type RecordHandlerFn<In, Out> = (
  record: InputRecord<In>,
  context: HandlerContext,
) => HandlerResult<Out> | Promise<HandlerResult<Out>>;

/** Returns one result per input, in input order, so every output keeps its lineage. */
export type BatchHandlerFn<In, Out> = (
  records: readonly InputRecord<In>[],
  context: HandlerContext,
) => readonly HandlerResult<Out>[] | Promise<readonly HandlerResult<Out>[]>;

export type Handler<In = unknown, Out = unknown> =
  | { readonly kind: 'record'; readonly handle: RecordHandlerFn<In, Out> }
  | { readonly kind: 'batch'; readonly handleBatch: BatchHandlerFn<In, Out> };

/**
 * Declares a handler. The record form is the convenience; the batch form sees the
 * whole batch (for bulk lookups) and returns results aligned with its input.
 */
export function defineHandler<In = unknown, Out = unknown>(
  definition: { handle: RecordHandlerFn<In, Out> } | { handleBatch: BatchHandlerFn<In, Out> },
): Handler<In, Out> {
  if ('handle' in definition) return { kind: 'record', handle: definition.handle };
  return { kind: 'batch', handleBatch: definition.handleBatch };
}

export function normaliseResult<V>(result: HandlerResult<V>): readonly OutputRecord<V>[] {
  if (result === null || result === undefined) return [];
  if (Array.isArray(result)) return result as readonly OutputRecord<V>[];
  return [result as OutputRecord<V>];
}
