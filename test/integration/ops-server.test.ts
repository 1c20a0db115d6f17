import { mkdtempSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { findFreePort } from '../../src/local-server/supervisor.js';
import { createPipelineTopics, kafkaClient, produceNumbered, uniqueName } from '../support/kafka.js';
import { sleep, waitFor } from '../support/wait.js';
import { WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * The ops server as the README and docker-compose.yml start it: through the real CLI, from flags in
 * topics-dir mode (as the compose workers run), from env with a config file; readiness that waits for
 * the group and the partitions, liveness that fails on a blocked event loop, Node's standard metrics.
 */
const brokers = inject('kafkaBrokers');
const ECHO = resolve(import.meta.dirname, '../fixtures/echo-handler.ts');
const processes: WorkerProcess[] = [];

afterEach(async () => {
  for (const worker of processes.splice(0)) {
    worker.signal('SIGKILL');
    await worker.exited();
  }
}, 30_000);

function started(worker: WorkerProcess): WorkerProcess {
  processes.push(worker);
  return worker;
}

/** Fails at once, with the worker's output, when it exited instead of serving. */
function alive(worker: WorkerProcess): void {
  if (worker.child.exitCode !== null) throw new Error(`worker exited with ${worker.child.exitCode}:\n${worker.log()}`);
}

async function get(host: string, port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(20_000) });
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

/** A topics folder as `txstream topics apply` and `txstream run` read it: the pipeline and its topics. */
function topicsDir(input: string, output: string, groupId: string, partitions: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'txstream-ops-topics-'));
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    stringify({
      groupId,
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 500,
      topics: [
        { name: input, partitions },
        { name: output, partitions },
      ],
      pipelines: [{ name: 'echo', input, output, handler: { module: ECHO, export: 'echo' } }],
    }),
  );
  return dir;
}

const otherAddress = Object.values(networkInterfaces())
  .flat()
  .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

describe('txstream run ops server', () => {
  it('listens where --metrics-port and --metrics-host say, in topics-dir mode, with Node and txstream metrics', async () => {
    const { input, output } = await createPipelineTopics(brokers, 'ops-flags', 2);
    const port = await findFreePort();
    const worker = started(
      WorkerProcess.cli(['run', '--topics-dir', topicsDir(input, output, uniqueName('ops'), 2), '--brokers', brokers.join(','), '--metrics-port', String(port), '--metrics-host', '127.0.0.1'], {
        name: 'ops-flags',
      }),
    );
    await waitFor(async () => (alive(worker), (await get('127.0.0.1', port, '/readyz'))?.status === 200), `ready on 127.0.0.1:${port}`, 60_000, 200);
    const metrics = await get('127.0.0.1', port, '/metrics');
    expect(metrics?.body).toMatch(/^process_cpu_seconds_total \d/m);
    expect(metrics?.body).toMatch(/^process_resident_memory_bytes \d/m);
    expect(metrics?.body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(metrics?.body).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    // Two input partitions and three one-partition retry tiers.
    expect(metrics?.body).toMatch(/^txstream_assigned_partitions\{pipeline="echo"\} 5$/m);
    expect(metrics?.body).not.toMatch(/^txstream_process_/m);
    expect((await get('127.0.0.1', port, '/healthz'))?.status).toBe(200);
    // Bound to loopback only: another address of this machine does not answer.
    if (otherAddress) expect(await get(otherAddress, port, '/healthz')).toBeUndefined();
    expect(worker.log()).toContain(`"host":"127.0.0.1"`);
  });

  it('reads TXSTREAM_METRICS_PORT and TXSTREAM_METRICS_HOST with a config file, as the compose file sets them', async () => {
    const { input, output } = await createPipelineTopics(brokers, 'ops-env', 1);
    const port = await findFreePort();
    const config = writeWorkerConfig({ brokers, groupId: uniqueName('ops-env'), input, output });
    const worker = started(
      WorkerProcess.cli(['run', '-c', config], { name: 'ops-env', env: { TXSTREAM_METRICS_PORT: String(port), TXSTREAM_METRICS_HOST: '127.0.0.1' } }),
    );
    expect(await worker.opsPort()).toBe(port);
    await waitFor(async () => (await get('127.0.0.1', port, '/readyz'))?.status === 200, 'ready', 60_000, 200);
    expect(worker.log()).toMatch(/"port":\d+,"host":"127.0.0.1","msg":"serving/);
  });

  it('is not ready while the group cannot be joined, and ready once every assigned partition is open', async () => {
    const { input, output } = await createPipelineTopics(brokers, 'ops-ready', 3);
    const groupPrefix = uniqueName('ops-ready');
    // A member of the pipeline's group that sits in a batch and does not rejoin: a newcomer's join waits for it.
    await produceNumbered(brokers, input, 30);
    const holder = kafkaClient(brokers).consumer({ groupId: `${groupPrefix}.echo`, sessionTimeout: 30_000, rebalanceTimeout: 30_000 });
    let release!: () => void;
    const gate = new Promise<void>((resolveGate) => {
      release = resolveGate;
    });
    let holding = false;
    await holder.connect();
    await holder.subscribe({ topics: [input], fromBeginning: true });
    await holder.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async () => {
        holding = true;
        await gate;
      },
    });
    try {
      await waitFor(() => holding, 'the holding member to sit in a batch', 30_000, 50);
      const port = await findFreePort();
      const worker = started(
        WorkerProcess.cli(['run', '--topics-dir', topicsDir(input, output, groupPrefix, 3), '--brokers', brokers.join(','), '--metrics-port', String(port)], {
          name: 'ops-ready',
        }),
      );
      await waitFor(async () => (alive(worker), (await get('127.0.0.1', port, '/readyz')) !== undefined), 'the ops server to listen', 30_000, 50);
      const seen: string[] = [];
      for (let probe = 0; probe < 10; probe++) {
        const answer = await get('127.0.0.1', port, '/readyz');
        seen.push(`${answer?.status} ${answer?.body.trim()}`);
        await sleep(200);
      }
      for (const line of seen) expect(line).toMatch(/^503 not ready: (worker is starting|echo: not joined|echo: \d partition\(s\) not open)/);
      release();
      await holder.disconnect();
      await waitFor(async () => (await get('127.0.0.1', port, '/readyz'))?.status === 200, 'ready once the group is joined', 60_000, 100);
      // Ready means every assigned partition's task is open: the producer initialised and its offset read stable.
      const log = worker.log();
      const assigned = [...log.matchAll(/"msg":"partitions assigned"/g)].length;
      expect(assigned).toBeGreaterThan(0);
      // Once the holder has left, the worker owns all three input partitions and the three retry tiers, all open.
      await waitFor(
        async () => /^txstream_assigned_partitions\{pipeline="echo"\} 6$/m.test((await get('127.0.0.1', port, '/metrics'))?.body ?? ''),
        'all six partitions assigned',
        30_000,
        200,
      );
      await waitFor(async () => (await get('127.0.0.1', port, '/readyz'))?.status === 200, 'ready with all six open', 30_000, 100);
    } finally {
      release();
      await holder.disconnect().catch(() => {});
    }
  });

  it('fails /healthz once the event loop was blocked longer than --liveness-max-event-loop-delay-ms', async () => {
    const { input, output } = await createPipelineTopics(brokers, 'ops-live', 1);
    const port = await findFreePort();
    const config = writeWorkerConfig({ brokers, groupId: uniqueName('ops-live'), input, output });
    const worker = started(
      WorkerProcess.cli(['run', '-c', config, '--metrics-port', String(port), '--liveness-max-event-loop-delay-ms', '1000'], {
        name: 'ops-live',
        env: { TEST_BLOCK_MS: '3000' },
      }),
    );
    await waitFor(async () => (await get('127.0.0.1', port, '/readyz'))?.status === 200, `ready; log ${worker.logFile}`, 60_000, 200);
    expect((await get('127.0.0.1', port, '/healthz'))?.status).toBe(200);
    await produceNumbered(brokers, input, 5);
    let blocked: { status: number; body: string } | undefined;
    await waitFor(
      async () => {
        const answer = await get('127.0.0.1', port, '/healthz');
        if (answer?.status === 503) blocked = answer;
        return blocked !== undefined;
      },
      'healthz to report the blocked loop',
      30_000,
      100,
    );
    expect(blocked?.body).toMatch(/not live: event loop (was )?blocked for \d+ ms/);
    // The hold passes and the worker is live again.
    await waitFor(async () => (await get('127.0.0.1', port, '/healthz'))?.status === 200, 'healthz 200 again', 30_000, 500);
  });
});
