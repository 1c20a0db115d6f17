/**
 * The open-model sender of the latency runs as a kcat process (librdkafka, in C) fed through
 * its stdin, so the arrivals cost the 2 shared cores a fraction of what a KafkaJS producer in
 * the harness costs: at half of the worker's saturation the KafkaJS sender fell behind by
 * thousands of arrivals and its CPU landed on the worker's latency. The harness still decides
 * when each record is sent and stamps it with its intended time (no coordinated omission);
 * kcat's own queueing counts as latency.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Generator } from './generators.js';
import { type OpenModelResult, type OpenModelSender, runOpenModel } from './kafka-env.js';

const TAB = 0x09;
const NEWLINE = 0x0a;

/** kcat on the PATH (or $KCAT), or undefined when it cannot be started. */
export async function findKcat(): Promise<string | undefined> {
  const kcat = process.env.KCAT ?? 'kcat';
  const probe = spawn(kcat, ['-V'], { stdio: 'ignore' });
  try {
    const [code] = (await Promise.race([once(probe, 'exit'), once(probe, 'error').then(() => [1])])) as [number | null];
    return code === 0 ? kcat : undefined;
  } catch {
    return undefined;
  }
}

/** One `key<TAB>value<NEWLINE>` line of kcat -P -K '\t'; refuses a record that would break the framing. */
export function kcatLine(key: string, value: Buffer): Buffer {
  if (key.includes('\t') || key.includes('\n') || value.includes(TAB) || value.includes(NEWLINE)) {
    throw new Error(`record for kcat holds a tab or newline (key ${JSON.stringify(key)}): the line framing cannot carry it`);
  }
  return Buffer.concat([Buffer.from(`${key}\t`), value, Buffer.from('\n')]);
}

export async function produceOpenModelKcat(
  kcat: string,
  brokers: readonly string[],
  topic: string,
  schedule: readonly number[],
  generator: Generator,
): Promise<OpenModelResult> {
  // acks=all and idempotence as the KafkaJS sender; librdkafka batches what arrives within 5 ms.
  const child = spawn(kcat, ['-P', '-b', brokers.join(','), '-t', topic, '-K', '\t', '-X', 'acks=all', '-X', 'enable.idempotence=true', '-X', 'linger.ms=5', '-q'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const sender: OpenModelSender = {
    async send(records) {
      if (!child.stdin.write(Buffer.concat(records.map((record) => kcatLine(record.key, record.value))))) await once(child.stdin, 'drain');
    },
    async flush() {
      // End of input: kcat flushes what it holds (waits for the acks) and exits.
      child.stdin.end();
      const [code, signal] = await exited;
      if (code !== 0) throw new Error(`kcat sender exited ${signal ?? code}: ${stderr.trim() || 'no output'}`);
    },
  };
  try {
    return await runOpenModel(sender, schedule, generator);
  } finally {
    // A failure mid-run leaves kcat waiting for input: end it (a no-op after flush).
    child.stdin.end();
  }
}
