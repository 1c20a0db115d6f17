import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * No Docker engine runs where the suite runs, so `docker compose config` cannot check the file:
 * this checks that it wires what the fleet needs, and that the dashboard asks for metrics that exist.
 */
const root = resolve(import.meta.dirname, '../..');
const compose = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string>; deploy?: { replicas?: number }; depends_on?: Record<string, { condition: string }> }>;
};

describe('docker-compose.yml', () => {
  it('applies the topics once, then runs three workers serving metrics, scraped by Prometheus', () => {
    const { services } = compose;
    expect(Object.keys(services).sort()).toEqual(['grafana', 'kafka', 'prometheus', 'schema-registry', 'topics', 'worker']);
    expect(services.topics?.command).toEqual(['topics', 'apply', '--brokers', 'kafka:9092']);
    expect(services.worker?.deploy?.replicas).toBe(3);
    expect(services.worker?.depends_on?.topics?.condition).toBe('service_completed_successfully');
    const port = services.worker?.environment?.TXSTREAM_METRICS_PORT;
    expect(readFileSync(resolve(root, 'ops/prometheus.yml'), 'utf8')).toContain(`port: ${port}`);
  });

  it('has a dashboard whose queries name only metrics the worker exports', () => {
    const dashboard = JSON.parse(readFileSync(resolve(root, 'ops/grafana/dashboards/txstream.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const source = readFileSync(resolve(root, 'src/observability/metrics.ts'), 'utf8');
    const names = dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => target.expr.match(/txstream_[a-z_]+/g) ?? []));
    expect(names.length).toBeGreaterThan(8);
    for (const name of new Set(names)) expect(source, name).toContain(`'${name.replace(/_(bucket|count|sum)$/, '')}'`);
  });
});
