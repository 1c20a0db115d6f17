import type { ResolvedPipeline } from '../pipeline/definition.js';

/**
 * What the console shows of a pipeline's definition. Built field by field from the resolved pipeline, so
 * nothing of its connection (a sink's database URL or password, a registry's credentials) can reach a page.
 */
export interface PipelineView {
  readonly name: string;
  readonly groupId: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly retryTiers: ReadonlyArray<{ readonly input: string; readonly topics: readonly string[] }>;
  readonly deadLetterTopics: readonly string[];
  readonly strategy: string;
  readonly errorPolicy: string;
  readonly concurrency: string;
  /** `PostgreSQL` for a sink pipeline; its connection is never shown. */
  readonly sink?: string;
}

export function pipelineView(pipeline: ResolvedPipeline): PipelineView {
  const policy = pipeline.errorPolicy;
  const backoff = `backoff ${policy.backoff.initialMs} ms × ${policy.backoff.multiplier} up to ${policy.backoff.maxMs} ms`;
  const errorPolicy =
    policy.onError === 'retry'
      ? `retry ${policy.attempts} time(s) through the retry tiers (${backoff}), then ${policy.then}${policy.keyOrderOnRetry === 'hold' ? "; a key's later records held behind its retry (keyOrderOnRetry: hold)" : ''}`
      : policy.onError === 'block'
        ? `block: retry in place, partition paused (${backoff})`
        : policy.onError;
  return {
    name: pipeline.name,
    groupId: pipeline.groupId,
    inputs: pipeline.inputs,
    outputs: pipeline.outputs,
    retryTiers: pipeline.inputs.map((input) => ({ input, topics: pipeline.retryTopicsFor(input) })).filter((tier) => tier.topics.length > 0),
    deadLetterTopics: [...new Set(pipeline.inputs.map((input) => pipeline.deadLetterTopicFor(input)))],
    strategy: pipeline.commit.strategy,
    errorPolicy,
    concurrency: `${pipeline.concurrency.ordering} ordering, up to ${pipeline.concurrency.maxInFlight} in flight`,
    ...(pipeline.sink ? { sink: 'PostgreSQL' } : {}),
  };
}
