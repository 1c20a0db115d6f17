/**
 * Handler calls that outlived their timeout and still have not settled (abandoned, still
 * holding whatever they hold): a process with one is not healthy, a restart is the only
 * cure. /healthz also fails on a blocked event loop (src/observability/event-loop.ts).
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
