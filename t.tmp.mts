import { createTopics, produceNumbered, uniqueName } from './test/support/kafka.ts';
import { WorkerProcess, writeWorkerConfig } from './test/support/worker-process.ts';

const brokers = ['127.0.0.1:9092'];
const input = uniqueName('manual');
await createTopics(brokers, [{ topic: input, partitions: 2 }, { topic: input + '.out', partitions: 2 }, { topic: input + '.dlt' }]);
await produceNumbered(brokers, input, 3000);
const cfg = writeWorkerConfig({ brokers, groupId: uniqueName('g'), input, output: input + '.out', commitIntervalMs: 1500 });
const w = WorkerProcess.start(cfg, { handlerDelayMs: 3 });
await new Promise((r) => setTimeout(r, 6000));
w.signal('SIGSTOP');
await new Promise((r) => setTimeout(r, 3000));
w.signal('SIGCONT');
await new Promise((r) => setTimeout(r, 1000));
const t = Date.now();
const code = await Promise.race([w.stop(), new Promise((r) => setTimeout(() => r('TIMEOUT'), 30000))]);
console.log('exit', code, Date.now() - t, 'ms', 'pid', w.pid);
console.log(
  w
    .log()
    .split('\n')
    .slice(-4)
    .map((l) => l.slice(0, 300))
    .join('\n'),
);
