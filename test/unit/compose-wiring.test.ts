import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SETTINGS } from '../../src/config/settings.js';

/**
 * No Docker engine runs where the suite runs, so `docker compose config` cannot check the file:
 * this checks that it wires what the fleet needs, and that the dashboard asks for metrics that exist.
 */
const root = resolve(import.meta.dirname, '../..');
const compose = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string>; healthcheck?: { test?: string[] }; deploy?: { replicas?: number }; depends_on?: Record<string, { condition: string }> }>;
};

describe('docker-compose.yml', () => {
  it('applies the topics once, then runs three workers serving metrics, scraped by Prometheus', () => {
    const { services } = compose;
    expect(Object.keys(services).sort()).toEqual(['console', 'grafana', 'kafka', 'postgres', 'prometheus', 'schema-registry', 'sink-worker', 'topics', 'worker']);
    expect(services.topics?.command).toEqual(['topics', 'apply', '--brokers', 'kafka:9092']);
    expect(services.worker?.deploy?.replicas).toBe(3);
    expect(services.worker?.depends_on?.topics?.condition).toBe('service_completed_successfully');
    const port = services.worker?.environment?.TXSTREAM_METRICS_PORT;
    expect(readFileSync(resolve(root, 'ops/prometheus.yml'), 'utf8')).toContain(`port: ${port}`);
    expect(JSON.stringify(services.worker?.healthcheck?.test)).toContain(`127.0.0.1:${port}/readyz`);
  });

  it('runs the console with a token from the environment, published on the host\'s loopback only', () => {
    const service = compose.services.console as { command?: string[]; environment?: Record<string, string>; ports?: string[] };
    expect(service.command).toEqual(['console', '--brokers', 'kafka:9092']);
    expect(service.environment?.TXSTREAM_CONSOLE_TOKEN).toMatch(/^\$\{TXSTREAM_CONSOLE_TOKEN:\?/);
    expect(service.ports).toEqual([`127.0.0.1:${service.environment?.TXSTREAM_CONSOLE_PORT}:${service.environment?.TXSTREAM_CONSOLE_PORT}`]);
  });

  it('runs the example sink pipeline against the compose PostgreSQL once it is healthy and the topics exist', () => {
    const { services } = compose;
    expect(services['sink-worker']?.command).toEqual(['run', '--topics-dir', 'examples/postgres-sink', '--brokers', 'kafka:9092']);
    expect(services['sink-worker']?.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(services['sink-worker']?.depends_on?.topics?.condition).toBe('service_completed_successfully');
    expect(services['sink-worker']?.environment?.TXSTREAM_POSTGRES_URL).toMatch(/^postgres:\/\/txstream@postgres:5432\/txstream$/);
    expect(services.postgres?.environment?.POSTGRES_PASSWORD).toBe(services['sink-worker']?.environment?.PGPASSWORD);
  });

  it('sets only environment variables the worker reads (test/integration/ops-server.test.ts runs them)', () => {
    const known = new Set([...SETTINGS.flatMap((spec) => spec.env), 'PGPASSWORD', 'SCHEMA_REGISTRY_URL', 'TXSTREAM_LOG_LEVEL', 'TXSTREAM_LOG_FORMAT', 'TXSTREAM_CONFIG', 'TXSTREAM_TOPICS_DIR']);
    for (const service of ['worker', 'topics', 'sink-worker', 'console'] as const) {
      for (const name of Object.keys(compose.services[service]?.environment ?? {})) expect(known, `${service}: ${name}`).toContain(name);
    }
    // The metrics server must listen on the container's interfaces, or Prometheus cannot reach it.
    expect(compose.services.worker?.environment?.TXSTREAM_METRICS_HOST ?? '0.0.0.0').toBe('0.0.0.0');
  });

  it('has a dashboard whose queries name only metrics the worker exports', () => {
    const dashboard = JSON.parse(readFileSync(resolve(root, 'ops/grafana/dashboards/txstream.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const source = readFileSync(resolve(root, 'src/observability/metrics.ts'), 'utf8');
    const names = dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => target.expr.match(/txstream_[a-z_]+/g) ?? []));
    expect(names.length).toBeGreaterThan(8);
    for (const name of new Set(names)) expect(source, name).toContain(`'${name.replace(/_(bucket|count|sum)$/, '')}'`);
  });
});

describe('the container image', () => {
  const dockerfile = readFileSync(resolve(root, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(resolve(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));

  it('runs a supported Node LTS (24) in every stage', () => {
    const images = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]);
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(/^node:24-/);
  });

  it('keeps local state and dependencies out of the build context, but not what the Dockerfile copies', () => {
    for (const heavy of ['node_modules', '.cache', '.kafka', '.registry', '.git']) expect(ignored).toContain(heavy);
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) => (match[1] as string).split(/\s+/));
    for (const path of copied) expect(ignored, path).not.toContain(path.replace(/\/$/, ''));
  });
});
