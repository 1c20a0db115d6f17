import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { DEFAULTS } from '../config/defaults.js';
import { watchEventLoop } from './event-loop.js';

/** What the ops endpoints look at: metrics and the worker's readiness. */
export interface Observable {
  readonly metrics: { readonly registry: Registry };
  /** Why the worker is not ready, or undefined when it is. */
  notReadyReason(): string | undefined;
  /** Liveness problems beyond the event loop (handler calls abandoned past their timeout). */
  health?(): { healthy: boolean; problems: string[] };
}

export interface OpsServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export interface OpsServerOptions {
  readonly port: number;
  /** Default DEFAULTS.metricsHost (every interface). */
  readonly host?: string;
  /** /healthz fails after the event loop was blocked longer than this. */
  readonly livenessMaxEventLoopDelayMs?: number;
  readonly livenessHoldMs?: number;
}

/**
 * `/metrics` (Prometheus text format), `/healthz` (liveness: 503 once the event loop was
 * blocked too long) and `/readyz` (ready: every pipeline joined, every assigned partition
 * open, none stuck, not draining; 503 with the reason otherwise), for Prometheus and probes.
 */
export async function startOpsServer(target: Observable, options: OpsServerOptions): Promise<OpsServer> {
  const loop = watchEventLoop({
    maxDelayMs: options.livenessMaxEventLoopDelayMs ?? DEFAULTS.livenessMaxEventLoopDelayMs,
    holdMs: options.livenessHoldMs ?? DEFAULTS.livenessHoldMs,
  });
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
      const blocked = loop.blocked();
      const problems = [...(blocked ? [blocked] : []), ...(target.health?.().problems ?? [])];
      response.writeHead(problems.length > 0 ? 503 : 200, { 'content-type': 'text/plain' });
      response.end(problems.length > 0 ? `not live: ${problems.join('; ')}\n` : 'ok\n');
      return;
    }
    if (path === '/readyz') {
      const reason = target.notReadyReason();
      response.writeHead(reason ? 503 : 200, { 'content-type': 'text/plain' });
      response.end(reason ? `not ready: ${reason}\n` : 'ready\n');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found: try /metrics, /healthz or /readyz\n');
  });
  const host = options.host ?? DEFAULTS.metricsHost;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, resolve);
    });
  } catch (error) {
    loop.stop();
    throw error;
  }
  return {
    port: (server.address() as AddressInfo).port,
    host,
    close: () =>
      new Promise((resolve) => {
        loop.stop();
        server.close(() => resolve());
      }),
  };
}
