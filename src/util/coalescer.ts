/**
 * Runs one operation at a time over everything queued meanwhile: items that arrive while an
 * operation is on its way wait, and the next operation takes them all. Many callers that each
 * need a round trip (one partition's produce, one partition's offset commit) then share round
 * trips instead of queueing for one each: the more of them at once, the larger each operation.
 *
 * Every item of an operation shares its outcome: all resolve, or all reject with its error. An
 * item that must go alone (`goesAlone`: a write whose failure must be its own) is the only one
 * of its operation.
 */
export class Coalescer<T> {
  private waiting: Array<{ readonly item: T; readonly resolve: () => void; readonly reject: (error: unknown) => void }> = [];
  private running = false;

  constructor(
    private readonly operation: (items: readonly T[]) => Promise<void>,
    private readonly goesAlone: (item: T) => boolean = () => false,
  ) {}

  run(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const taken = takeTogether(this.waiting, ({ item }) => this.goesAlone(item));
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

/**
 * Removes from `queue` and returns what goes out together next: everything up to the first
 * item that must go alone, or that item by itself when it is first.
 */
export function takeTogether<T>(queue: T[], goesAlone: (item: T) => boolean): T[] {
  const [first] = queue;
  if (first !== undefined && goesAlone(first)) return queue.splice(0, 1);
  const alone = queue.findIndex(goesAlone);
  return queue.splice(0, alone < 0 ? queue.length : alone);
}
