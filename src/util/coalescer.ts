/**
 * Runs one operation at a time over everything queued meanwhile: items that arrive while an
 * operation is on its way wait, and the next operation takes them all. Many callers that each
 * need a round trip (one partition's produce, one partition's offset commit) then share round
 * trips instead of queueing for one each: the more of them at once, the larger each operation.
 *
 * Every item of an operation shares its outcome: all resolve, or all reject with its error.
 */
export class Coalescer<T> {
  private waiting: Array<{ readonly item: T; readonly resolve: () => void; readonly reject: (error: unknown) => void }> = [];
  private running = false;

  constructor(private readonly operation: (items: readonly T[]) => Promise<void>) {}

  run(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const taken = this.waiting;
      this.waiting = [];
      try {
        await this.operation(taken.map(({ item }) => item));
        for (const { resolve } of taken) resolve();
      } catch (error) {
        for (const { reject } of taken) reject(error);
      }
    }
    this.running = false;
  }
}
