import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { auditLineage } from '../../src/audit/lineage-audit.js';
import { LocalPrometheus } from '../../src/local-prometheus/prometheus.js';
import { LINEAGE_HEADER } from '../../src/pipeline/lineage.js';
import { caughtUp, createPipelineTopics, inputLineage, produceNumbered, readTopics, uniqueName } from '../support/kafka.js';
import { sleep, waitFor } from '../support/wait.js';
import { WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * What docker-compose wires, run as local processes: three `txstream run` workers on the real
 * broker, each with its ops server, scraped by a real Prometheus (npm run prometheus:up's), which
 * answers every query of the committed Grafana dashboard.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const brokers = inject('kafkaBrokers');
const processes: WorkerProcess[] = [];
let prometheus: LocalPrometheus;

beforeAll(async () => {
  ({ prometheus } = await LocalPrometheus.start({ name: `fleet-test-${process.pid}`, scrapeIntervalSeconds: 1 }));
});
afterAll(async () => {
  await prometheus?.stop({ wipe: true });
});

afterEach(async () => {
  for (const worker of processes.splice(0)) {
    worker.signal('SIGKILL');
    await worker.exited();
  }
});

async function fleet(prefix: string, records: number) {
  const { input, output } = await createPipelineTopics(brokers, prefix, 6);
  const groupPrefix = uniqueName('fleet');
  const config = writeWorkerConfig({ brokers, groupId: groupPrefix, input, output, metricsPort: 0 });
  const start = (name: string, handlerDelayMs = 1) => {
    const worker = WorkerProcess.start(config, { name, handlerDelayMs });
    processes.push(worker);
    return worker;
  };
  /**
   * Produces once every worker is ready, so the work is split by the group, not by who joined first;
   * in two halves, with `between` in the middle (a scraper can see the counters rise, not only appear).
   */
  const produceWhenReady = async (ports: readonly number[], between?: () => Promise<void>) => {
    await waitFor(
      async () => (await Promise.all(ports.map(async (port) => (await get(port, '/readyz'))?.status === 200))).every(Boolean),
      'every worker ready (joined, partitions open)',
      60_000,
      100,
    );
    const half = Math.floor(records / 2);
    await produceNumbered(brokers, input, half);
    await between?.();
    await produceNumbered(brokers, input, records - half, 100, half);
  };
  return { input, output, groupId: `${groupPrefix}.echo`, start, produceWhenReady };
}

async function get(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined; // not listening (yet, or any more)
  }
}

/** Sums a metric's samples in Prometheus text, optionally only those with a label value. */
function sample(text: string, name: string, label?: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => label === undefined || line.includes(label))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('a fleet of three workers', () => {
  it('shows the right counts by outcome on each /metrics, and lag falls to 0', async () => {
    const records = 6000;
    const { input, groupId, start, produceWhenReady } = await fleet('metrics', records);
    const workers = [start('metrics-a'), start('metrics-b'), start('metrics-c')];
    const ports = await Promise.all(workers.map((worker) => worker.opsPort()));
    prometheus.setTargets(ports.map((port) => `127.0.0.1:${port}`));
    const promScalar = async (expr: string) => Number((await prometheus.query(expr))[0]?.value[1] ?? Number.NaN);
    await waitFor(async () => (await promScalar('count(up{job="txstream"} == 1)')) === 3, 'Prometheus to scrape all three workers', 30_000, 250);
    // Rates need two samples of a rising counter: Prometheus sees the first half's commits before the second half comes.
    await produceWhenReady(ports, () =>
      waitFor(async () => (await promScalar('sum(txstream_commit_duration_seconds_count)')) > 0, 'Prometheus to record the first commits', 30_000, 250),
    );

    await waitFor(() => caughtUp(brokers, groupId, input), 'the fleet to commit every input', 120_000, 500);
    // Lag is read every 5 s: wait until every worker reports none.
    let scrapes: string[] = [];
    await waitFor(
      async () => {
        scrapes = await Promise.all(ports.map(async (port) => (await get(port, '/metrics'))?.body ?? ''));
        return scrapes.every((text) => text.includes('txstream_consumer_lag{') && sample(text, 'txstream_consumer_lag') === 0);
      },
      'consumer lag 0 on every worker',
      30_000,
      1000,
    );
    const ok = scrapes.map((text) => sample(text, 'txstream_records_total', 'outcome="ok"'));
    expect(ok.reduce((a, b) => a + b, 0)).toBe(records);
    // Everyone had joined before the first record: the six partitions' work is spread over all three.
    for (const count of ok) expect(count, `records by worker: ${ok.join(', ')}`).toBeGreaterThan(records / 20);
    const all = scrapes.join('\n');
    expect(sample(all, 'txstream_records_total', 'outcome="dead_lettered"')).toBe(0);
    expect(sample(all, 'txstream_transactions_total', 'result="committed"')).toBeGreaterThan(0);
    expect(all).toMatch(/txstream_commit_duration_seconds_bucket\{.*strategy="transactional"/);
    expect(sample(all, 'txstream_end_to_end_latency_seconds_count')).toBe(records);
    for (const text of scrapes) expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    for (const text of scrapes) expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    // Six input partitions and three one-partition retry tiers, spread over the three workers.
    expect(scrapes.reduce((sum, text) => sum + sample(text, 'txstream_assigned_partitions'), 0)).toBe(9);
    expect((await get(ports[0] as number, '/healthz'))?.status).toBe(200);

    // Prometheus recorded what the workers counted: throughput by outcome, lag, commit latency.
    const direct = {
      commits: sample(all, 'txstream_commit_duration_seconds_count'),
      e2e: sample(all, 'txstream_end_to_end_latency_seconds_count'),
    };
    const scalar = async (expr: string) => Number((await prometheus.query(expr))[0]?.value[1] ?? Number.NaN);
    await waitFor(
      async () =>
        (await scalar('sum(txstream_records_total{outcome="ok"})')) === records &&
        (await scalar('sum(txstream_consumer_lag)')) === 0 &&
        (await scalar('sum(txstream_commit_duration_seconds_count)')) === direct.commits &&
        (await scalar('sum(txstream_end_to_end_latency_seconds_count)')) === direct.e2e &&
        (await scalar('count(up{job="txstream"} == 1)')) === 3,
      'Prometheus to hold what the workers report',
      30_000,
      500,
    );
    expect(await scalar('sum(txstream_records_total{outcome=~"retried|dead_lettered|skipped"})')).toBe(0);

    // Every query of the committed Grafana dashboard answers with data, while the rates still cover the run.
    const dashboard = JSON.parse(readFileSync(resolve(ROOT, 'ops/grafana/dashboards/txstream.json'), 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const queries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr.replaceAll('$__rate_interval', '1m') })));
    expect(queries.length).toBeGreaterThan(8);
    for (const { panel, expr } of queries) {
      const result = await prometheus.query(expr);
      expect(result.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      expect(result.some((series) => Number.isFinite(Number(series.value[1]))), `${panel}: ${expr} → ${JSON.stringify(result)}`).toBe(true);
    }
  });

  it('is not ready while draining; a SIGTERMed member drains, its partitions move, nothing lost or duplicated', async () => {
    const records = 9000;
    const { input, output, groupId, start, produceWhenReady } = await fleet('drain', records);
    // Not ready before joining: test/integration/ops-server.test.ts holds the group's join and shows it
    // without a race; here, every worker is ready before the first record is produced.
    const a = start('drain-a', 2);
    const b = start('drain-b', 2);
    const c = start('drain-c', 2);
    const [, portB] = await Promise.all([a.opsPort(), b.opsPort(), c.opsPort()]);
    await produceWhenReady(await Promise.all([a.opsPort(), b.opsPort(), c.opsPort()]));
    await sleep(1500);

    const stopped = Date.now();
    b.signal('SIGTERM');
    const whileDraining: Array<number | undefined> = [];
    const exit = b.exited();
    let done = false;
    void exit.then(() => {
      done = true;
    });
    // The signal reaches the process asynchronously: probe from the moment it says it is draining.
    await waitFor(() => done || b.log().includes('"msg":"draining"'), 'worker b to start draining', 15_000, 5);
    while (!done) {
      whileDraining.push((await get(portB, '/readyz'))?.status);
      await sleep(20);
    }
    expect(await exit).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(15_000);
    expect(whileDraining).not.toContain(200);

    await waitFor(() => caughtUp(brokers, groupId, input), 'the two remaining workers to commit every input', 120_000, 500);
    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= records, quietMs: 2000 });
    const audit = auditLineage(await inputLineage(brokers, input, records), outputs.map((r) => r.headers[LINEAGE_HEADER]));
    expect(audit).toMatchObject({ inputs: records, missing: 0, duplicates: 0, unexpected: 0 });
    expect(b.log()).toMatch(/"clean":true/);
  });
});

describe('ops/prometheus.yml', () => {
  it('passes promtool check config', () => {
    // .ci/run installs Debian's prometheus package, which brings promtool.
    const output = execFileSync('promtool', ['check', 'config', resolve(ROOT, 'ops/prometheus.yml')], { encoding: 'utf8' });
    expect(output).toMatch(/SUCCESS/);
  });
});
