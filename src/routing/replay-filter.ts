import type { KafkaMessage } from 'kafkajs';
import { headersAsText } from '../kafka/headers.js';

/**
 * `--filter name=value` of `txstream dlt replay`: a header match (`error-class=DecodeError`, short for
 * txstream-error-class) or `key=<record key>`. All filters must match. Filters are checked for
 * well-formed names and values before the replay starts (replayFilterProblems).
 */
export function matchesFilters(message: KafkaMessage, filters: readonly string[]): boolean {
  const headers = headersAsText(message.headers);
  return filters.every((filter) => {
    const separator = filter.indexOf('=');
    const name = filter.slice(0, separator);
    const expected = filter.slice(separator + 1);
    if (name === 'key') return (message.key?.toString() ?? '') === expected;
    return headers[name] === expected || headers[`txstream-${name}`] === expected;
  });
}
