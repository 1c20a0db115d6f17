import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** What the ops endpoints look at: metrics and the worker's readiness. */
export interface Observable {
  readonly metrics: { readonly registry: Registry };
  readonly ready: boolean;
  readonly status: string;
  /** Liveness beyond "the event loop answers": stuck handlers, a blocked loop. */
  health?(): { healthy: boolean; problems: string[] };
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus text format), `/healthz` (liveness: the event loop
 * answers) and `/readyz` (ready: every pipeline joined its group and the worker is
 * not draining; 503 otherwise), for Prometheus and Kubernetes probes.
 */
export async function startOpsServer(target: Observable, options: { port: number; host?: string }): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      target.metrics.registry.metrics().then(
        (body) => {
          response.writeHead(200, { 'content-type': target.metrics.registry.contentType });
          response.end(body);
        },
        (error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(`metrics failed: ${String(error)}\n`);
        },
      );
      return;
    }
    if (path === '/healthz') {
      const health = target.health?.() ?? { healthy: true, problems: [] };
      response.writeHead(health.healthy ? 200 : 503, { 'content-type': 'text/plain' });
      response.end(health.healthy ? 'ok\n' : `unhealthy: ${health.problems.join('; ')}\n`);
      return;
    }
    if (path === '/readyz') {
      const ready = target.ready;
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      response.end(`${ready ? 'ready' : 'not ready'} (${target.status})\n`);
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
