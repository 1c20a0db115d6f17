/**
 * Runs operations one at a time, in the order they were queued: a failed operation does not
 * stop the ones after it. The partition task and the pipeline transaction each keep one, so
 * their timers, batches and rebalance handling never interleave; the topic catalog reads one
 * request at a time through one.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation, operation);
    this.tail = result.catch(() => {});
    return result;
  }
}
