import { afterEach, describe, expect, inject, it } from 'vitest';
import { type ChildWorker, spawnWorker } from '../../load-tests/lib/child-worker.js';
import { createTopics, produceNumbered, uniqueName } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';

const brokers = inject('kafkaBrokers');
const children: ChildWorker[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.stop(10_000)));
});

/**
 * The partitions sweep measures a worker in a child process compiled by tsc (what users run),
 * not the sources under tsx: the compile step and the compiled child must work, or every
 * figure of the sweep is lost at its first cell.
 */
describe('the load harness worker child', () => {
  it('compiles, starts, processes its input transactionally, reports totals and stops cleanly', async () => {
    const prefix = uniqueName('child');
    const topics = { input: `${prefix}.in`, output: `${prefix}.out`, deadLetter: `${prefix}.dlt` };
    await createTopics(brokers, [{ topic: topics.input, partitions: 3 }, { topic: topics.output, partitions: 3 }, { topic: topics.deadLetter }]);
    await produceNumbered(brokers, topics.input, 300);
    const child = await spawnWorker({ brokers, setup: { strategy: 'transactional', batchSize: 50, workers: 1 }, topics, groupPrefix: uniqueName('group') });
    children.push(child);
    await waitFor(async () => ((await child.totals()).totals?.recordsIn ?? 0) >= 300, 'the child worker to commit 300 records');
    const { totals } = await child.totals();
    expect(totals?.recordsIn).toBe(300);
    expect(totals?.transactions).toBeGreaterThan(0);
    children.splice(children.indexOf(child), 1);
    expect(await child.stop(20_000)).toBe(true);
    expect(child.alive()).toBe(false);
  }, 120_000);
});
