import { committedOffsets } from './kafka.js';
import { sleep } from './wait.js';
import { WorkerProcess } from './worker-process.js';

/**
 * A fleet of real `txstream run` processes of which one, picked at random, is killed
 * with SIGKILL every so often and replaced at once, for the fault tests and the soak.
 * A worker that exits by itself is replaced too, and counted. A replacement takes its
 * slot's instance id, as an orchestrator restarts a container under its name: its
 * producer's InitProducerId aborts what the killed one left open.
 */
export class ChaosFleet {
  readonly workers: WorkerProcess[] = [];
  kills = 0;
  selfExits: string[] = [];
  private launched = 0;
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly config: string,
    private readonly options: { size: number; name: string; handlerDelayMs?: number; failMode?: 'routing' | 'once' },
  ) {
    for (let slot = 0; slot < options.size; slot++) this.workers.push(this.launch(slot));
  }

  private launch(slot: number): WorkerProcess {
    const { name, handlerDelayMs, failMode } = this.options;
    return WorkerProcess.start(this.config, { name: `${name}-${this.launched++}`, instanceId: `${name}-slot${slot}`, handlerDelayMs, failMode });
  }

  /** Starts killing: one worker every `meanMs` ±50 %, chosen and timed by `random`. */
  killEvery(meanMs: number, random: () => number): void {
    this.running = (async () => {
      while (!this.stopping) {
        await sleep(Math.round(meanMs * (0.5 + random())));
        if (this.stopping) break;
        const index = Math.floor(random() * this.workers.length);
        const victim = this.workers[index];
        if (!victim) continue;
        victim.signal('SIGKILL');
        await victim.exited();
        this.kills++;
        this.workers[index] = this.launch(index);
        this.replaceExited();
      }
    })();
  }

  private replaceExited(): void {
    for (let i = 0; i < this.workers.length; i++) {
      const worker = this.workers[i];
      if (worker && worker.child.exitCode !== null) {
        this.selfExits.push(`worker ${worker.pid} exited with ${worker.child.exitCode}; log: ${worker.logFile}`);
        this.workers[i] = this.launch(i);
      }
    }
  }

  /** Stops killing; the workers keep running. */
  async calm(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.replaceExited();
  }

  /** Stops every worker gracefully; resolves with their exit codes. */
  async stop(): Promise<Array<number | null>> {
    await this.calm();
    return Promise.all(this.workers.map((worker) => worker.stop()));
  }

  async kill(): Promise<void> {
    this.stopping = true;
    for (const worker of this.workers) {
      worker.signal('SIGCONT');
      worker.signal('SIGKILL');
      await worker.exited();
    }
  }
}

/** The group's committed offsets on a topic, summed; undefined while the coordinator cannot answer. */
export async function committedTotal(brokers: string[], groupId: string, topic: string): Promise<number | undefined> {
  try {
    let total = 0;
    for (const offset of (await committedOffsets(brokers, groupId, topic)).values()) if (offset !== '-1') total += Number(offset);
    return total;
  } catch {
    return undefined;
  }
}
