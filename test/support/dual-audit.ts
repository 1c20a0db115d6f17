import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type AuditResult, auditLineage } from '../../src/audit/lineage-audit.js';
import type { PipelineAudit } from '../../src/audit/pipeline-audit.js';
import { LINEAGE_HEADER } from '../../src/pipeline/lineage.js';
import { inputLineage, type ReadRecord, readTopics } from './kafka.js';
import { readWithKcat } from './kcat.js';

/**
 * The exactly-once audit with two readers: the committed outputs (and retry and
 * dead-letter topics) are read with read_committed by kcat (librdkafka) and by our
 * KafkaJS reader, each is counted by lineage, and the two must have read the same
 * records. A claim that rests on one client reading back what the same client
 * wrote proves less than one that an unrelated client confirms.
 */
export interface ReaderAudit extends AuditResult {
  readonly reader: 'kcat' | 'kafkajs';
  /** Records read per topic. */
  readonly perTopic: Readonly<Record<string, number>>;
}

export interface DualAudit {
  readonly readers: readonly [ReaderAudit, ReaderAudit];
  readonly agreement: ReaderAgreement;
  /** Both readers found every input exactly once and read the same records. */
  readonly ok: boolean;
}

export interface ReaderAgreement {
  readonly agree: boolean;
  /** Records (topic/partition@offset) one reader returned and the other did not. */
  readonly onlyFirst: readonly string[];
  readonly onlySecond: readonly string[];
  /** Records both returned but with a different lineage header. */
  readonly differentLineage: readonly string[];
}

/** Compares what two readers returned, record by record (topic, partition, offset, lineage). Pure. */
export function compareReaders(first: readonly ReadRecord[], second: readonly ReadRecord[]): ReaderAgreement {
  const key = (r: ReadRecord) => `${r.topic}/${r.partition}@${r.offset}`;
  const firstByKey = new Map(first.map((r) => [key(r), r.headers[LINEAGE_HEADER]]));
  const secondByKey = new Map(second.map((r) => [key(r), r.headers[LINEAGE_HEADER]]));
  const onlyFirst = [...firstByKey.keys()].filter((k) => !secondByKey.has(k));
  const onlySecond = [...secondByKey.keys()].filter((k) => !firstByKey.has(k));
  const differentLineage = [...firstByKey].filter(([k, lineage]) => secondByKey.has(k) && secondByKey.get(k) !== lineage).map(([k]) => k);
  // A reader that returns one record twice is a reader bug, and would hide behind the maps.
  const agree =
    onlyFirst.length === 0 &&
    onlySecond.length === 0 &&
    differentLineage.length === 0 &&
    firstByKey.size === first.length &&
    secondByKey.size === second.length;
  return { agree, onlyFirst, onlySecond, differentLineage };
}

export interface DualAuditOptions {
  /** The pipeline's input topic; its records are the lineage every output must name. */
  readonly input: string;
  readonly inputs: number;
  /** Where each input must end exactly once: outputs and the dead-letter topic. */
  readonly terminalTopics: readonly string[];
  /** Read too (both readers must agree on them) but not counted: e.g. retry tiers. */
  readonly otherTopics?: readonly string[];
  /** How many terminal records to wait for (default: inputs). */
  readonly expectedTerminal?: number;
  readonly timeoutMs?: number;
}

export async function dualAudit(brokers: string[], options: DualAuditOptions): Promise<DualAudit> {
  const { input, inputs, terminalTopics, otherTopics = [], timeoutMs = 180_000 } = options;
  const expected = options.expectedTerminal ?? inputs;
  const lineage = await inputLineage(brokers, input, inputs);
  const topics = [...terminalTopics, ...otherTopics];
  const terminal = new Set(terminalTopics);
  const enough = (records: ReadRecord[]) => records.filter((r) => terminal.has(r.topic)).length >= expected;
  // One reader at a time: on two shared cores, parallel readers only slow each other down.
  // Records that never arrive fail the audit with the inputs they miss, not with a reader's timeout.
  const byKcat = await readWithKcat(brokers, topics, { readCommitted: true, until: enough, timeoutMs, retryDelayMs: 1000, onTimeout: 'return' });
  const asManyAsKcat = (records: ReadRecord[]) => records.length >= byKcat.length;
  const byKafkaJs = await readTopics(brokers, topics, { readCommitted: true, until: enough(byKcat) ? enough : asManyAsKcat, quietMs: 3000, timeoutMs });
  const count = (reader: ReaderAudit['reader'], records: ReadRecord[]): ReaderAudit => {
    const perTopic: Record<string, number> = Object.fromEntries(topics.map((topic) => [topic, 0]));
    for (const record of records) perTopic[record.topic] = (perTopic[record.topic] ?? 0) + 1;
    const result = auditLineage(
      lineage,
      records.filter((r) => terminal.has(r.topic)).map((r) => r.headers[LINEAGE_HEADER]),
    );
    return { reader, perTopic, ...result };
  };
  const readers = [count('kcat', byKcat), count('kafkajs', byKafkaJs)] as const;
  const agreement = compareReaders(byKcat, byKafkaJs);
  return { readers, agreement, ok: agreement.agree && readers.every((r) => r.exactlyOnce) };
}

/** A fixed-width table of the audit, one row per reader. */
export function formatDualAudit(audit: DualAudit): string {
  const header = ['reader', 'inputs', 'committed outputs', 'duplicated', 'missing', 'unexpected'];
  const rows = audit.readers.map((r) => [r.reader, r.inputs, r.outputs, r.duplicates, r.missing, r.unexpected].map(String));
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const a = audit.agreement;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    ...audit.readers.map((r) => `${r.reader} read: ${Object.entries(r.perTopic).map(([topic, count]) => `${topic} ${count}`).join(', ')}`),
    ...audit.readers
      .filter((r) => r.missing > 0 || r.duplicates > 0)
      .map((r) => `${r.reader} examples: missing ${r.examples.missing.join(', ') || '-'}; duplicated ${r.examples.duplicated.join(', ') || '-'}`),
    a.agree
      ? 'readers agree: kcat and KafkaJS read the same records'
      : `readers DISAGREE: ${a.onlyFirst.length} only by kcat (${a.onlyFirst.slice(0, 3).join(', ')}), ${a.onlySecond.length} only by KafkaJS (${a.onlySecond.slice(0, 3).join(', ')}), ${a.differentLineage.length} with different lineage`,
  ].join('\n');
}

/** What `txstream audit` (the user-facing command) found, next to the readers' counts. */
export interface CommandAudit {
  readonly inputs: number;
  /** Output and dead-letter records counted. */
  readonly outputs: number;
  readonly duplicates: number;
  readonly missing: number;
  readonly ok: boolean;
  /** Same inputs, terminal records, duplicates and missing as the kcat count. */
  readonly agreesWithKcat: boolean;
}

const CLI = join(resolve(import.meta.dirname, '../..'), 'bin', 'txstream.js');

/**
 * Runs `txstream audit <pipeline> -c <config> --json` as a user would after an incident
 * and compares its counts with kcat's. Exit 1 (a failed audit) still yields the report.
 */
export async function commandAudit(configFile: string, pipeline: string, kcat: ReaderAudit): Promise<CommandAudit> {
  const run = await promisify(execFile)(process.execPath, [CLI, 'audit', pipeline, '-c', configFile, '--json'], {
    env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_LOG_LEVEL: 'error' },
    maxBuffer: 64 * 1024 * 1024,
  }).catch((error: { code?: number; stdout?: string; stderr?: string }) => {
    if (error.code === 1 && error.stdout) return { stdout: error.stdout, stderr: error.stderr ?? '' };
    throw new Error(`txstream audit ${pipeline} failed (exit ${String(error.code)}): ${error.stderr ?? String(error)}`);
  });
  const report = JSON.parse(run.stdout) as PipelineAudit;
  const outputs = report.records.outputs + report.records.deadLetters;
  return {
    inputs: report.inputs,
    outputs,
    duplicates: report.duplicates,
    missing: report.missing,
    ok: report.ok,
    agreesWithKcat:
      report.inputs === kcat.inputs && outputs === kcat.outputs && report.duplicates === kcat.duplicates && report.missing === kcat.missing,
  };
}

export function formatCommandAudit(audit: CommandAudit): string {
  return `txstream audit: ${audit.inputs} inputs, ${audit.outputs} output and dead-letter records, ${audit.duplicates} duplicated, ${audit.missing} missing; ${
    audit.agreesWithKcat ? 'agrees with kcat' : 'DISAGREES with kcat'
  }`;
}
