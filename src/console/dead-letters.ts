import type { KafkaMessage } from 'kafkajs';
import { headersAsText } from '../kafka/headers.js';
import { LINEAGE_HEADER } from '../pipeline/lineage.js';
import { FAILURE_HEADERS } from '../routing/failure-headers.js';

/**
 * What the console keeps of a dead letter to list and filter it: its position and failure headers, cut to a
 * line each, never its value (a detail view reads the record again). A topic of millions stays small in memory.
 */
export interface DeadLetterEntry {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The dead-letter record's timestamp (epoch ms). */
  readonly timestamp: string;
  readonly key: string;
  readonly reason: string;
  readonly errorClass: string;
  readonly errorMessage: string;
  readonly originalTopic: string;
  readonly originalPartition: string;
  readonly originalOffset: string;
  /** txstream-lineage: the input record it is the failure of, `<topic>/<partition>/<offset>` (a replay can select it). */
  readonly lineage: string;
  /** txstream-failed-at (ISO 8601), or the record's timestamp when the header is missing. */
  readonly failedAt: string;
  readonly bytes: number;
}

const LINE = 300;

export function entryOf(topic: string, partition: number, message: KafkaMessage): DeadLetterEntry {
  const headers = headersAsText(message.headers);
  const header = (name: string) => cut(headers[name] ?? '');
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: cut(message.key?.toString('utf8') ?? ''),
    reason: headers[FAILURE_HEADERS.reason] ?? 'unknown',
    errorClass: headers[FAILURE_HEADERS.errorClass] ?? 'unknown',
    errorMessage: header(FAILURE_HEADERS.errorMessage),
    originalTopic: header(FAILURE_HEADERS.originalTopic),
    originalPartition: header(FAILURE_HEADERS.originalPartition),
    originalOffset: header(FAILURE_HEADERS.originalOffset),
    lineage: headers[LINEAGE_HEADER] ?? '',
    failedAt: headers[FAILURE_HEADERS.failedAt] ?? new Date(Number(message.timestamp)).toISOString(),
    bytes: message.value?.length ?? 0,
  };
}

function cut(text: string): string {
  return text.length > LINE ? `${text.slice(0, LINE)}…` : text;
}

/**
 * The list's filters: the fields `dlt replay --filter` matches (exactly), the error message as a part of it,
 * and a time range on the failure time. Empty fields do not filter.
 */
export interface DeadLetterFilter {
  readonly reason?: string;
  readonly errorClass?: string;
  /** Part of the error message, any case. */
  readonly message?: string;
  readonly key?: string;
  readonly originalTopic?: string;
  readonly originalPartition?: string;
  readonly originalOffset?: string;
  /** Failed at or after (an ISO 8601 time, or a date and time as a browser's datetime-local gives it, in UTC). */
  readonly from?: string;
  /** Failed before. */
  readonly to?: string;
}

export const FILTER_FIELDS = ['reason', 'errorClass', 'message', 'key', 'originalTopic', 'originalPartition', 'originalOffset', 'from', 'to'] as const;

/** The filter of a query string: known fields only, blank ones dropped. */
export function filterOf(query: Readonly<Record<string, unknown>>): DeadLetterFilter {
  const filter: Record<string, string> = {};
  for (const field of FILTER_FIELDS) {
    const value = query[field];
    if (typeof value === 'string' && value.trim() !== '') filter[field] = value.trim();
  }
  return filter;
}

export function matches(entry: DeadLetterEntry, filter: DeadLetterFilter): boolean {
  const from = timeOf(filter.from);
  const to = timeOf(filter.to);
  const failed = Date.parse(entry.failedAt);
  return (
    (filter.reason === undefined || entry.reason === filter.reason) &&
    (filter.errorClass === undefined || entry.errorClass === filter.errorClass) &&
    (filter.message === undefined || entry.errorMessage.toLowerCase().includes(filter.message.toLowerCase())) &&
    (filter.key === undefined || entry.key === filter.key) &&
    (filter.originalTopic === undefined || entry.originalTopic === filter.originalTopic) &&
    (filter.originalPartition === undefined || entry.originalPartition === filter.originalPartition) &&
    (filter.originalOffset === undefined || entry.originalOffset === filter.originalOffset) &&
    (from === undefined || failed >= from) &&
    (to === undefined || failed < to)
  );
}

/** A datetime-local value has no zone: the console reads it as UTC, as it shows every time. */
function timeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const parsed = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(parsed) ? undefined : parsed;
}

/** Problems with a filter's values, each naming the field (a time that is not one would filter nothing silently). */
export function filterProblems(filter: DeadLetterFilter): string[] {
  const problems: string[] = [];
  for (const field of ['from', 'to'] as const) {
    if (filter[field] !== undefined && timeOf(filter[field]) === undefined) problems.push(`${field}: '${filter[field]}' is not a date and time`);
  }
  for (const field of ['originalPartition', 'originalOffset'] as const) {
    if (filter[field] !== undefined && !/^\d+$/.test(filter[field])) problems.push(`${field}: '${filter[field]}' is not a whole number`);
  }
  return problems;
}

/**
 * The `dlt replay --filter` list that selects what the console's filter selects, or why there is none: replay
 * filters match headers exactly, so a part of a message or a time range cannot go to a replay.
 */
export function replayFiltersOf(filter: DeadLetterFilter): { filters: string[] } | { refused: string } {
  const inexact = [filter.message !== undefined && 'error message (a part of it)', filter.from !== undefined && 'failed from', filter.to !== undefined && 'failed before'].filter(
    (name): name is string => typeof name === 'string',
  );
  if (inexact.length > 0) {
    return { refused: `a replay matches headers exactly: clear ${inexact.join(', ')} to replay by filter (or replay records one at a time)` };
  }
  const pairs: Array<[string, string | undefined]> = [
    ['dlt-reason', filter.reason],
    ['error-class', filter.errorClass],
    ['key', filter.key],
    ['original-topic', filter.originalTopic],
    ['original-partition', filter.originalPartition],
    ['original-offset', filter.originalOffset],
  ];
  return { filters: pairs.filter((pair): pair is [string, string] => pair[1] !== undefined).map(([name, value]) => `${name}=${value}`) };
}

/** The replay filters that select one dead letter: the input record it is the failure of. */
export function replayFiltersForRecord(entry: Pick<DeadLetterEntry, 'originalTopic' | 'originalPartition' | 'originalOffset'>): string[] | undefined {
  if (!entry.originalTopic || !entry.originalPartition || !entry.originalOffset) return undefined;
  return [`original-topic=${entry.originalTopic}`, `original-partition=${entry.originalPartition}`, `original-offset=${entry.originalOffset}`];
}

export interface DeadLetterPage {
  readonly entries: readonly DeadLetterEntry[];
  /** Entries that match the filter, in all. */
  readonly matched: number;
  readonly page: number;
  readonly pages: number;
}

/** One page of the matching entries, newest first (the entries come in topic order, partition by partition). */
export function pageOf(entries: readonly DeadLetterEntry[], filter: DeadLetterFilter, page: number, size: number): DeadLetterPage {
  const matching = entries.filter((entry) => matches(entry, filter)).sort(newestFirst);
  const pages = Math.max(1, Math.ceil(matching.length / size));
  const current = Math.min(Math.max(1, Math.floor(page) || 1), pages);
  return { entries: matching.slice((current - 1) * size, current * size), matched: matching.length, page: current, pages };
}

function newestFirst(a: DeadLetterEntry, b: DeadLetterEntry): number {
  return b.failedAt.localeCompare(a.failedAt) || a.topic.localeCompare(b.topic) || a.partition - b.partition || Number(BigInt(b.offset) - BigInt(a.offset));
}

/** Counts by reason and by error class of the matching entries. */
export function countsOf(entries: readonly DeadLetterEntry[]): { byReason: Record<string, number>; byErrorClass: Record<string, number> } {
  const byReason: Record<string, number> = {};
  const byErrorClass: Record<string, number> = {};
  for (const entry of entries) {
    byReason[entry.reason] = (byReason[entry.reason] ?? 0) + 1;
    byErrorClass[entry.errorClass] = (byErrorClass[entry.errorClass] ?? 0) + 1;
  }
  return { byReason, byErrorClass };
}
