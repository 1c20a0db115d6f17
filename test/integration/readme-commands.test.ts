import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { findFreePort } from '../../src/local-server/supervisor.js';
import { withAdmin } from '../support/kafka.js';
import { sleep } from '../support/wait.js';

/**
 * Every `txstream …` and `npm run …` line of the README's shell blocks, run as written from the
 * repository root (through `sh -c`, so `npx`, `npm run` and env prefixes are the user's), against the
 * suite's broker. The only rewrites: the broker addresses of the examples (127.0.0.1:9092, kafka:9092,
 * host:9092) become the suite's; the example ops port 9464 and the local broker's and registry's ports
 * become free ones, and the local broker and registry get a name of their own, so the test never
 * touches a developer's `dev` cluster. A README line with no entry below fails the test, so a new
 * command cannot be added to the README untested.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const brokers = inject('kafkaBrokers');
const README = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
const NAME = `readme-${process.pid}`;

/** The txstream, npm run, npm test and docker compose lines of the ```sh blocks, without their trailing comments. */
export function readmeCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    for (const line of (block[1] as string).split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (/(^|\s)(npx )?txstream\s|(^|\s)npm (run|test)\s|^docker compose\s/.test(`${command} `) && !command.startsWith('#')) commands.push(command);
    }
  }
  return commands;
}

interface Outcome {
  readonly code: number | null;
  readonly output: string;
}

type Check =
  /** Runs to its end: the exit code and what it prints. */
  | { kind: 'run'; match: RegExp; timeoutMs?: number; verify: (outcome: Outcome) => void | Promise<void> }
  /** A long-running worker: started, checked while it serves, stopped with SIGTERM, which must drain it. */
  | {
      kind: 'serve';
      match: RegExp;
      ready: (output: string, port: number) => Promise<boolean>;
      verify?: (output: string, port: number) => Promise<void>;
      /** Checked once it ended on SIGTERM (default: a worker that drained cleanly). */
      stopped?: (output: string) => Promise<void>;
    }
  /** A long job (a load sweep): must be accepted and make progress; stopped after that. */
  | { kind: 'start'; match: RegExp; progress: RegExp }
  /** Not run here, and why; what checks it instead. */
  | { kind: 'elsewhere'; match: RegExp; reason: string; check?: () => void };

async function http(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

const workerRunning = async (output: string) => output.includes('"msg":"worker running"');
const drained = async (output: string) => {
  expect(output).toMatch(/"msg":"worker stopped"/);
  expect(output).toMatch(/"clean":true/);
};

/** The URL `npm run postgres:up` printed: the sink demo and the sink pipeline use that server, not a developer's. */
let postgresUrl: string | undefined;

async function sinkRows(sql: string): Promise<number> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

const CHECKS: Check[] = [
  {
    kind: 'run',
    match: /^npm run postgres:up$/,
    timeoutMs: 120_000,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      postgresUrl = /(postgres:\/\/\S+:\d+\/txstream)/.exec(output)?.[1];
      expect(postgresUrl).toMatch(/^postgres:\/\/txstream:txstream@127\.0\.0\.1:\d+\/txstream$/);
      expect(postgresUrl).not.toContain(':55432/');
    },
  },
  {
    kind: 'run',
    match: /^npm run postgres:status$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/PostgreSQL '\S+' runs \(pid \d+\)/);
    },
  },
  {
    kind: 'run',
    match: /^npm run demo -- --sink postgres$/,
    timeoutMs: 180_000,
    verify: async ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/orders of this run saved: 10000 of 10000\n/);
      expect(output).toMatch(/dead-lettered: 0\n/);
      // Each order of the run once in the table, and the offsets table holding the partitions of orders.
      const run = /\(run ([0-9a-f]{8})\)/.exec(output)?.[1];
      expect(await sinkRows(`SELECT count(DISTINCT order_id)::text AS n FROM orders WHERE order_id LIKE '${run}-%'`)).toBe(10_000);
      expect(await sinkRows(`SELECT count(*)::text AS n FROM txstream_offsets WHERE topic = 'orders' AND next_offset IS NOT NULL`)).toBe(3);
    },
  },
  {
    kind: 'serve',
    match: /^PGPASSWORD=txstream npx txstream run --topics-dir examples\/postgres-sink --brokers \S+$/,
    ready: async (output) => output.includes('"msg":"PostgreSQL sink ready') && (await workerRunning(output)),
  },
  {
    kind: 'run',
    match: /^npm run postgres:down$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/^stopped PostgreSQL/m);
    },
  },
  {
    kind: 'run',
    match: /^npm run demo$/,
    timeoutMs: 180_000,
    verify: async ({ code, output }) => {
      expect(code).toBe(0);
      // At least the 10,000 it produced (more when an earlier, interrupted run left some unprocessed).
      expect(Number(/records in:\s+(\d+)\n/.exec(output)?.[1])).toBeGreaterThanOrEqual(10_000);
      expect(output).toMatch(/dead-lettered: 0\n/);
      // "creates the six topics of topics/"
      const topics = await withAdmin(brokers, (admin) => admin.listTopics());
      for (const topic of ['orders', 'orders.enriched', 'orders.dlt', 'orders.retry.1', 'orders.retry.2', 'orders.retry.3']) expect(topics).toContain(topic);
    },
  },
  { kind: 'elsewhere', match: /^npm test$/, reason: 'the suite this test is part of' },
  { kind: 'serve', match: /^npx txstream run -c topics\/txstream\.yaml --brokers \S+$/, ready: workerRunning },
  {
    kind: 'run',
    match: /^npx txstream topics validate$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/^2 files valid: 6 topics \(\d derived retry\/dead-letter\), 1 pipeline\n$/);
    },
  },
  {
    kind: 'run',
    match: /^npx txstream topics plan +--brokers \S+$/,
    verify: ({ code, output }) => {
      // The demo applied topics/ already: nothing to do, exit 0 (2 would mean changes).
      expect(output).not.toMatch(/^\s*[+~] /m);
      expect(code).toBe(0);
    },
  },
  {
    kind: 'run',
    match: /^npx txstream topics apply --brokers \S+$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/Nothing to change: the cluster matches topics/);
    },
  },
  {
    kind: 'serve',
    match: /^npx txstream run --brokers 127\.0\.0\.1:9092$/,
    ready: async (output) => (await workerRunning(output)) && output.includes('"pipelines":["orders-enricher"]'),
  },
  {
    kind: 'run',
    match: /^npx txstream dlt inspect orders-enricher -c topics\/txstream\.yaml$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toContain('orders.dlt');
    },
  },
  {
    kind: 'run',
    match: /^npx txstream dlt replay orders-enricher -c topics\/txstream\.yaml --dry-run$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/dry run: \d+ of \d+ dead-letter record\(s\) would be replayed/);
    },
  },
  {
    kind: 'run',
    match: /^npx txstream dlt replay orders-enricher -c topics\/txstream\.yaml --filter error-class=DecodeError --limit 100 --rate 50$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/replayed \d+ of \d+ dead-letter record\(s\) scanned/);
    },
  },
  {
    kind: 'serve',
    match: /^npx txstream run --brokers kafka:9092 --metrics-port 9464$/,
    ready: async (_output, port) => (await http(port, '/readyz'))?.status === 200,
    verify: async (_output, port) => {
      expect((await http(port, '/healthz'))?.status).toBe(200);
      const metrics = (await http(port, '/metrics'))?.body ?? '';
      expect(metrics).toMatch(/^txstream_assigned_partitions\{pipeline="orders-enricher"\} \d+$/m);
      expect(metrics).toMatch(/^process_cpu_seconds_total /m);
    },
  },
  {
    kind: 'run',
    match: /^npx txstream status --brokers kafka:9092$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/pipeline orders-enricher: group txstream-demo\.orders-enricher is \w+/);
      const table = output.split('\n').filter((line) => /^ {2}(TOPIC\[PARTITION\]|orders)/.test(line));
      expect(table.length).toBeGreaterThan(1);
      // Aligned: every column starts where its header does; partitions in order.
      const header = table[0] as string;
      for (const title of ['COMMITTED', 'END', 'LAG', 'MEMBER']) expect(header).toContain(title);
      const memberColumn = header.indexOf('MEMBER');
      for (const row of table.slice(1)) expect(row.charAt(memberColumn - 1), row).toBe(' ');
      const rows = table.slice(1).map((row) => /^(\S+)\[(\d+)\]/.exec(row.trim()) as RegExpExecArray);
      const keys = rows.map(([, topic, partition]) => [topic as string, Number(partition)] as const);
      expect(keys).toEqual([...keys].sort(([ta, pa], [tb, pb]) => (ta < tb ? -1 : ta > tb ? 1 : pa - pb)));
    },
  },
  {
    kind: 'run',
    match: /^npx txstream lag --brokers kafka:9092 --json$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      const lag = JSON.parse(output) as Array<{ pipeline: string; totalLag: number }>;
      expect(lag.map((entry) => entry.pipeline)).toEqual(['orders-enricher']);
    },
  },
  {
    kind: 'serve',
    match: /^npx txstream console -c topics\/txstream\.yaml --port \d+$/,
    ready: async (output) => output.includes('"msg":"console serving"'),
    verify: async (_output, port) => {
      const page = await http(port, '/');
      expect(page?.status).toBe(200);
      expect(page?.body).toContain('orders-enricher');
      expect(page?.body).toContain('read-only');
    },
    stopped: async (output) => expect(output).toContain('txstream console: http://127.0.0.1:'),
  },
  {
    kind: 'serve',
    match: /^TXSTREAM_CONSOLE_TOKEN=\S+ npx txstream console -c topics\/txstream\.yaml --port \d+ --allow-replay$/,
    ready: async (output) => output.includes('"msg":"console serving"'),
    verify: async (_output, port) => {
      // Nothing before the token: the login form.
      const page = await http(port, '/');
      expect(page?.status).toBe(200);
      expect(page?.body).toContain('Console token');
      expect((await fetch(`http://127.0.0.1:${port}/pipelines/orders-enricher/replay`, { method: 'POST' })).status).toBe(401);
    },
    stopped: async (output) => expect(output).toContain('(replay on)'),
  },
  {
    kind: 'elsewhere',
    match: /^docker compose up --build$/,
    reason: 'no Docker engine here: test/unit/compose-wiring.test.ts checks what the file wires, fleet.test.ts runs the same three workers and Prometheus as processes',
    check: () => {
      try {
        execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' });
      } catch {
        return; // no compose plugin on this machine
      }
      execFileSync('docker', ['compose', 'config', '--quiet'], { cwd: ROOT });
    },
  },
  // A soak runs for minutes on its own cluster: started, seen to bring its cluster up, then interrupted (it stops the cluster).
  {
    kind: 'run',
    match: /^npx txstream audit orders-enricher -c topics\/txstream\.yaml$/,
    verify: ({ code, output }) => {
      // After the demo: every order ended in orders.enriched, once.
      expect(output).toMatch(/OK: every processed input has exactly one ending/);
      expect(code).toBe(0);
    },
  },
  {
    kind: 'run',
    match: /^npx txstream audit orders-enricher -c topics\/txstream\.yaml --json$/,
    verify: ({ code, output }) => {
      const report = JSON.parse(output.slice(output.indexOf('{'), output.lastIndexOf('}') + 1)) as { inputs: number; missing: number; duplicated: number };
      expect(report.inputs).toBeGreaterThanOrEqual(10_000);
      expect({ missing: report.missing, duplicated: report.duplicated }).toEqual({ missing: 0, duplicated: 0 });
      expect(code).toBe(0);
    },
  },
  {
    kind: 'run',
    match: /^npx txstream audit orders-enricher -c topics\/txstream\.yaml --allow-skipped$/,
    verify: ({ code, output }) => {
      expect(output).toMatch(/^OK: /m);
      expect(code).toBe(0);
    },
  },
  { kind: 'start', match: /^npm run soak$/, progress: /cluster '.+' up at/ },
  { kind: 'start', match: /^npm run soak -- --seed 2$/, progress: /cluster '.+' up at/ },
  { kind: 'start', match: /^npm run soak -- --brokers 1 --inputs 100000$/, progress: /cluster '.+' up at/ },
  { kind: 'start', match: /^npm run load -- --quick$/, progress: /\S/ },
  { kind: 'start', match: /^npm run load$/, progress: /\S/ },
  { kind: 'start', match: /^npm run load -- run load-tests\/scenarios\/steady\.ts$/, progress: /\S/ },
  { kind: 'start', match: /^KAFKA_BROKERS=host:9092 npm run load -- --rounds 3$/, progress: /\S/ },
  {
    kind: 'run',
    match: /^npm run kafka:up$/,
    timeoutMs: 120_000,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/is up in [\d.]+ s; bootstrap: 127\.0\.0\.1:\d+/);
    },
  },
  {
    kind: 'elsewhere',
    match: /^npm run kafka:up -- --brokers 3$/,
    reason: 'three more JVMs on a shared 2-core machine: the three-broker tests start that cluster',
  },
  {
    kind: 'run',
    match: /^npm run kafka:up -- --port 29092$/,
    verify: ({ code, output }) => {
      // The same name is running already: it says so and changes nothing.
      expect(code).toBe(0);
      expect(output).toMatch(/is already running/);
    },
  },
  { kind: 'run', match: /^npm run kafka:status$/, verify: ({ code }) => expect(code).toBe(0) },
  {
    kind: 'run',
    match: /^npm run kafka:down$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/stopped/);
    },
  },
  { kind: 'run', match: /^npm run kafka:down -- --wipe$/, verify: ({ code }) => expect(code).toBe(0) },
  { kind: 'run', match: /^npm run kafka:fetch$/, timeoutMs: 300_000, verify: ({ code }) => expect(code).toBe(0) },
  {
    kind: 'run',
    match: /^npm run registry:up$/,
    timeoutMs: 300_000,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7/);
    },
  },
  { kind: 'run', match: /^npm run registry:status$/, verify: ({ code }) => expect(code).toBe(0) },
  { kind: 'run', match: /^npm run registry:down$/, verify: ({ code }) => expect(code).toBe(0) },
  {
    kind: 'run',
    match: /^npm run prometheus:up -- --target 127\.0\.0\.1:9464$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/Prometheus '\S+' is up at http:\/\/127\.0\.0\.1:\d+, scraping 127\.0\.0\.1:\d+/);
    },
  },
  {
    kind: 'run',
    match: /^npm run prometheus:status$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/Prometheus '\S+' runs at http:\/\/127\.0\.0\.1:\d+/);
    },
  },
  {
    kind: 'run',
    match: /^npm run prometheus:down$/,
    verify: ({ code, output }) => {
      expect(code).toBe(0);
      expect(output).toMatch(/^stopped Prometheus/m);
    },
  },
];

/** The README's addresses and ports, made the suite's; the local broker and registry named apart. */
function rewrite(command: string, port: number): string {
  let text = command
    .replaceAll('127.0.0.1:9092', brokers.join(','))
    .replaceAll('kafka:9092', brokers.join(','))
    .replaceAll('host:9092', brokers.join(','))
    .replace('--metrics-port 9464', `--metrics-port ${port}`)
    .replace('--target 127.0.0.1:9464', `--target 127.0.0.1:${port}`)
    .replace('--port 29092', `--port ${port}`)
    .replace('--port 8088', `--port ${port}`);
  if (/^npm run (kafka|registry|prometheus|postgres):/.test(text) && !/:fetch$/.test(text)) text += text.includes(' -- ') ? ` --name ${NAME}` : ` -- --name ${NAME}`;
  return text;
}

const running = new Set<ChildProcess>();
afterAll(async () => {
  for (const child of running) if (child.pid) process.kill(-child.pid, 'SIGKILL');
  // Whatever happened above, leave no broker or registry of ours behind.
  await spawnShell(`npm run -s kafka:down -- --name ${NAME} --wipe; npm run -s registry:down -- --name ${NAME} --wipe; npm run -s prometheus:down -- --name ${NAME} --wipe; npm run -s postgres:down -- --name ${NAME} --wipe`, {}).exit;
}, 120_000);

function spawnShell(command: string, env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  let output = '';
  const child = spawn('sh', ['-c', command], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KAFKA_BROKERS: brokers.join(','), TXSTREAM_LOG_FORMAT: 'json', TXSTREAM_LOG_LEVEL: 'info', ...env },
  });
  running.add(child);
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolveExit) =>
    child.once('close', (code) => {
      running.delete(child);
      resolveExit(code);
    }),
  );
  return { child, output: () => output, exit };
}

const commands = readmeCommands(README);

describe('the README commands', () => {
  it('finds the README commands, and has a check for each of them and none for a command it lost', () => {
    expect(commands.length).toBeGreaterThan(20);
    for (const command of commands) expect(CHECKS.filter((check) => check.match.test(command)).length, command).toBe(1);
    for (const check of CHECKS) expect(commands.some((command) => check.match.test(command)), String(check.match)).toBe(true);
  });

  for (const command of commands) {
    const check = CHECKS.find((candidate) => candidate.match.test(command));
    if (!check) continue;
    const timeout = check.kind === 'run' ? (check.timeoutMs ?? 90_000) + 10_000 : 240_000;
    it(`${check.kind === 'elsewhere' ? '(checked elsewhere) ' : ''}${command}`, async () => {
      if (check.kind === 'elsewhere') {
        expect(check.reason.length).toBeGreaterThan(10);
        check.check?.();
        return;
      }
      const port = await findFreePort();
      const env = {
        KAFKA_PORT: String(port),
        REGISTRY_PORT: String(port),
        PROMETHEUS_PORT: String(port),
        POSTGRES_PORT: String(port),
        ...(postgresUrl === undefined ? {} : { TXSTREAM_POSTGRES_URL: postgresUrl }),
      };
      const shell = spawnShell(rewrite(command, port), env);
      if (check.kind === 'run') {
        const timer = setTimeout(() => shell.child.pid && process.kill(-shell.child.pid, 'SIGKILL'), check.timeoutMs ?? 90_000);
        const code = await shell.exit;
        clearTimeout(timer);
        try {
          await check.verify({ code, output: shell.output() });
        } catch (error) {
          throw new Error(`${command}\n--- output:\n${shell.output().slice(-4000)}`, { cause: error });
        }
        return;
      }
      const deadline = Date.now() + 120_000;
      let exited: number | null | undefined;
      void shell.exit.then((code) => {
        exited = code;
      });
      const ready = async () => (check.kind === 'serve' ? check.ready(shell.output(), port) : check.progress.test(shell.output()));
      while (!(await ready())) {
        if (exited !== undefined) throw new Error(`${command} exited with ${exited} before it was ready:\n${shell.output().slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`${command} was not ready within 120 s:\n${shell.output().slice(-4000)}`);
        await sleep(200);
      }
      if (check.kind === 'serve') await check.verify?.(shell.output(), port);
      if (check.kind === 'start') {
        // Accepted and under way for a while, not refused at once.
        await sleep(10_000);
        expect(exited, shell.output().slice(-4000)).toBeUndefined();
      }
      process.kill(-(shell.child.pid as number), 'SIGTERM');
      await shell.exit;
      if (check.kind === 'serve') await (check.stopped ?? drained)(shell.output());
    }, timeout);
  }
});
