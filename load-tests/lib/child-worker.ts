/**
 * Parent side of worker-child.ts: runs one txstream worker in a child Node process and asks
 * it for its totals over IPC. Its pid is what the connection and RSS counts read.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { RunTopics, WorkerGroup, WorkerSetup } from './worker-cells.js';

export interface ChildWorkerConfig {
  readonly brokers: string[];
  readonly setup: WorkerSetup;
  readonly topics: RunTopics;
  readonly groupPrefix: string;
  /** Extra Node flags for the worker process (e.g. `--max-old-space-size=128`). */
  readonly nodeOptions?: readonly string[];
}

export type ChildRequest = { readonly id: number; readonly type: 'totals' } | { readonly id: number; readonly type: 'stop' };
export type Totals = ReturnType<WorkerGroup['totals']>;
export type ChildResponse =
  | { readonly id: number; readonly type: 'started'; readonly groupId: string }
  | { readonly id: number; readonly type: 'failed'; readonly message: string }
  | { readonly id: number; readonly type: 'totals'; readonly ready: boolean; readonly totals?: Totals }
  | { readonly id: number; readonly type: 'stopped'; readonly clean: boolean };

export interface ChildWorker {
  readonly pid: number;
  readonly groupId: string;
  /** False once the process has exited. */
  alive(): boolean;
  totals(): Promise<{ ready: boolean; totals?: Totals }>;
  /** Stops the worker (a clean drain) and waits for the process to exit; kills it after timeoutMs. */
  stop(timeoutMs?: number): Promise<boolean>;
}

const CHILD_SCRIPT = join(import.meta.dirname, 'worker-child.ts');

export async function spawnWorker(config: ChildWorkerConfig, startTimeoutMs = 120_000): Promise<ChildWorker> {
  // `node --import tsx` runs the TypeScript entry in this very process (no tsx wrapper process),
  // so the pid is the worker's. TXSTREAM_LOG_LEVEL passes through the environment.
  const child: ChildProcess = fork(CHILD_SCRIPT, [JSON.stringify(config)], { execArgv: ['--import', 'tsx', ...(config.nodeOptions ?? [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve: (response: ChildResponse) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      // A request the child never answered would otherwise wait forever.
      for (const waiter of pending.values()) waiter.reject(new Error(`worker child exited (${signal ?? code})`));
      pending.clear();
      resolve();
    }),
  );
  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker child did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
    child.on('message', (response: ChildResponse) => {
      if (response.type === 'started') { clearTimeout(timer); resolve(response.groupId); }
      else if (response.type === 'failed') { clearTimeout(timer); reject(new Error(`worker child failed to start: ${response.message}`)); }
      else pending.get(response.id)?.resolve(response);
      pending.delete(response.id);
    });
    void exit.then(() => { clearTimeout(timer); reject(new Error('worker child exited before it started')); });
  });
  const request = <T extends ChildResponse>(type: ChildRequest['type']): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited || !child.connected) { reject(new Error('worker child is gone')); return; }
      const id = nextId++;
      pending.set(id, { resolve: resolve as (response: ChildResponse) => void, reject });
      child.send({ id, type } satisfies ChildRequest);
    });
  let groupId: string;
  try {
    groupId = await started;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  if (child.pid === undefined) throw new Error('worker child has no pid');
  return {
    pid: child.pid,
    groupId,
    alive: () => !exited,
    async totals() {
      const response = await request<Extract<ChildResponse, { type: 'totals' }>>('totals');
      return { ready: response.ready, totals: response.totals };
    },
    async stop(timeoutMs = 60_000) {
      if (exited) return false;
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        const response = await request<Extract<ChildResponse, { type: 'stopped' }>>('stop');
        await exit;
        return response.clean;
      } catch {
        await exit;
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
