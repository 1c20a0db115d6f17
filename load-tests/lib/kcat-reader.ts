/**
 * The read_committed reader of the latency runs as a kcat process (librdkafka, in C), each
 * record's value printed on a line of its stdout and timestamped by the harness when the line
 * arrives. The KafkaJS reader in the harness shared one thread with the sender's feed and decoded
 * every fetch in JavaScript: with no contender between kcat and it (a fresh topic read back),
 * it alone took p50 23 / p99 70 ms at 96 partitions and 5,000 records/s, and 49 / 139 ms at
 * 10,000 (2026-12-06e), a large part of the 250 ms the targets allow, and the same for both sides
 * of a pair. Values must be single lines (the JSON workload's are; the avro one keeps the KafkaJS reader).
 */
import { spawn } from 'node:child_process';
import type { Reader } from './kafka-env.js';

/**
 * Reads `topic` from its beginning with isolation.level=read_committed and calls `onValue` with
 * each record's value, the time its line arrived and the record's own timestamp. Resolves once
 * kcat has started.
 */
export async function startKcatReader(
  kcat: string,
  brokers: readonly string[],
  topic: string,
  onValue: (value: Buffer, receivedAt: number, timestamp: number) => void,
): Promise<Reader> {
  // -u: every line as soon as it is printed; fetch.wait.max.ms as the KafkaJS reader's maxWaitTimeInMs.
  // Each line is the record's timestamp (ms), a tab, its value.
  const child = spawn(kcat, ['-C', '-b', brokers.join(','), '-t', topic, '-o', 'beginning', '-u', '-q', '-f', '%T\t%s\n', '-X', 'isolation.level=read_committed', '-X', 'fetch.wait.max.ms=20'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  let count = 0;
  let rest: Buffer = Buffer.alloc(0);
  child.stdout.on('data', (chunk: Buffer) => {
    const receivedAt = Date.now();
    let data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a)) {
      count++;
      const tab = data.indexOf(0x09);
      onValue(data.subarray(tab + 1, newline), receivedAt, Number(data.toString('latin1', 0, tab)));
      data = data.subarray(newline + 1);
    }
    rest = Buffer.from(data);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    received: () => count,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      // Killed by us is the expected end; anything else says why the reader gave up.
      if (code !== null && code !== 0 && code !== 143) throw new Error(`kcat reader exited ${code}: ${stderr.trim() || 'no output'}`);
    },
  };
}
