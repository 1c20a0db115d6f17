import type { KafkaMessage } from 'kafkajs';
import { headersAsText } from '../kafka/headers.js';
import { FAILURE_HEADERS } from './failure-headers.js';

/** Pure summary of dead-letter records, for `txstream dlt inspect`. */
export interface DeadLetterSummary {
  readonly topic: string;
  readonly count: number;
  readonly byReason: Record<string, number>;
  readonly byErrorClass: Record<string, number>;
  readonly oldestFailedAt?: string;
  readonly newestFailedAt?: string;
  readonly samples: ReadonlyArray<Record<string, string>>;
}

export function summariseDeadLetters(topic: string, messages: ReadonlyArray<{ partition: number; message: KafkaMessage }>, sampleCount = 3): DeadLetterSummary {
  const byReason: Record<string, number> = {};
  const byErrorClass: Record<string, number> = {};
  let oldest: string | undefined;
  let newest: string | undefined;
  for (const { message } of messages) {
    const headers = decodedHeaders(message);
    const reason = headers[FAILURE_HEADERS.reason] ?? 'unknown';
    const errorClass = headers[FAILURE_HEADERS.errorClass] ?? 'unknown';
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    byErrorClass[errorClass] = (byErrorClass[errorClass] ?? 0) + 1;
    const failedAt = headers[FAILURE_HEADERS.failedAt];
    if (failedAt) {
      if (!oldest || failedAt < oldest) oldest = failedAt;
      if (!newest || failedAt > newest) newest = failedAt;
    }
  }
  const samples = messages.slice(0, sampleCount).map(({ partition, message }) => {
    const { [FAILURE_HEADERS.errorStack]: _stack, ...headers } = decodedHeaders(message);
    return { dlt: `${topic}/${partition}/${message.offset}`, key: message.key?.toString() ?? '', value: preview(message.value), ...headers };
  });
  return { topic, count: messages.length, byReason, byErrorClass, oldestFailedAt: oldest, newestFailedAt: newest, samples };
}

export function formatSummary(summary: DeadLetterSummary): string {
  const lines = [`${summary.topic}: ${summary.count} record(s)`];
  if (summary.count === 0) return lines[0] as string;
  lines.push(`  oldest failure ${summary.oldestFailedAt ?? '?'}, newest ${summary.newestFailedAt ?? '?'}`);
  lines.push(`  by reason:      ${counts(summary.byReason)}`);
  lines.push(`  by error class: ${counts(summary.byErrorClass)}`);
  for (const sample of summary.samples) {
    lines.push(`  sample ${sample.dlt}:`);
    for (const [name, value] of Object.entries(sample)) if (name !== 'dlt') lines.push(`    ${name}: ${value}`);
  }
  return lines.join('\n');
}

/** Headers as text; headers that are not txstream's are kept too. */
export function decodedHeaders(message: KafkaMessage): Record<string, string> {
  return headersAsText(message.headers);
}

function counts(values: Record<string, number>): string {
  return Object.entries(values)
    .sort(([, a], [, b]) => b - a)
    .map(([name, count]) => `${name}=${count}`)
    .join(', ');
}

function preview(value: Buffer | null): string {
  if (value === null) return '(null)';
  const text = value.toString('utf8');
  return text.length > 200 ? `${text.slice(0, 200)}… (${value.length} bytes)` : text;
}
