import { DEFAULTS } from '../config/defaults.js';
import type { CommitSettings } from '../config/schema.js';
import { type ConcurrencyInput, concurrencySchema, type ResolvedConcurrency } from '../config/concurrency.js';
import { type ErrorPolicyInput, errorPolicySchema, type ResolvedErrorPolicy, resolveErrorPolicy } from '../config/error-policy.js';
import { type ResolvedPostgresSink, resolvePostgresSink, type SinkDefinition } from '../config/postgres-sink.js';
import { withoutUndefined } from '../util/objects.js';
import { ConfigError } from '../errors/index.js';
import { BUILTIN_SERDES, type BuiltinSerdeName, type Serde } from '../serde/index.js';
import { concurrencyProblems, keyOrderOnRetryProblems, loopingOutputs, sinkOutputsProblem } from './checks.js';
import type { Handler } from './records.js';
import { deadLetterTopicOf, retryTopicOf } from './topic-names.js';

/** A pipeline: input topics, a handler, where outputs go, and how commits happen. */
export interface PipelineDefinition<In = unknown, Out = unknown> {
  readonly name: string;
  readonly input: string | readonly string[];
  /** Default topic for outputs that name none. */
  readonly output?: string;
  /**
   * Other topics the handler may write to (`output.topic`). An output to a topic that is
   * neither `output` nor listed here is rejected and routed by the error policy
   * (reason `output-rejected`): a typo must not create or feed a topic nobody reads.
   */
  readonly outputs?: readonly string[];
  readonly handler: Handler<In, Out>;
  /** Consumer group; default `<worker groupId>.<name>`, or `txstream.<name>`. */
  readonly groupId?: string;
  /** Dead-letter topic for every input; default `<input>.dlt`. */
  readonly deadLetterTopic?: string;
  readonly serde?: { readonly input?: BuiltinSerdeName | Serde; readonly output?: BuiltinSerdeName | Serde };
  readonly commit?: Partial<CommitSettings>;
  /** What happens to a record whose handler fails; default: 3 retries, then the dead-letter topic. */
  readonly errors?: ErrorPolicyInput;
  /** A handler call that has not settled after this fails with HandlerTimeoutError; default DEFAULTS.handlerTimeoutMs. */
  readonly handlerTimeoutMs?: number;
  /**
   * Handler calls at the same time inside a partition: `{ ordering: 'key', maxInFlight: 64 }`
   * keeps each key's order and runs other keys concurrently. Default: one record at a time.
   */
  readonly concurrency?: ConcurrencyInput;
  /**
   * A database the handler writes to through `ctx.db`, exactly once: the input offsets commit
   * in the same database transaction. A sink pipeline has no Kafka outputs (see README).
   */
  readonly sink?: SinkDefinition;
}

/**
 * Declares a pipeline. The handler's record types are checked here; the worker
 * runs pipelines of any types, so the result is the type-erased definition.
 */
export function definePipeline<In = unknown, Out = unknown>(definition: PipelineDefinition<In, Out>): PipelineDefinition {
  return definition as unknown as PipelineDefinition;
}

/** A pipeline with every default filled in, as the worker runs it. */
export interface ResolvedPipeline {
  readonly name: string;
  readonly inputs: readonly string[];
  readonly output: string | undefined;
  /** Every topic the handler may write: `output` and `outputs`. */
  readonly outputs: readonly string[];
  readonly handler: Handler;
  readonly groupId: string;
  readonly deadLetterTopicFor: (inputTopic: string) => string;
  readonly inputSerde: Serde;
  readonly outputSerde: Serde;
  readonly commit: CommitSettings;
  readonly errorPolicy: ResolvedErrorPolicy;
  readonly handlerTimeoutMs: number;
  readonly concurrency: ResolvedConcurrency;
  /** Retry topics of an input, one per attempt (none unless the policy retries). */
  readonly retryTopicsFor: (inputTopic: string) => string[];
  /** The input a fetched topic belongs to, and its retry tier (0 for the input itself). */
  readonly sourceOf: (topic: string) => { readonly input: string; readonly tier: number } | undefined;
  /** The PostgreSQL sink, when the pipeline writes to a database. */
  readonly sink?: { readonly postgres: ResolvedPostgresSink };
}

export function resolvePipeline(
  definition: PipelineDefinition,
  defaults: { readonly commit: CommitSettings; readonly groupId?: string },
): ResolvedPipeline {
  const inputs = typeof definition.input === 'string' ? [definition.input] : [...definition.input];
  const errorPolicy = resolveErrorPolicy(definition.errors === undefined ? undefined : errorPolicySchema.parse(definition.errors));
  const retryTopicsFor = (input: string) => Array.from({ length: errorPolicy.attempts }, (_, index) => retryTopicOf(input, index + 1));
  const sources = new Map<string, { input: string; tier: number }>();
  for (const input of inputs) {
    sources.set(input, { input, tier: 0 });
    retryTopicsFor(input).forEach((topic, index) => sources.set(topic, { input, tier: index + 1 }));
  }
  const commit = { ...defaults.commit, ...withoutUndefined(definition.commit ?? {}) };
  const outputs = [...new Set([...(definition.output ? [definition.output] : []), ...(definition.outputs ?? [])])];
  const looping = [...new Set(loopingOutputs(definition).map((loop) => loop.topic))];
  if (looping.length > 0) {
    // An output that is also read (an input or its retry tier) feeds the pipeline its own results without end.
    throw new ConfigError(`pipeline '${definition.name}': output ${looping.map((topic) => `'${topic}'`).join(', ')} is also its input, a retry tier or its dead-letter topic; outputs must be other topics`);
  }
  const sinkWithOutputs = sinkOutputsProblem(definition);
  if (sinkWithOutputs) throw new ConfigError(`pipeline '${definition.name}': ${sinkWithOutputs.message}`);
  const [holdProblem] = keyOrderOnRetryProblems(definition, commit.strategy);
  if (holdProblem) throw new ConfigError(`pipeline '${definition.name}': errors.keyOrderOnRetry ${holdProblem.message}`);
  if (errorPolicy.keyOrderOnRetry === 'hold' && definition.handler.kind === 'batch') {
    // One batch call handles a key's later records before it is known that an earlier one fails.
    throw new ConfigError(`pipeline '${definition.name}': errors.keyOrderOnRetry 'hold' needs a record handler (handle); a batch handler sees a key's later records in the same call as the one that fails`);
  }
  return {
    name: definition.name,
    inputs,
    output: definition.output,
    outputs,
    handler: definition.handler,
    groupId: definition.groupId ?? `${defaults.groupId ?? 'txstream'}.${definition.name}`,
    deadLetterTopicFor: (topic) => definition.deadLetterTopic ?? deadLetterTopicOf(topic),
    inputSerde: serdeOf(definition.serde?.input),
    outputSerde: serdeOf(definition.serde?.output),
    commit,
    errorPolicy,
    handlerTimeoutMs: handlerTimeoutOf(definition, commit),
    concurrency: concurrencyOf(definition),
    retryTopicsFor,
    sourceOf: (topic) => sources.get(topic),
    ...(definition.sink ? { sink: { postgres: resolvePostgresSink(definition.name, definition.sink.postgres) } } : {}),
  };
}

/**
 * A handler call is bounded by Node's timer limit only: no transaction waits for a handler
 * (outputs are written after the call returns, and the commit cycle commits what is written).
 */
const TIMER_LIMIT_MS = 2_147_483_647;

/**
 * Unset, the default. A sink pipeline's database session is ended by PostgreSQL when idle in its
 * transaction past transactionTimeoutMs (a handler call is such idle time): at most a third of it.
 */
function handlerTimeoutOf(definition: PipelineDefinition, commit: CommitSettings): number {
  const most = definition.sink !== undefined ? Math.floor(commit.transactionTimeoutMs / 3) : TIMER_LIMIT_MS;
  const chosen = definition.handlerTimeoutMs;
  if (chosen === undefined) return Math.min(DEFAULTS.handlerTimeoutMs, most);
  if (!Number.isInteger(chosen) || chosen < 1 || chosen > most) {
    const why = definition.sink !== undefined ? ` (a third of transactionTimeoutMs ${commit.transactionTimeoutMs}: the sink's database session ends when idle in its transaction longer)` : " (Node's timer limit)";
    throw new ConfigError(`pipeline '${definition.name}': handlerTimeoutMs ${String(chosen)} is out of range; accepted: 1..${most} ms${why}`);
  }
  return chosen;
}

function concurrencyOf(definition: PipelineDefinition): ResolvedConcurrency {
  const where = `pipeline '${definition.name}': concurrency`;
  const parsed = concurrencySchema.safeParse(definition.concurrency ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${where}${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`);
  }
  const [problem] = concurrencyProblems(definition);
  if (problem) throw new ConfigError(`${where}.${problem.path.slice(1).join('.')} ${problem.message}`);
  const ordering = parsed.data.ordering ?? 'partition';
  return { ordering, maxInFlight: ordering === 'partition' ? 1 : (parsed.data.maxInFlight ?? DEFAULTS.maxInFlightPerPartition) };
}

function serdeOf(serde: BuiltinSerdeName | Serde | undefined): Serde {
  if (serde === undefined) return BUILTIN_SERDES.json as Serde;
  return typeof serde === 'string' ? (BUILTIN_SERDES[serde] as Serde) : serde;
}

/** Every topic the pipeline reads or writes, so the worker can check they exist before it joins. */
export function topicsOf(pipeline: ResolvedPipeline): string[] {
  const topics = new Set<string>(pipeline.inputs);
  for (const output of pipeline.outputs) topics.add(output);
  for (const input of pipeline.inputs) {
    topics.add(pipeline.deadLetterTopicFor(input));
    for (const retry of pipeline.retryTopicsFor(input)) topics.add(retry);
  }
  return [...topics];
}

/** Every topic the pipeline consumes: its inputs and their retry topics. */
export function consumedTopicsOf(pipeline: ResolvedPipeline): string[] {
  return pipeline.inputs.flatMap((input) => [input, ...pipeline.retryTopicsFor(input)]);
}
