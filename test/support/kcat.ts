import { spawn } from 'node:child_process';
import type { ReadRecord } from './kafka.js';

/**
 * An independent reader for the audits: kcat (librdkafka underneath), so an exactly-once
 * claim does not rest on KafkaJS reading back what KafkaJS wrote. Each topic is read from
 * the beginning to its end (`-e`) with `-J`, one JSON envelope per record.
 *
 * What kcat 1.7.1 prints, and how it maps to ReadRecord:
 * - `headers` is a flat array `[name, value, name, value, …]`, absent when the record has
 *   none; a header without a value is `null`. Like `headersAsText`, a repeated header keeps
 *   its last value, and a header without a value is left out.
 * - `key` and `payload` are JSON strings or `null`. Bytes that are not UTF-8 are written as
 *   they are inside the string, so stdout is decoded as UTF-8 per line, which turns them into
 *   U+FFFD exactly as `Buffer.toString()` does for the KafkaJS reader. Control characters are
 *   escaped, so a raw newline only ever ends a record.
 * - Under read_committed, `-e` stops at the last stable offset: records of a transaction
 *   still open are not read yet. A caller that expects them passes `until`.
 */
export interface KcatReadOptions {
  /** read_committed (default) or read_uncommitted. */
  readonly readCommitted?: boolean;
  /** Read again until this holds (e.g. a count once open transactions end). */
  readonly until?: (records: ReadRecord[]) => boolean;
  /** Pause between reads while `until` does not hold. */
  readonly retryDelayMs?: number;
  /** Overall budget for all reads, and for each kcat run. */
  readonly timeoutMs?: number;
  /** When `until` never holds: throw (default), or return the last full read so the caller can say what is missing. */
  readonly onTimeout?: 'throw' | 'return';
  /** Extra librdkafka properties (`-X name=value`), e.g. for TLS. */
  readonly config?: Readonly<Record<string, string>>;
  /** The kcat executable (default: $KCAT or `kcat` on the PATH). */
  readonly kcat?: string;
}

export async function readWithKcat(brokers: string[], topics: string[], options: KcatReadOptions = {}): Promise<ReadRecord[]> {
  const { until, retryDelayMs = 250, timeoutMs = 60_000, onTimeout = 'throw' } = options;
  const deadline = Date.now() + timeoutMs;
  const notMet = (read: number) =>
    new Error(`kcat reading ${topics.join(',')} from ${brokers.join(',')}: condition not met within ${timeoutMs} ms (${read} records read)`);
  let lastRead: ReadRecord[] | undefined;
  const timedOut = (read: ReadRecord[]) => {
    if (onTimeout === 'return') return read;
    throw notMet(read.length);
  };
  for (;;) {
    let records: ReadRecord[];
    try {
      records = (await Promise.all(topics.map((topic) => readTopicOnce(brokers, topic, options, deadline - Date.now())))).flat();
    } catch (error) {
      // A re-read cut short by the overall budget (kcat takes a second on a loaded machine) means the
      // condition was not met in time: say that, not that this last kcat run had no end.
      if (lastRead !== undefined && Date.now() >= deadline - 50) return timedOut(lastRead);
      throw error;
    }
    if (!until || until(records)) return records;
    lastRead = records;
    if (Date.now() + retryDelayMs > deadline) return timedOut(records);
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
  }
}

/** One kcat run over every partition of one topic (kcat -C reads a single topic). */
function readTopicOnce(brokers: string[], topic: string, options: KcatReadOptions, timeoutMs: number): Promise<ReadRecord[]> {
  const { readCommitted = true, config = {}, kcat = process.env.KCAT ?? 'kcat' } = options;
  const args = [
    '-C',
    '-b',
    brokers.join(','),
    '-t',
    topic,
    '-o',
    'beginning',
    '-e',
    '-J',
    '-q',
    '-X',
    `isolation.level=${readCommitted ? 'read_committed' : 'read_uncommitted'}`,
    ...Object.entries(config).flatMap(([name, value]) => ['-X', `${name}=${value}`]),
  ];
  const where = `kcat reading topic ${topic} from ${brokers.join(',')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(kcat, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGKILL');
      },
      Math.max(timeoutMs, 1000),
    );
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${where}: cannot start ${kcat}: ${error.message} (install kcat, or set KCAT)`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const errorText = Buffer.concat(stderr).toString('utf8').trim();
      if (timedOut) return reject(new Error(`${where}: no end within ${timeoutMs} ms${errorText ? `: ${errorText}` : ''}`));
      if (code !== 0) {
        return reject(new Error(`${where}: kcat exited with ${code ?? signal}${errorText ? `: ${errorText}` : ''}`));
      }
      try {
        resolve(parseKcatJson(Buffer.concat(stdout), where));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

interface KcatEnvelope {
  topic: string;
  partition: number;
  offset: number;
  ts?: number;
  headers?: Array<string | null>;
  key: string | null;
  payload: string | null;
}

/** Splits kcat's `-J` output into records; a line that is not an envelope is an error naming it. */
export function parseKcatJson(output: Buffer, where = 'kcat output'): ReadRecord[] {
  const records: ReadRecord[] = [];
  let start = 0;
  let line = 0;
  while (start < output.length) {
    let end = output.indexOf(0x0a, start);
    if (end === -1) end = output.length;
    line++;
    const text = output.subarray(start, end).toString('utf8');
    start = end + 1;
    if (text.trim() === '') continue;
    records.push(toReadRecord(text, `${where}, line ${line}`));
  }
  return records;
}

function toReadRecord(text: string, where: string): ReadRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: not JSON (${(error as Error).message}): ${text.slice(0, 200)}`);
  }
  if (!isEnvelope(parsed)) throw new Error(`${where}: not a kcat -J record envelope: ${text.slice(0, 200)}`);
  const headers: Record<string, string> = {};
  const flat = parsed.headers ?? [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i];
    const value = flat[i + 1];
    if (typeof name === 'string' && typeof value === 'string') headers[name] = value;
  }
  return {
    topic: parsed.topic,
    partition: parsed.partition,
    offset: String(parsed.offset),
    timestamp: parsed.ts ?? -1,
    key: parsed.key,
    value: parsed.payload,
    headers,
  };
}

function isEnvelope(value: unknown): value is KcatEnvelope {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const nullableString = (x: unknown) => x === null || typeof x === 'string';
  return (
    typeof v.topic === 'string' &&
    Number.isInteger(v.partition) &&
    Number.isInteger(v.offset) &&
    (v.ts === undefined || typeof v.ts === 'number') &&
    (v.headers === undefined || Array.isArray(v.headers)) &&
    nullableString(v.key) &&
    nullableString(v.payload)
  );
}
