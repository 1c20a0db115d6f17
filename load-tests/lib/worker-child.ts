/**
 * The measured txstream worker as a process of its own (spawned by child-worker.ts), so that
 * its TCP connections and its peak RSS are its own and not the harness's, whose producers,
 * readers and admin clients would otherwise be counted with it.
 *
 * argv[2] is a JSON ChildWorkerConfig. It answers the parent's IPC requests ('totals', 'stop')
 * and stops by itself when the parent goes away (the IPC channel closes).
 */
import { startWorkers, type WorkerGroup } from './worker-cells.js';
import type { ChildRequest, ChildResponse, ChildWorkerConfig } from './child-worker.js';
import { startRequestTrace } from './request-trace.js';

const config = JSON.parse(process.argv[2] ?? '{}') as ChildWorkerConfig;
// Before the worker makes its first client, so that every request is seen.
const readTrace = config.traceRequests ? startRequestTrace() : undefined;
const send = (message: ChildResponse) => process.send?.(message);

let group: WorkerGroup | undefined;
let stopping: Promise<boolean> | undefined;
const stop = () => (stopping ??= group ? group.stop() : Promise.resolve(true));

process.on('message', (request: ChildRequest) => {
  if (request.type === 'totals') {
    const totals = group?.totals();
    send({ id: request.id, type: 'totals', ready: group?.workers.every((worker) => worker.ready) ?? false, totals, trace: readTrace?.() });
  } else if (request.type === 'stop') {
    void stop().then((clean) => {
      send({ id: request.id, type: 'stopped', clean });
      process.disconnect?.();
    });
  }
});
// The harness died or closed the channel: stop rather than run on unattended.
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0));
});

startWorkers({ brokers: config.brokers }, config.setup, config.topics, config.groupPrefix).then(
  (started) => {
    group = started;
    send({ id: 0, type: 'started', groupId: started.groupId });
  },
  (error: unknown) => {
    send({ id: 0, type: 'failed', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
