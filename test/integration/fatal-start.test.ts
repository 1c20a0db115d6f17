import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { produceNumbered, uniqueName, createTopics } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';
import { WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/** Fatal errors end `txstream run` with one line and a non-zero code, in bounded time. */

const brokers = inject('kafkaBrokers');
const processes: WorkerProcess[] = [];

/**
 * How long Node takes, right now, to run the first line of an ES module like bin/txstream.js: the
 * slowest of three probes, half as much again for the spread on a loaded machine.
 */
async function firstLineMs(): Promise<number> {
  let slowest = 0;
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    const probe = spawn(process.execPath, ['--input-type=module', '-e', "import 'node:fs'; process.stdout.write('x')"], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve) => probe.stdout.once('data', resolve));
    slowest = Math.max(slowest, performance.now() - started);
    await new Promise((resolve) => (probe.exitCode === null ? probe.once('exit', resolve) : resolve(undefined)));
  }
  return Math.ceil(slowest * 1.5);
}

afterEach(async () => {
  for (const worker of processes.splice(0)) worker.signal('SIGKILL');
});

async function pipelineTopics(prefix: string) {
  const input = uniqueName(prefix);
  await createTopics(brokers, [{ topic: input }, { topic: `${input}.out` }, { topic: `${input}.dlt` }, ...[1, 2, 3].map((n) => ({ topic: `${input}.retry.${n}` }))]);
  return { input, output: `${input}.out` };
}

describe('a signal at any moment of `txstream run`', () => {
  // From when Node runs the first line of bin/txstream.js (before that no JavaScript can catch a signal:
  // measured now, as an ES module's first line takes to run on this machine, at least 150 ms). The CLI and
  // the handler module take a second or more to load through tsx, so the first delays fall before the
  // worker's own handlers exist, the last ones during its start or once it runs.
  it('SIGTERM soon after spawn: exit 0 with a line saying what happened, never killed by the signal', async () => {
    const { input, output } = await pipelineTopics('early');
    const outcomes: string[] = [];
    const nodeStart = Math.max(150, await firstLineMs());
    for (const delayMs of [nodeStart, nodeStart + 150, nodeStart + 350, 800, 1500].sort((a, b) => a - b)) {
      const config = writeWorkerConfig({ brokers, groupId: uniqueName('early'), input, output });
      const worker = WorkerProcess.start(config, { name: `early-${delayMs}` });
      processes.push(worker);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      worker.signal('SIGTERM');
      const code = await Promise.race([worker.exited(), new Promise((resolve) => setTimeout(() => resolve('still running'), 60_000))]);
      const log = worker.log();
      const early = log.includes('txstream: SIGTERM before the worker started; exiting without starting it');
      const drained = log.includes('"msg":"draining"');
      outcomes.push(`${delayMs} ms: ${code === null ? 'killed by SIGTERM' : `exit ${String(code)}`}, ${early ? 'stopped before start' : drained ? 'drained' : 'no line'}`);
      expect({ delayMs, code, said: early || drained }).toEqual({ delayMs, code: 0, said: true });
      if (early) expect(log.trim()).toBe('txstream: SIGTERM before the worker started; exiting without starting it');
    }
    console.log(outcomes.join('\n'));
  });

  it('SIGTERM while a slow handler module loads: the worker is never started, exit 0 and one line', async () => {
    const { input, output } = await pipelineTopics('slowload');
    const dir = mkdtempSync(join(tmpdir(), 'txstream-slowload-'));
    // A module that waits at its top level (a connection, a cache warmed at import) keeps `run` loading.
    writeFileSync(join(dir, 'slow.mjs'), 'await new Promise((resolve) => setTimeout(resolve, 5000));\nexport default (record) => ({ value: record.value });\n');
    writeFileSync(
      join(dir, 'txstream.yaml'),
      stringify({ brokers, groupId: uniqueName('slowload'), pipelines: [{ name: 'slow', input, output, handler: { module: './slow.mjs' } }] }),
    );
    const worker = WorkerProcess.start(join(dir, 'txstream.yaml'), { name: 'slowload' });
    processes.push(worker);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    worker.signal('SIGTERM');
    expect(await worker.exited()).toBe(0);
    expect(worker.log().trim()).toBe('txstream: SIGTERM before the worker started; exiting without starting it');
  });

  it('leaves other commands to the default action: an apply stopped by SIGTERM never exits 0', async () => {
    const worker = WorkerProcess.cli(['topics', 'apply', '--topics-dir', 'topics', '--brokers', brokers.join(',')], { name: 'early-apply' });
    processes.push(worker);
    await new Promise((resolve) => setTimeout(resolve, 300));
    worker.signal('SIGTERM');
    expect(await worker.exited()).toBeNull();
    expect(worker.child.signalCode).toBe('SIGTERM');
  });
});

describe('fatal errors at start and during drain', () => {
  it('refuses a session timeout outside the broker group limits: one line, exit 2, within seconds', async () => {
    const { input, output } = await pipelineTopics('fatal');
    const config = writeWorkerConfig({ brokers, groupId: uniqueName('fatal'), input, output, sessionTimeoutMs: 3000, heartbeatIntervalMs: 500 });
    const started = Date.now();
    const worker = WorkerProcess.start(config, { name: 'fatal' });
    processes.push(worker);
    const code = await Promise.race([worker.exited(), new Promise((resolve) => setTimeout(() => resolve('still running'), 45_000))]);
    expect(code).toBe(2);
    const elapsed = Date.now() - started;
    expect(worker.log().trim().split('\n').at(-1)).toBe(
      "txstream: sessionTimeoutMs 3000 is outside the broker's group limits; accepted: 6000..1800000 ms (group.min.session.timeout.ms, group.max.session.timeout.ms)",
    );
    expect(worker.log()).not.toMatch(/unhandled rejection/);
    console.log(`session timeout refused, process exited 2 after ${elapsed} ms`);
  });

  it('logs a second SIGTERM during a drain and exits 1 at once', async () => {
    const { input, output } = await pipelineTopics('twice');
    await produceNumbered(brokers, input, 200);
    const config = writeWorkerConfig({ brokers, groupId: uniqueName('twice'), input, output, batchSize: 100 });
    // 100 records × 100 ms: a batch takes 10 s, so the drain is still waiting when the second signal comes.
    const worker = WorkerProcess.start(config, { name: 'twice', handlerDelayMs: 100 });
    processes.push(worker);
    await waitFor(() => worker.log().includes('"msg":"worker running"'), 'worker running', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    worker.signal('SIGTERM');
    await waitFor(() => worker.log().includes('"msg":"draining"'), 'draining', 10_000);
    const second = Date.now();
    worker.signal('SIGTERM');
    expect(await worker.exited()).toBe(1);
    expect(Date.now() - second).toBeLessThan(3000);
    expect(worker.log()).toMatch(/"msg":"second SIGTERM while draining; exiting now without finishing the drain"/);
  });
});
