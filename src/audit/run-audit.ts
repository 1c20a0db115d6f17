import type { Kafka } from 'kafkajs';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { auditPipeline, type PipelineAudit } from './pipeline-audit.js';
import { type AuditTopics, auditTopicsOf, readAuditSnapshot } from './pipeline-audit-read.js';

export interface PipelineAuditOptions {
  /** More output topics to read (outputs that name their own topic). */
  readonly extraOutputs?: readonly string[];
  readonly problemLimit: number;
  readonly timeoutMs: number;
  /** When the policy can skip records, inputs without any trace do not fail the audit. */
  readonly allowSkipped?: boolean;
}

export interface PipelineAuditRun {
  readonly topics: AuditTopics;
  readonly audit: PipelineAudit;
  readonly readerGroup: string;
  readonly readerGroupDeleted: boolean;
}

/**
 * `txstream audit` without the printing: reads the pipeline's topics up to their end offsets and counts where
 * each input ended. The command and the console both run it; a missing topic is an AuditTopicsMissingError.
 */
export async function runPipelineAudit(kafka: Kafka, pipeline: ResolvedPipeline, options: PipelineAuditOptions): Promise<PipelineAuditRun> {
  const topics = auditTopicsOf(pipeline, options.extraOutputs ?? []);
  const read = await readAuditSnapshot(kafka, topics, { timeoutMs: options.timeoutMs });
  const policy = pipeline.errorPolicy;
  const audit = auditPipeline(read.snapshot, {
    policyMaySkip: policy.onError === 'skip' || (policy.onError === 'retry' && policy.then === 'skip'),
    allowSkipped: options.allowSkipped === true,
    problemLimit: options.problemLimit,
  });
  return { topics, audit, readerGroup: read.readerGroup, readerGroupDeleted: read.readerGroupDeleted };
}

/** The topics an audit read, in one line (the heading of formatPipelineAudit). */
export function describeAuditTopics(topics: AuditTopics): string {
  return [
    `inputs ${topics.inputs.join(', ')}`,
    `outputs ${topics.outputs.join(', ') || '(none)'}`,
    ...(topics.retryTiers.length > 0 ? [`retry ${topics.retryTiers.map(({ topic }) => topic).join(', ')}`] : []),
    `dead-letter ${topics.deadLetters.join(', ')}`,
  ].join('; ');
}

/** What became of the throwaway reader group, as the command says it on stderr. */
export function describeReaderGroup(run: Pick<PipelineAuditRun, 'readerGroup' | 'readerGroupDeleted'>): string {
  return run.readerGroupDeleted
    ? `read with the throwaway consumer group ${run.readerGroup}, deleted afterwards`
    : `read with the throwaway consumer group ${run.readerGroup}; deleting it failed (it holds no offsets: delete it, or the broker expires it)`;
}
