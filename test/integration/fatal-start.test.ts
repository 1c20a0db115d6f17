import { afterEach, describe, expect, inject, it } from 'vitest';
import { produceNumbered, uniqueName, createTopics } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';
import { WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/** Fatal errors end `txstream run` with one line and a non-zero code, in bounded time. */

const brokers = inject('kafkaBrokers');
const processes: WorkerProcess[] = [];

afterEach(async () => {
  for (const worker of processes.splice(0)) worker.signal('SIGKILL');
});

async function pipelineTopics(prefix: string) {
  const input = uniqueName(prefix);
  await createTopics(brokers, [{ topic: input }, { topic: `${input}.out` }, { topic: `${input}.dlt` }, ...[1, 2, 3].map((n) => ({ topic: `${input}.retry.${n}` }))]);
  return { input, output: `${input}.out` };
}

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
