/**
 * What an audit's "missing" input is: lost, or missed by the audit. After a run has settled, the
 * output and dead-letter topics are read again whole by an independent reader (kcat, librdkafka:
 * not the KafkaJS the worker and the audit use), read_committed and then read_uncommitted, and
 * every input the audit reported missing is looked up by its lineage header:
 * - in a committed output: the record is there and the audit did not count it (an audit bug);
 * - only in records that are not committed (aborted, or a transaction still open): never
 *   delivered to read_committed readers, a loss unless the transaction is still to commit;
 * - nowhere: never written, a loss (a product bug).
 */
import { spawn } from 'node:child_process';
import { LINEAGE_HEADER } from '../../src/pipeline/lineage.js';

export interface InputWhereabouts {
  /** The input, `<topic>/<partition>/<offset>` (its lineage value). */
  readonly input: string;
  /** Where records with its lineage are, read_committed: `<topic>/<partition>/<offset>`. */
  readonly committed: readonly string[];
  /** Where they are when uncommitted records count too (a superset of `committed`). */
  readonly uncommitted: readonly string[];
}

export type Verdict = 'counted-by-audit-miss' | 'only-uncommitted' | 'not-written';

export function verdictOf(whereabouts: InputWhereabouts): Verdict {
  if (whereabouts.committed.length > 0) return 'counted-by-audit-miss';
  if (whereabouts.uncommitted.length > 0) return 'only-uncommitted';
  return 'not-written';
}

const VERDICT_TEXT: Record<Verdict, string> = {
  'counted-by-audit-miss': 'in a committed output: the audit missed it (audit bug, not a loss)',
  'only-uncommitted': 'only in uncommitted records (aborted or still open): not delivered to read_committed readers',
  'not-written': 'in no output or dead-letter record, committed or not: LOST (product bug)',
};

/** One line per input: where it is, and what that means. */
export function describeWhereabouts(list: readonly InputWhereabouts[]): string {
  return list
    .map((w) => {
      const where = w.uncommitted.length > 0 ? ` at ${w.uncommitted.join(', ')}${w.committed.length !== w.uncommitted.length ? ` (committed: ${w.committed.join(', ') || 'none'})` : ''}` : '';
      return `${w.input}${where}: ${VERDICT_TEXT[verdictOf(w)]}`;
    })
    .join('; ');
}

/**
 * The lineage values of `wanted` found in kcat output of `-f '%t %p %o %h\n'` lines, each with the
 * positions of the records that carry it. A header value holding a newline splits its line; the
 * pieces that do not start with a position are never mistaken for records.
 */
export function findLineages(output: string, wanted: ReadonlySet<string>): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const prefix = `${LINEAGE_HEADER}=`;
  for (const line of output.split('\n')) {
    const match = /^(\S+) (\d+) (\d+) (.*)$/.exec(line);
    if (!match) continue;
    const [, topic, partition, offset, headers] = match as unknown as [string, string, string, string, string];
    // kcat prints headers as name=value pairs separated by commas; a lineage value has neither.
    for (const header of headers.split(',')) {
      if (!header.startsWith(prefix)) continue;
      const value = header.slice(prefix.length);
      if (!wanted.has(value)) continue;
      const positions = found.get(value) ?? [];
      positions.push(`${topic}/${partition}/${offset}`);
      found.set(value, positions);
    }
  }
  return found;
}

/** Reads `topics` whole with kcat at both isolation levels and says where each of `inputs` is. */
export async function locateInputs(brokers: readonly string[], topics: readonly string[], inputs: readonly string[], timeoutMs = 120_000): Promise<InputWhereabouts[]> {
  const wanted = new Set(inputs);
  const read = async (isolation: 'read_committed' | 'read_uncommitted') => {
    const found = new Map<string, string[]>();
    for (const topic of topics) {
      for (const [input, positions] of findLineages(await kcatRead(brokers, topic, isolation, timeoutMs), wanted)) found.set(input, [...(found.get(input) ?? []), ...positions]);
    }
    return found;
  };
  const committed = await read('read_committed');
  const uncommitted = await read('read_uncommitted');
  return inputs.map((input) => ({ input, committed: committed.get(input) ?? [], uncommitted: uncommitted.get(input) ?? [] }));
}

function kcatRead(brokers: readonly string[], topic: string, isolation: string, timeoutMs: number): Promise<string> {
  const kcat = process.env.KCAT ?? 'kcat';
  const args = ['-C', '-b', brokers.join(','), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%t %p %o %h\n', '-X', `isolation.level=${isolation}`];
  return new Promise((resolve, reject) => {
    const child = spawn(kcat, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`kcat reading ${topic}: cannot start ${kcat}: ${error.message} (install kcat, or set KCAT)`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`kcat reading ${topic} (${isolation}) exited with ${code ?? signal}: ${Buffer.concat(stderr).toString('utf8').trim()}`));
      resolve(Buffer.concat(stdout).toString('utf8'));
    });
  });
}
