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
  /**
   * PostgreSQL sink pipelines only: a client inside the partition's open database transaction,
   * the one that also moves the input offsets. Each handler call runs in a savepoint of it.
   */
  readonly db?: SinkClient;
  /** PostgreSQL sink pipelines only: runs `fn` unless `id` was already recorded as done (see OnceFn). */
  readonly once?: OnceFn;
}

/** The result of a statement through `ctx.db` (the fields of pg's QueryResult that txstream promises). */
export interface SinkQueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number | null;
  readonly command: string;
}

/**
 * `ctx.db` of a PostgreSQL sink pipeline: pg's `query` inside the transaction txstream commits
 * with the input offsets. Do not send BEGIN, COMMIT or ROLLBACK: txstream owns the transaction.
 * Using it after the handler call settled (a timed-out call) throws.
 */
export interface SinkClient {
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<SinkQueryResult<R>>;
}

/**
 * `ctx.once(id, fn)`: for side effects outside the database (an HTTP call). Records `id` in the
 * sink's once-table in the same transaction as the handler's writes and the offsets, then runs `fn`;
 * when `id` is already recorded (committed earlier) it skips `fn` and resolves `{ ran: false }`.
 * At-least-once: a crash after `fn` and before the commit runs `fn` again; after the commit, never.
 */
export type OnceFn = <T>(id: string, fn: () => T | Promise<T>) => Promise<{ readonly ran: true; readonly value: T } | { readonly ran: false }>;

/** The sink fields of a handler context, or a clear error when the pipeline has no PostgreSQL sink. */
export function sinkContext(context: HandlerContext): { readonly db: SinkClient; readonly once: OnceFn } {
  const { db, once } = context;
  if (!db || !once) throw new Error(`pipeline '${context.pipeline}' has no PostgreSQL sink: ctx.db and ctx.once exist only in sink pipelines (sink.postgres)`);
  return { db, once };
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
