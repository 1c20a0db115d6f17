import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * What liveness looks at: handler calls that outlived their timeout and still have not
 * settled (abandoned, still holding whatever they hold), and how long the event loop
 * was last blocked. A process with either is not healthy: a restart is the only cure.
 */
export class HandlerWatch {
  private readonly abandoned = new Map<number, { records: string; since: number }>();
  private next = 0;

  /** A call passed its timeout; returns the function to call when it finally settles. */
  abandon(records: string): () => void {
    const id = this.next++;
    this.abandoned.set(id, { records, since: Date.now() });
    return () => this.abandoned.delete(id);
  }

  /** Abandoned calls still pending, oldest first. */
  pending(): Array<{ records: string; since: number }> {
    return [...this.abandoned.values()].sort((a, b) => a.since - b.since);
  }
}

/** Samples the event loop's delay; `blockedMs` is the longest delay of the last window. */
export class EventLoopWatch {
  private readonly histogram: IntervalHistogram;
  private lastMaxMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(windowMs = 10_000) {
    this.histogram = monitorEventLoopDelay({ resolution: 20 });
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.lastMaxMs = this.histogram.max / 1e6;
      this.histogram.reset();
    }, windowMs);
    this.timer.unref();
  }

  /** The longest event loop delay seen in the current or last window. */
  get blockedMs(): number {
    return Math.max(this.lastMaxMs, this.histogram.max / 1e6);
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
