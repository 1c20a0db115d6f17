import type { KafkaMessage } from 'kafkajs';
import { headersAsText } from '../kafka/headers.js';

/**
 * `--filter name=value` of `txstream dlt replay`: a header match (`error-class=DecodeError`, short for
 * txstream-error-class) or `key=<record key>`. Filters of different names must all match; several values of
 * one name match any of them (`--filter lineage=a/0/5 --filter lineage=a/0/9`: those two records), since one
 * header never holds two values. Filters are checked for well-formed names and values before the replay starts
 * (replayFilterProblems).
 */
export function matchesFilters(message: KafkaMessage, filters: readonly string[]): boolean {
  const headers = headersAsText(message.headers);
  const byName = new Map<string, string[]>();
  for (const filter of filters) {
    const separator = filter.indexOf('=');
    const name = filter.slice(0, separator).replace(/^txstream-/, '');
    byName.set(name, [...(byName.get(name) ?? []), filter.slice(separator + 1)]);
  }
  return [...byName].every(([name, values]) => {
    const actual = name === 'key' ? (message.key?.toString() ?? '') : (headers[`txstream-${name}`] ?? headers[name]);
    return actual !== undefined && values.includes(actual);
  });
}
