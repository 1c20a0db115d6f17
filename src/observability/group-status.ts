import { type Admin, AssignerProtocol } from 'kafkajs';
import { consumedTopicsOf, type ResolvedPipeline } from '../pipeline/definition.js';

/** What `txstream status` and `txstream lag` show for one pipeline's consumer group. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** The next offset the group will read; null when it never committed. */
  readonly committed: string | null;
  readonly end: string;
  readonly lag: number;
  readonly member: string | null;
}

export interface GroupStatus {
  readonly pipeline: string;
  readonly groupId: string;
  readonly state: string;
  readonly members: ReadonlyArray<{ readonly memberId: string; readonly clientId: string; readonly host: string; readonly partitions: string[] }>;
  readonly partitions: readonly PartitionLag[];
  readonly totalLag: number;
}

export async function readGroupStatus(admin: Admin, pipeline: ResolvedPipeline): Promise<GroupStatus> {
  const topics = consumedTopicsOf(pipeline);
  const [described] = (await admin.describeGroups([pipeline.groupId])).groups;
  const owner = new Map<string, string>();
  const members = (described?.members ?? []).map((member) => {
    const decoded = member.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(member.memberAssignment) : null;
    const partitions = Object.entries(decoded?.assignment ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([topic, list]) => [...list].sort((a, b) => a - b).map((partition) => `${topic}[${partition}]`));
    for (const key of partitions) owner.set(key, member.memberId);
    return { memberId: member.memberId, clientId: member.clientId, host: member.clientHost, partitions };
  });
  const partitions = (await readLag(admin, pipeline.groupId, topics)).sort(byTopicPartition).map((entry) => ({
    ...entry,
    member: owner.get(`${entry.topic}[${entry.partition}]`) ?? null,
  }));
  return {
    pipeline: pipeline.name,
    groupId: pipeline.groupId,
    state: described?.state ?? 'Unknown',
    members,
    partitions,
    totalLag: partitions.reduce((sum, entry) => sum + entry.lag, 0),
  };
}

/** Committed offset, end offset and lag of every partition of the topics, for one group. */
export async function readLag(admin: Admin, groupId: string, topics: readonly string[]): Promise<Array<Omit<PartitionLag, 'member'>>> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
  const result: Array<Omit<PartitionLag, 'member'>> = [];
  for (const topic of topics) {
    const offsets = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
    for (const { partition, high } of await admin.fetchTopicOffsets(topic)) {
      const offset = offsets.find((entry) => entry.partition === partition)?.offset ?? '-1';
      const lag = offset === '-1' ? BigInt(high) : BigInt(high) - BigInt(offset);
      result.push({ topic, partition, committed: offset === '-1' ? null : offset, end: high, lag: Number(lag > 0n ? lag : 0n) });
    }
  }
  return result;
}

function byTopicPartition(a: { topic: string; partition: number }, b: { topic: string; partition: number }): number {
  return a.topic.localeCompare(b.topic) || a.partition - b.partition;
}

export function formatGroupStatus(status: GroupStatus): string {
  const lines = [
    `pipeline ${status.pipeline}: group ${status.groupId} is ${status.state}, ${status.members.length} member(s), total lag ${status.totalLag}`,
  ];
  for (const member of status.members) lines.push(`  member ${member.memberId} (${member.clientId}@${member.host}): ${member.partitions.join(', ') || 'nothing assigned'}`);
  const rows = status.partitions.map((entry) => [`${entry.topic}[${entry.partition}]`, entry.committed ?? '-', entry.end, String(entry.lag), entry.member ?? '-']);
  for (const line of formatTable(['TOPIC[PARTITION]', 'COMMITTED', 'END', 'LAG', 'MEMBER'], rows, [false, true, true, true, false])) lines.push(`  ${line}`);
  return lines.join('\n');
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, numeric: readonly boolean[] = []): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (numeric[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
