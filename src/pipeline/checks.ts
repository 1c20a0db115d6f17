import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { errorPolicySchema, resolveErrorPolicy } from '../config/error-policy.js';
import type { PathSegment } from '../util/yaml-locator.js';
import { deadLetterTopicOf, retryTopicOf } from './topic-names.js';

/**
 * The checks of pipelines that need neither a broker nor their handler's code: the worker makes them
 * when it resolves a pipeline, and `run -c` and `topics validate` make them on the files first, so every
 * problem is reported at once and with its line. They read the data leniently: a file that failed its
 * schema is still checked for what can be read of it.
 */

/** A problem at a path inside what was checked (a pipeline, or a config file), or at the key `key` there. */
export interface PipelineProblem {
  readonly path: PathSegment[];
  readonly key?: string;
  readonly message: string;
}

/** An output the pipeline also reads or dead-letters to, and which of those it is. */
export interface LoopingOutput {
  readonly topic: string;
  /** `output`, or the index in `outputs`. */
  readonly path: PathSegment[];
  readonly why: string;
}

/**
 * Outputs that are also an input, a retry topic or a dead-letter topic of the same pipeline: writing
 * there feeds the pipeline its own results without end (or mixes them with its failures).
 */
export function loopingOutputs(pipeline: unknown): LoopingOutput[] {
  const raw = objectAt(pipeline) ?? {};
  const inputs = typeof raw.input === 'string' ? [raw.input] : stringsAt(raw.input);
  // A policy the schema refuses is reported there; read it as one without retry topics here.
  const policy = errorPolicySchema.safeParse(raw.errors);
  const attempts = raw.errors === undefined ? resolveErrorPolicy(undefined).attempts : policy.success ? resolveErrorPolicy(policy.data).attempts : 0;
  const deadLetterTopic = typeof raw.deadLetterTopic === 'string' ? raw.deadLetterTopic : undefined;
  const why = new Map<string, string>();
  for (const input of inputs) {
    const deadLetter = deadLetterTopic ?? deadLetterTopicOf(input);
    if (!why.has(deadLetter)) why.set(deadLetter, `its dead-letter topic (of input '${input}')`);
    for (let attempt = attempts; attempt >= 1; attempt--) why.set(retryTopicOf(input, attempt), `its retry topic of attempt ${attempt} (of input '${input}')`);
  }
  for (const input of inputs) why.set(input, 'its input');
  const candidates: Array<[string, PathSegment[]]> = [];
  if (typeof raw.output === 'string') candidates.push([raw.output, ['output']]);
  if (Array.isArray(raw.outputs)) raw.outputs.forEach((topic, index) => typeof topic === 'string' && candidates.push([topic, ['outputs', index]]));
  return candidates.flatMap(([topic, path]) => {
    const reason = why.get(topic);
    return reason === undefined ? [] : [{ topic, path, why: reason }];
  });
}

/** The problems of one pipeline that its data alone shows; paths are inside the pipeline. */
export function pipelineProblems(pipeline: unknown): PipelineProblem[] {
  const problems: PipelineProblem[] = loopingOutputs(pipeline).map((loop) => ({
    path: loop.path,
    message: `output '${loop.topic}' is also ${loop.why}; outputs must be other topics`,
  }));
  const sink = sinkOutputsProblem(pipeline);
  if (sink) problems.push(sink);
  return [...problems, ...concurrencyProblems(pipeline), ...keyOrderOnRetryProblems(pipeline)];
}

/**
 * `keyOrderOnRetry: hold` keeps its holds in the offset commit's metadata, written in the
 * transaction that sends the records behind them: it needs the transactional strategy. A
 * PostgreSQL sink commits its offsets in the database, and the other strategies outside any
 * transaction with the copies.
 */
export function keyOrderOnRetryProblems(pipeline: unknown, strategy?: string): PipelineProblem[] {
  const raw = objectAt(pipeline);
  const errors = objectAt(raw?.errors);
  if (errors?.keyOrderOnRetry !== 'hold') return [];
  const path: PathSegment[] = ['errors', 'keyOrderOnRetry'];
  if (raw?.sink !== undefined) {
    return [{ path, message: "'hold' keeps its holds in the Kafka offset commit, and a PostgreSQL sink pipeline commits its offsets in the database; drop keyOrderOnRetry" }];
  }
  if (objectAt(raw?.concurrency)?.ordering === 'unordered') {
    return [{ path, message: "'hold' keeps each key's records in order, and ordering 'unordered' handles them in any order; use ordering 'key' or 'partition'" }];
  }
  const chosen = strategy ?? (typeof objectAt(raw?.commit)?.strategy === 'string' ? (objectAt(raw?.commit)?.strategy as string) : undefined);
  if (chosen !== undefined && chosen !== 'transactional') {
    return [{ path, message: `'hold' needs commit strategy 'transactional' (its holds commit in the transaction with the records sent behind them); this pipeline has '${chosen}'` }];
  }
  return [];
}

/** A sink pipeline with Kafka outputs. */
export function sinkOutputsProblem(pipeline: unknown): PipelineProblem | undefined {
  const raw = objectAt(pipeline);
  const outputs = [...new Set([...(typeof raw?.output === 'string' ? [raw.output] : []), ...stringsAt(raw?.outputs)])];
  if (raw?.sink === undefined || outputs.length === 0) return undefined;
  // A Kafka write cannot join the database transaction: it would be at-least-once, silently weaker than the rows.
  return {
    path: ['sink'],
    message: `a PostgreSQL sink and Kafka outputs (${outputs.join(', ')}) cannot go together; a sink pipeline writes to the database only (ctx.db): drop output/outputs, or use a second pipeline for Kafka outputs`,
  };
}

/**
 * Concurrency a pipeline cannot have: more than one call in flight under ordering `partition`,
 * or calls at once in a sink pipeline (they share one database transaction on one connection).
 */
export function concurrencyProblems(pipeline: unknown): PipelineProblem[] {
  const raw = objectAt(pipeline);
  const concurrency = objectAt(raw?.concurrency);
  if (!concurrency) return [];
  const ordering = typeof concurrency.ordering === 'string' ? concurrency.ordering : 'partition';
  const maxInFlight = concurrency.maxInFlight;
  if (ordering === 'partition' && typeof maxInFlight === 'number' && maxInFlight !== 1) {
    return [
      {
        path: ['concurrency', 'maxInFlight'],
        message: `${maxInFlight}: ordering 'partition' handles one record at a time; use ordering 'key' (or 'unordered') for more`,
      },
    ];
  }
  if (ordering !== 'partition' && raw?.sink !== undefined) {
    return [
      {
        path: ['concurrency', 'ordering'],
        message: `'${ordering}': a PostgreSQL sink pipeline handles one record at a time per partition (its calls share one database transaction); use ordering 'partition'`,
      },
    ];
  }
  return [];
}

/**
 * The problems of the pipelines of a config file (`run -c`) beyond its schema: names used twice, handler
 * modules that do not exist (relative to the file's folder), and each pipeline's own. Paths are from the file's top.
 */
export function configFilePipelineProblems(file: unknown, baseDir: string): PipelineProblem[] {
  const problems: PipelineProblem[] = [];
  const pipelines = objectAt(file)?.pipelines;
  if (!Array.isArray(pipelines)) return problems;
  const firstByName = new Map<string, number>();
  pipelines.forEach((pipeline: unknown, index) => {
    const base: PathSegment[] = ['pipelines', index];
    const raw = objectAt(pipeline);
    const name = typeof raw?.name === 'string' ? raw.name : undefined;
    if (name !== undefined) {
      const first = firstByName.get(name);
      if (first === undefined) firstByName.set(name, index);
      else problems.push({ path: [...base, 'name'], message: `pipeline '${name}' is defined twice (first as pipelines[${first}]); pipeline names must be unique` });
    }
    const module = objectAt(raw?.handler)?.module;
    if (typeof module === 'string' && module !== '' && !existsSync(resolve(baseDir, module))) {
      problems.push({
        path: [...base, 'handler', 'module'],
        message: `handler module '${module}' does not exist (looked for ${resolve(baseDir, module)}; paths are relative to the file's folder)`,
      });
    }
    for (const problem of pipelineProblems(pipeline)) problems.push({ ...problem, path: [...base, ...problem.path] });
  });
  return problems;
}

function objectAt(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function stringsAt(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
