import type { Logger } from 'pino';
import { createLogger } from '../../src/observability/logger.js';
import { LINEAGE_HEADER } from '../../src/pipeline/lineage.js';
import { type ReadRecord, readTopics, withAdmin } from './kafka.js';

/**
 * Where every input of a test ended: an output, a retry tier or the dead-letter topic,
 * read back read_committed and matched by the lineage header every copy carries.
 */
export interface Endings {
  /** input offset → every place it ended ("out", "retry.1", "dlt"), in read order. */
  readonly byOffset: Map<string, string[]>;
  readonly records: ReadRecord[];
}

export async function whereInputsEnded(
  brokers: string[],
  input: string,
  places: Readonly<Record<string, string>>,
  expectedInputs: number,
  options: { readonly timeoutMs?: number; readonly partitions?: number } = {},
): Promise<Endings> {
  const topicPlace = new Map(Object.entries(places).map(([place, topic]) => [topic, place]));
  const records = await readTopics(brokers, Object.values(places), {
    until: (read) => new Set(read.map((r) => r.headers[LINEAGE_HEADER])).size >= expectedInputs,
    quietMs: 2000,
    timeoutMs: options.timeoutMs ?? 90_000,
  });
  const byOffset = new Map<string, string[]>();
  for (const record of records) {
    const lineage = record.headers[LINEAGE_HEADER] ?? '';
    const [topic, partition, offset] = lineage.split('/');
    if (topic !== input) throw new Error(`record in ${record.topic} has the lineage ${lineage} of another topic`);
    const key = (options.partitions ?? 1) > 1 ? `${partition}/${offset}` : (offset ?? '');
    byOffset.set(key, [...(byOffset.get(key) ?? []), topicPlace.get(record.topic) ?? record.topic]);
  }
  return { byOffset, records };
}

/** Every offset 0..count-1 ended in exactly one place; returns offset → place. */
export function exactlyOnePlace(endings: Endings, count: number): Map<string, string> {
  const problems: string[] = [];
  const result = new Map<string, string>();
  for (let offset = 0; offset < count; offset++) {
    const places = endings.byOffset.get(String(offset)) ?? [];
    if (places.length !== 1) problems.push(`offset ${offset}: ${places.length === 0 ? 'missing' : places.join(' + ')}`);
    else result.set(String(offset), places[0] as string);
  }
  if (problems.length > 0) throw new Error(`inputs not in exactly one place: ${problems.join('; ')}`);
  return result;
}

export async function createTopicsWithConfigs(
  brokers: string[],
  topics: Array<{ topic: string; partitions?: number; configs?: Record<string, string> }>,
): Promise<void> {
  await withAdmin(brokers, async (admin) => {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map(({ topic, partitions, configs }) => ({
        topic,
        numPartitions: partitions ?? 1,
        configEntries: Object.entries(configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
  });
}

/** A logger whose JSON lines the test can read back. */
export function capturedLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, lines };
}
