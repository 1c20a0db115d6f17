/**
 * The lineage header: every output names the input it came from, as
 * `<topic>/<partition>/<offset>`. Topic names cannot contain '/', so the
 * value parses back unambiguously. Audits count exactly-once by it.
 */
export const LINEAGE_HEADER = 'txstream-lineage';

export interface Lineage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export function encodeLineage(source: Lineage): string {
  return `${source.topic}/${source.partition}/${source.offset}`;
}

export function parseLineage(value: string | Buffer | undefined | null): Lineage | undefined {
  if (value === undefined || value === null) return undefined;
  const match = /^([A-Za-z0-9._-]+)\/(\d+)\/(\d+)$/.exec(value.toString());
  if (!match) return undefined;
  return { topic: match[1] as string, partition: Number(match[2]), offset: match[3] as string };
}
