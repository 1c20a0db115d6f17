/**
 * Parent side of worker-child.ts: runs one txstream worker in a child Node process and asks
 * it for its totals over IPC. Its pid is what the connection and RSS counts read.
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RequestTrace } from './request-trace.js';
import type { RunTopics, WorkerGroup, WorkerSetup } from './worker-cells.js';

export interface ChildWorkerConfig {
  readonly brokers: string[];
  readonly setup: WorkerSetup;
  readonly topics: RunTopics;
  readonly groupPrefix: string;
  /** Extra Node flags for the worker process (e.g. `--max-old-space-size=128`). */
  readonly nodeOptions?: readonly string[];
  /** Run the TypeScript sources under tsx instead of the compiled JavaScript users run. */
  readonly fromSource?: boolean;
  /** Trace the worker's Kafka requests, event loop and collections (request-trace.ts); read with its totals. */
  readonly traceRequests?: boolean;
}

export type ChildRequest = { readonly id: number; readonly type: 'totals' } | { readonly id: number; readonly type: 'stop' };
export type Totals = ReturnType<WorkerGroup['totals']>;
export type ChildResponse =
  | { readonly id: number; readonly type: 'started'; readonly groupId: string }
  | { readonly id: number; readonly type: 'failed'; readonly message: string }
  | { readonly id: number; readonly type: 'totals'; readonly ready: boolean; readonly totals?: Totals; readonly trace?: RequestTrace }
  | { readonly id: number; readonly type: 'stopped'; readonly clean: boolean };

export interface ChildWorker {
  readonly pid: number;
  readonly groupId: string;
  /** False once the process has exited. */
  alive(): boolean;
  totals(): Promise<{ ready: boolean; totals?: Totals; trace?: RequestTrace }>;
  /** Stops the worker (a clean drain) and waits for the process to exit; kills it after timeoutMs. */
  stop(timeoutMs?: number): Promise<boolean>;
}

const CHILD_SOURCE = join(import.meta.dirname, 'worker-child.ts');
const CHILD_TSCONFIG = join(import.meta.dirname, '..', 'tsconfig.child.json');
/** Where tsc puts the compiled child and the txstream sources it imports (tsconfig.child.json). */
const CHILD_BUILT = join(import.meta.dirname, '..', '..', '.cache', 'load-build', 'load-tests', 'lib', 'worker-child.js');

let compiling: Promise<void> | undefined;

/**
 * Compiles the worker child with tsc, once per harness run (incremental: seconds). The measured
 * worker is plain JavaScript, as `npm run build` makes it for users: under tsx, esbuild's
 * keep-names wrappers around every function made at run time cost ~3 % of the worker's CPU.
 */
export function compileWorkerChild(): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  compiling ??= promisify(execFile)(process.execPath, [tsc, '-p', CHILD_TSCONFIG]).then(
    () => undefined,
    (error: { stdout?: string; message: string }) => {
      throw new Error(`compiling the worker child failed: ${error.stdout || error.message}`);
    },
  );
  return compiling;
}

export async function spawnWorker(config: ChildWorkerConfig, startTimeoutMs = 120_000): Promise<ChildWorker> {
  // The entry runs in the forked process itself (`node --import tsx` for the sources: no tsx
  // wrapper process), so the pid is the worker's. TXSTREAM_LOG_LEVEL passes through the environment.
  const nodeOptions = [...(config.nodeOptions ?? [])];
  if (!config.fromSource) await compileWorkerChild();
  const [script, execArgv] = config.fromSource ? [CHILD_SOURCE, ['--import', 'tsx', ...nodeOptions]] : [CHILD_BUILT, nodeOptions];
  const child: ChildProcess = fork(script, [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
      return { ready: response.ready, totals: response.totals, trace: response.trace };
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
