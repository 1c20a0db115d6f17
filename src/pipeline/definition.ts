import type { CommitSettings } from '../config/schema.js';
import { deadLetterTopicOf } from '../routing/dead-letter.js';
import { BUILTIN_SERDES, type BuiltinSerdeName, type Serde } from '../serde/index.js';
import type { Handler } from './records.js';

/** A pipeline: input topics, a handler, where outputs go, and how commits happen. */
export interface PipelineDefinition<In = unknown, Out = unknown> {
  readonly name: string;
  readonly input: string | readonly string[];
  /** Default topic for outputs that name none. */
  readonly output?: string;
  readonly handler: Handler<In, Out>;
  /** Consumer group; default `<worker groupId>.<name>`, or `txstream.<name>`. */
  readonly groupId?: string;
  /** Dead-letter topic for every input; default `<input>.dlt`. */
  readonly deadLetterTopic?: string;
  readonly serde?: { readonly input?: BuiltinSerdeName | Serde; readonly output?: BuiltinSerdeName | Serde };
  readonly commit?: Partial<CommitSettings>;
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
  readonly handler: Handler;
  readonly groupId: string;
  readonly deadLetterTopicFor: (inputTopic: string) => string;
  readonly inputSerde: Serde;
  readonly outputSerde: Serde;
  readonly commit: CommitSettings;
}

export function resolvePipeline(
  definition: PipelineDefinition,
  defaults: { readonly commit: CommitSettings; readonly groupId?: string },
): ResolvedPipeline {
  const inputs = typeof definition.input === 'string' ? [definition.input] : [...definition.input];
  return {
    name: definition.name,
    inputs,
    output: definition.output,
    handler: definition.handler,
    groupId: definition.groupId ?? `${defaults.groupId ?? 'txstream'}.${definition.name}`,
    deadLetterTopicFor: (topic) => definition.deadLetterTopic ?? deadLetterTopicOf(topic),
    inputSerde: serdeOf(definition.serde?.input),
    outputSerde: serdeOf(definition.serde?.output),
    commit: { ...defaults.commit, ...withoutUndefined(definition.commit ?? {}) },
  };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}

function serdeOf(serde: BuiltinSerdeName | Serde | undefined): Serde {
  if (serde === undefined) return BUILTIN_SERDES.json as Serde;
  return typeof serde === 'string' ? (BUILTIN_SERDES[serde] as Serde) : serde;
}

/** Every topic the pipeline reads or writes, so the worker can check they exist before it joins. */
export function topicsOf(pipeline: ResolvedPipeline): string[] {
  const topics = new Set<string>(pipeline.inputs);
  if (pipeline.output) topics.add(pipeline.output);
  for (const input of pipeline.inputs) topics.add(pipeline.deadLetterTopicFor(input));
  return [...topics];
}
