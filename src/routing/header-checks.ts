import type { KafkaMessage } from 'kafkajs';
import { headerText } from '../kafka/headers.js';
import { DLT_REASONS, FAILURE_HEADERS } from './failure-headers.js';

/**
 * Failure headers are read back from retry and dead-letter topics, which anyone with
 * write access can fill: they are checked before they steer anything. A retry copy's
 * due time pauses its tier and its original topic names where a replay writes, so a
 * value out of range could stop a tier forever or send records out of the pipeline.
 */

/** Slack on a due time's upper bound: clocks of the writer and this worker may differ. */
const CLOCK_SKEW_MS = 5 * 60_000;

const DIGITS = /^\d{1,19}$/;

export interface RetryTierExpectation {
  /** The pipeline input whose retry tier this is. */
  readonly input: string;
  readonly tier: number;
  readonly now: number;
  /** The longest backoff the policy can give (maxMs with jitter). */
  readonly maxDelayMs: number;
}

/** Why a record on a retry tier cannot be trusted, or undefined when its headers are sound. */
export function retryHeadersProblem(message: KafkaMessage, expected: RetryTierExpectation): string | undefined {
  const headers = message.headers ?? {};
  const text = (name: string) => headerText(headers[name]);
  const problems: string[] = [];
  const attempt = text(FAILURE_HEADERS.attempt);
  if (attempt === undefined || !DIGITS.test(attempt) || Number(attempt) !== expected.tier) {
    problems.push(`${FAILURE_HEADERS.attempt} is ${show(attempt)}; on retry tier ${expected.tier} it must be ${expected.tier}`);
  }
  const dueAt = text(FAILURE_HEADERS.dueAt);
  const latest = expected.now + expected.maxDelayMs + CLOCK_SKEW_MS;
  if (dueAt === undefined || !DIGITS.test(dueAt) || Number(dueAt) > latest) {
    problems.push(`${FAILURE_HEADERS.dueAt} is ${show(dueAt)}; it must be epoch milliseconds no later than ${latest} (now + the policy's longest backoff + ${CLOCK_SKEW_MS} ms)`);
  }
  const topic = text(FAILURE_HEADERS.originalTopic);
  if (topic !== expected.input) problems.push(`${FAILURE_HEADERS.originalTopic} is ${show(topic)}; this tier belongs to input '${expected.input}'`);
  for (const name of [FAILURE_HEADERS.originalPartition, FAILURE_HEADERS.originalOffset, FAILURE_HEADERS.originalTimestamp]) {
    const value = text(name);
    if (value === undefined || !DIGITS.test(value)) problems.push(`${name} is ${show(value)}; it must be a non-negative integer`);
  }
  const firstFailedAt = text(FAILURE_HEADERS.firstFailedAt);
  if (firstFailedAt !== undefined && Number.isNaN(Date.parse(firstFailedAt))) {
    problems.push(`${FAILURE_HEADERS.firstFailedAt} is ${show(firstFailedAt)}; it must be an ISO 8601 time`);
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/** Where a replay may write a dead letter: its original topic, only when that is an input whose dead-letter topic this is. */
export function replayTarget(
  message: KafkaMessage,
  deadLetterTopic: string,
  pipeline: { readonly inputs: readonly string[]; readonly deadLetterTopicFor: (input: string) => string },
): { readonly topic: string } | { readonly problem: string } {
  const original = headerText(message.headers?.[FAILURE_HEADERS.originalTopic]);
  if (original === undefined) {
    // A dead-letter topic of one input replays to it; shared by several, the record must say.
    const owners = pipeline.inputs.filter((input) => pipeline.deadLetterTopicFor(input) === deadLetterTopic);
    if (owners.length === 1) return { topic: owners[0] as string };
    return { problem: `${FAILURE_HEADERS.originalTopic} is missing and ${deadLetterTopic} serves ${owners.length} inputs` };
  }
  if (!pipeline.inputs.includes(original)) {
    return { problem: `${FAILURE_HEADERS.originalTopic} names '${original}', which is not an input of the pipeline (${pipeline.inputs.join(', ')})` };
  }
  if (pipeline.deadLetterTopicFor(original) !== deadLetterTopic) {
    return { problem: `${FAILURE_HEADERS.originalTopic} names '${original}', whose dead-letter topic is ${pipeline.deadLetterTopicFor(original)}, not ${deadLetterTopic}` };
  }
  return { topic: original };
}

/** Filter names `dlt replay --filter` takes (with or without the `txstream-` prefix), and the values each accepts. */
const FILTER_VALUES: Record<string, (value: string, inputs: readonly string[]) => string | undefined> = {
  key: () => undefined,
  'dlt-reason': (value) => ((DLT_REASONS as readonly string[]).includes(value) ? undefined : `one of ${DLT_REASONS.join(', ')}`),
  'error-class': (value) => (/^[A-Za-z_$][\w$]*$/.test(value) ? undefined : 'an error class name, e.g. DecodeError'),
  'error-message': () => undefined,
  attempt: (value) => (/^[1-9]\d*$/.test(value) ? undefined : 'a whole number from 1'),
  'original-topic': (value, inputs) => (inputs.includes(value) ? undefined : `an input of the pipeline: ${inputs.join(', ')}`),
  'original-partition': (value) => (DIGITS.test(value) ? undefined : 'a partition number'),
  'original-offset': (value) => (DIGITS.test(value) ? undefined : 'an offset'),
  'original-key': () => undefined,
  lineage: (value) => (/^.+\/\d+\/\d+$/.test(value) ? undefined : 'an input record as <topic>/<partition>/<offset>'),
};

/** Every problem with the filters, each naming the filter and what is accepted (empty when all are sound). */
export function replayFilterProblems(filters: readonly string[], inputs: readonly string[]): string[] {
  const problems: string[] = [];
  for (const filter of filters) {
    const separator = filter.indexOf('=');
    if (separator <= 0) {
      problems.push(`--filter '${filter}': expected name=value`);
      continue;
    }
    const name = filter.slice(0, separator).replace(/^txstream-/, '');
    const value = filter.slice(separator + 1);
    const check = FILTER_VALUES[name];
    if (!check) {
      problems.push(`--filter '${filter}': unknown name '${name}'; known: ${Object.keys(FILTER_VALUES).join(', ')}`);
      continue;
    }
    const accepted = check(value, inputs);
    if (accepted) problems.push(`--filter '${filter}': '${value}' is not a known ${name}; accepted: ${accepted}`);
  }
  return problems;
}

function show(value: string | undefined): string {
  if (value === undefined) return 'missing';
  return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
}
