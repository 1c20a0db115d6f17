import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { findFreePort, isAlive, isPortFree, LocalSetupError, requireCommand, sleep, stopProcess, tail } from '../local-server/supervisor.js';

/**
 * A local Prometheus (Debian's `prometheus` package, or any `prometheus` binary on the PATH) for the
 * fleet tests and for looking at workers without Docker: its config is generated into
 * `.prometheus/<name>/`, scraping the targets of a file_sd file that can be rewritten while it runs
 * (Prometheus re-reads it), so a test points it at workers as they start.
 */
const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const HOST = '127.0.0.1';

export function prometheusDir(name: string): string {
  return join(process.env.TXSTREAM_PROMETHEUS_STATE_DIR ?? join(REPO_ROOT, '.prometheus'), name);
}

interface PrometheusState {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  readonly scrapeIntervalSeconds: number;
}

export interface PrometheusStartOptions {
  readonly name: string;
  /** 0 or absent: a free port. */
  readonly port?: number;
  /** Worker ops servers (host:port) to scrape; more can be set later with setTargets. */
  readonly targets?: readonly string[];
  readonly scrapeIntervalSeconds?: number;
  readonly readyTimeoutMs?: number;
}

export interface QueryResult {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export class LocalPrometheus {
  private constructor(private readonly state: PrometheusState) {}

  static load(name: string): LocalPrometheus | undefined {
    const file = join(prometheusDir(name), 'state.json');
    if (!existsSync(file)) return undefined;
    return new LocalPrometheus(JSON.parse(readFileSync(file, 'utf8')) as PrometheusState);
  }

  static async start(options: PrometheusStartOptions): Promise<{ prometheus: LocalPrometheus; alreadyRunning: boolean }> {
    const existing = LocalPrometheus.load(options.name);
    if (existing?.running) {
      if (options.targets) existing.setTargets(options.targets);
      return { prometheus: existing, alreadyRunning: true };
    }
    requireCommand('prometheus', 'the local Prometheus (apt-get install prometheus)');
    const dir = prometheusDir(options.name);
    mkdirSync(join(dir, 'data'), { recursive: true });
    const port = options.port || (await findFreePort());
    if (!(await isPortFree(port))) throw new LocalSetupError(`port ${port} is busy; pick another with --port`);
    const scrapeIntervalSeconds = options.scrapeIntervalSeconds ?? 5;
    writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(join(dir, 'targets.json'), scrapeIntervalSeconds));
    writeTargets(dir, options.targets ?? []);
    const logFile = join(dir, 'prometheus.log');
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=${HOST}:${port}`,
        '--storage.tsdb.retention.time=1d',
      ],
      { detached: true, stdio: ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')] },
    );
    if (child.pid === undefined) throw new LocalSetupError(`could not start prometheus; see ${logFile}`);
    child.unref();
    const prometheus = new LocalPrometheus({ name: options.name, port, pid: child.pid, scrapeIntervalSeconds });
    writeFileSync(join(dir, 'state.json'), JSON.stringify(prometheus.state, null, 2));
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    while (!(await prometheus.ready())) {
      if (!isAlive(child.pid)) throw new LocalSetupError(`prometheus exited during start-up; log:\n${tail(logFile)}`);
      if (Date.now() > deadline) {
        await stopProcess(child.pid, 5000);
        throw new LocalSetupError(`prometheus did not answer on ${prometheus.url} in time; log:\n${tail(logFile)}`);
      }
      await sleep(200);
    }
    return { prometheus, alreadyRunning: false };
  }

  get name(): string {
    return this.state.name;
  }

  get url(): string {
    return `http://${HOST}:${this.state.port}`;
  }

  get running(): boolean {
    return isAlive(this.state.pid);
  }

  get scrapeIntervalSeconds(): number {
    return this.state.scrapeIntervalSeconds;
  }

  async ready(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/-/ready`)).ok;
    } catch {
      return false;
    }
  }

  /** Replaces the scraped targets; Prometheus notices the file change by itself. */
  setTargets(targets: readonly string[]): void {
    writeTargets(prometheusDir(this.state.name), targets);
  }

  /** An instant query through the HTTP API; throws with Prometheus' own error for a bad query. */
  async query(expr: string): Promise<QueryResult[]> {
    const response = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: QueryResult[] } };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error ?? response.status}`);
    return body.data?.result ?? [];
  }

  /** The scrape targets and their health, as /api/v1/targets reports them. */
  async targets(): Promise<Array<{ scrapeUrl: string; health: string; lastError: string }>> {
    const body = (await (await fetch(`${this.url}/api/v1/targets`)).json()) as {
      data: { activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string }> };
    };
    return body.data.activeTargets;
  }

  async stop(options: { wipe?: boolean } = {}): Promise<'stopped' | 'killed' | 'not-running'> {
    const result = await stopProcess(this.state.pid, 10_000);
    if (options.wipe) rmSync(prometheusDir(this.state.name), { recursive: true, force: true });
    return result;
  }
}

/** Scrapes the file_sd targets; the job name and labels match ops/prometheus.yml's, so the dashboard's queries apply. */
export function prometheusConfig(targetsFile: string, scrapeIntervalSeconds: number): string {
  return stringify({
    global: { scrape_interval: `${scrapeIntervalSeconds}s`, evaluation_interval: `${scrapeIntervalSeconds}s` },
    scrape_configs: [{ job_name: 'txstream', file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }] }],
  });
}

function writeTargets(dir: string, targets: readonly string[]): void {
  writeFileSync(join(dir, 'targets.json'), JSON.stringify(targets.length > 0 ? [{ targets: [...targets] }] : [], null, 2));
}
