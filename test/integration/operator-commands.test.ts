import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type TopicsIo, topicsApply } from '../../src/cli/topics.js';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { CommandError, ConfigError } from '../../src/errors/index.js';
import { createKafka } from '../../src/kafka/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { defineHandler, definePipeline, FAILURE_HEADERS, REPLAY_HEADERS } from '../../src/index.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { replayDeadLetters } from '../../src/routing/replay.js';
import { createTopics, produce, produceAborted, readTopics, uniqueName, withAdmin } from '../support/kafka.js';
import { writeWorkerConfig } from '../support/worker-process.js';

/** Operator commands with a safety: deletes need a scope, replays never skip what they did not copy. */

const brokers = inject('kafkaBrokers');
const dirs: string[] = [];
const quiet = () => createLogger({ level: 'silent' });

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function capture(): { io: TopicsIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (line) => out.push(line), err: (line) => err.push(line), exit: () => {} }, out, err };
}

const exists = (names: string[]) => withAdmin(brokers, async (admin) => new Set(await admin.listTopics())).then((all) => names.filter((name) => all.has(name)));

describe('topics apply --allow-delete', () => {
  it('refuses without --scope and changes nothing; within a scope it never deletes another tool\'s topic', async () => {
    const p = uniqueName('del');
    const dir = mkdtempSync(join(tmpdir(), 'txstream-operator-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'topics.yaml'), `topics:\n  - name: ${p}.orders\n    partitions: 1\n`);
    const legacy = `${p}.legacy`;
    const connect = `connect-${p}-offsets`;
    await createTopics(brokers, [{ topic: `${p}.orders` }, { topic: legacy }, { topic: connect }]);

    const unscoped = capture();
    expect(await topicsApply({ dir, brokers: brokers.join(','), allowDelete: true }, unscoped.io)).toBe(1);
    expect(unscoped.err).toEqual([
      'txstream: --allow-delete needs --scope <prefix...>: name the prefixes of the topics these files own (e.g. --scope orders.); nothing was changed',
    ]);
    expect(await exists([legacy, connect])).toEqual([legacy, connect]);

    const scoped = capture();
    expect(await topicsApply({ dir, brokers: brokers.join(','), allowDelete: true, scope: [p, `connect-${p}`] }, scoped.io)).toBe(0);
    expect(scoped.out).toContain(`- ${legacy}: delete (1 partitions; not in the files, --allow-delete given)`);
    expect(scoped.out).toContain(`! ${connect}: in the cluster but not in the files (1 partitions); left alone`);
    await expect.poll(() => exists([legacy, connect]), { timeout: 15_000 }).toEqual([connect]);
  });
});

describe('topics apply config values', () => {
  it('asks the broker to validate first: a bad value creates nothing and names the topic and the reason', async () => {
    const p = uniqueName('cfg');
    const dir = mkdtempSync(join(tmpdir(), 'txstream-operator-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'topics.yaml'),
      // A value only the broker knows to refuse (the files' checks cover the common configs, not this one).
      `topics:\n  - name: ${p}.good\n    partitions: 1\n  - name: ${p}.bad\n    partitions: 1\n    configs:\n      segment.jitter.ms: -5\n`,
    );
    const run = capture();
    expect(await topicsApply({ dir, brokers: brokers.join(','), scope: [p] }, run.io)).toBe(1);
    expect(run.err.join('\n')).toMatch(new RegExp(`^txstream: the broker refuses 1 change\\(s\\), so nothing was changed:\\n  - ${p}\\.bad: segment\\.jitter\\.ms = -5: INVALID_CONFIG`));
    // Nothing at all was created, not even the valid topic.
    expect(await exists([`${p}.good`, `${p}.bad`])).toEqual([]);
  });
});

describe('dlt replay filters', () => {
  it('refuses a mistyped filter, stops at the first record a narrow filter leaves out, and a correct replay afterwards finds every record', async () => {
    const input = uniqueName('filter');
    const dlt = `${input}.dlt`;
    await createTopics(brokers, [{ topic: input }, { topic: `${input}.out` }, { topic: dlt }]);
    const dead = (n: number, errorClass: string) => ({
      key: `k${n}`,
      value: JSON.stringify({ n }),
      headers: {
        [FAILURE_HEADERS.originalTopic]: input,
        [FAILURE_HEADERS.originalPartition]: '0',
        [FAILURE_HEADERS.originalOffset]: String(n),
        [FAILURE_HEADERS.attempt]: '1',
        [FAILURE_HEADERS.errorClass]: errorClass,
        [FAILURE_HEADERS.reason]: errorClass === 'DecodeError' ? 'decode-failed' : 'policy-dead-letter',
      },
    });
    await produce(brokers, dlt, [dead(0, 'TypeError'), dead(1, 'DecodeError'), dead(2, 'TypeError')]);
    const handler = defineHandler({ handle: () => undefined });
    const pipeline = resolvePipeline(definePipeline({ name: 'filter', input, output: `${input}.out`, handler, errors: { onError: 'dead-letter' } }), {
      commit: DEFAULT_SETTINGS.commit,
      groupId: uniqueName('g'),
    });
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });
    const replay = (filters: string[], skipUnmatched = false) => replayDeadLetters({ kafka, pipeline, logger: quiet(), filters, skipUnmatched });

    const mistyped = await replay(['error-clas=DecodeError']).catch((error: unknown) => error);
    expect(mistyped).toBeInstanceOf(ConfigError);
    expect((mistyped as Error).message).toMatch(/^--filter 'error-clas=DecodeError': unknown name 'error-clas'; known: key, dlt-reason, error-class/);
    await expect(replay(['dlt-reason=decode-faild'])).rejects.toThrow("'decode-faild' is not a known dlt-reason");

    // A correct but narrow filter: the first record does not match, so nothing moves.
    const narrow = await replay(['error-class=DecodeError']);
    expect(narrow).toMatchObject({ replayed: 0, passedOver: 0, stoppedAt: [{ topic: dlt, partition: 0, offset: '0', reason: 'does not match the filters' }] });
    // With --skip-unmatched it replays the match and lists what it passed over.
    const skipping = await replay(['error-class=DecodeError'], true);
    expect(skipping).toMatchObject({ replayed: 1, passedOver: 2 });
    expect(skipping.passedOverSample.map((record) => record.offset)).toEqual(['0', '2']);

    const copies = await readTopics(brokers, [input], { until: (r) => r.length >= 1 });
    expect(copies.map((r) => [JSON.parse(r.value ?? '{}').n, r.headers[REPLAY_HEADERS.replayedFrom]])).toEqual([[1, `${dlt}/0/1`]]);
  });

  it('leaves the cursor before a record a filter left out, so the replay after it still finds it', async () => {
    const input = uniqueName('cursor');
    const dlt = `${input}.dlt`;
    await createTopics(brokers, [{ topic: input }, { topic: `${input}.out` }, { topic: dlt }]);
    await produce(
      brokers,
      dlt,
      [0, 1].map((n) => ({ key: `k${n}`, value: JSON.stringify({ n }), headers: { [FAILURE_HEADERS.originalTopic]: input, [FAILURE_HEADERS.errorClass]: 'TypeError' } })),
    );
    const handler = defineHandler({ handle: () => undefined });
    const pipeline = resolvePipeline(definePipeline({ name: 'cursor', input, output: `${input}.out`, handler }), { commit: DEFAULT_SETTINGS.commit, groupId: uniqueName('g') });
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet(), filters: ['error-class=DecodeError'] })).toMatchObject({ replayed: 0, scanned: 0 });
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet() })).toMatchObject({ replayed: 2, scanned: 2 });
  });
});

/** `count` dead letters of `input` on its dead-letter topic, spread over its partitions by key. */
function deadLetters(input: string, count: number, from = 0) {
  return Array.from({ length: count }, (_, i) => ({
    key: `k${from + i}`,
    value: JSON.stringify({ n: from + i }),
    headers: { [FAILURE_HEADERS.originalTopic]: input, [FAILURE_HEADERS.errorClass]: 'TypeError', [FAILURE_HEADERS.reason]: 'retries-exhausted' },
  }));
}

function replayPipeline(input: string, groupId = uniqueName('g')) {
  const handler = defineHandler({ handle: () => undefined });
  return resolvePipeline(definePipeline({ name: 'replayed', input, output: `${input}.out`, handler }), { commit: DEFAULT_SETTINGS.commit, groupId });
}

/** Fresh topics for a replay (an input, its output, its dead-letter topic holding `count` dead letters) and the pipeline over them. */
async function deadLettersToReplay(name: string, count: number, dltPartitions?: number) {
  const input = uniqueName(name);
  const dlt = `${input}.dlt`;
  await createTopics(brokers, [{ topic: input }, { topic: `${input}.out` }, { topic: dlt, ...(dltPartitions === undefined ? {} : { partitions: dltPartitions }) }]);
  await produce(brokers, dlt, deadLetters(input, count));
  return { input, dlt, pipeline: replayPipeline(input) };
}

/** The copies on the input, by the dead letter each came from: every one must appear once. */
async function copiesOf(input: string, expected: number): Promise<string[]> {
  const records = await readTopics(brokers, [input], { until: (r) => r.length >= expected, quietMs: 2000 });
  return records.map((record) => record.headers[REPLAY_HEADERS.replayedFrom] ?? '(none)').sort();
}

const settle = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), new Promise<{ timedOut: true }>((done) => setTimeout(() => done({ timedOut: true }), ms))]);

describe('dlt replay counts', () => {
  it('counts only what committed: a batch whose transaction failed is copied again and counted once', async () => {
    const { input, pipeline } = await deadLettersToReplay('recount', 30, 1);
    // One of the replay's commits fails (as one fenced by a rebalance does), after its copies were sent.
    const real = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });
    let commits = 0;
    const kafka = new Proxy(real, {
      get(target, property, receiver) {
        if (property !== 'producer') {
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return (config: Parameters<typeof real.producer>[0]) => {
          const producer = target.producer(config);
          const begin = producer.transaction.bind(producer);
          producer.transaction = async () => {
            const transaction = await begin();
            const commit = transaction.commit.bind(transaction);
            transaction.commit = async () => {
              if (++commits === 2) throw new Error('the commit failed (test)');
              return commit();
            };
            return transaction;
          };
          return producer;
        };
      },
    });

    // 20 a second: 20 copies per transaction; the second transaction (the last 10) fails after sending them.
    const result = await replayDeadLetters({ kafka, pipeline, logger: quiet(), ratePerSecond: 20 });

    expect(commits).toBeGreaterThan(2);
    expect(result).toMatchObject({ replayed: 30, scanned: 30, matched: 30 });
    const copies = await copiesOf(input, 30);
    expect(copies).toHaveLength(30);
    expect(new Set(copies).size).toBe(30);
  });
});

describe('dlt replay, two at once', () => {
  it('a replay started while one is running refuses at once, naming it; the running one copies every dead letter once', async () => {
    const { input, pipeline } = await deadLettersToReplay('busy', 60, 2);
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });

    // 10 a second: the first replay runs for 6 s, long enough to see the second join (its heartbeat comes every 3 s).
    const first = settle(replayDeadLetters({ kafka, pipeline, logger: quiet(), ratePerSecond: 10 }), 60_000);
    const replayGroup = `${pipeline.groupId}.dlt-replay`;
    // Its first transaction committed: it is past its own check and copying.
    await readTopics(brokers, [input], { until: (r) => r.length >= 1, quietMs: 0 });
    const second = await settle(replayDeadLetters({ kafka, pipeline, logger: quiet() }), 30_000);
    expect(second).toMatchObject({ error: expect.any(CommandError) });
    expect(((second as { error: Error }).error).message).toMatch(
      new RegExp(`^dlt replay: another replay of pipeline 'replayed' is running or starting \\(group ${replayGroup}: member \\S+ \\(replay-test@[^)]+\\)\\); this one replayed nothing`),
    );
    expect(await first).toMatchObject({ value: { replayed: 60, scanned: 60 } });
    const copies = await copiesOf(input, 60);
    expect(copies).toHaveLength(60);
    expect(new Set(copies).size).toBe(60);
    // And one started after it finds nothing left, and ends.
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet() })).toMatchObject({ replayed: 0, scanned: 0 });
  });

  it('replays started together never copy a dead letter twice, and a replay after them finds the rest', async () => {
    const { input, pipeline } = await deadLettersToReplay('together', 60, 3);
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });

    const outcomes = await Promise.all([0, 1, 2].map(() => settle(replayDeadLetters({ kafka, pipeline, logger: quiet(), ratePerSecond: 30 }), 90_000)));
    for (const outcome of outcomes) {
      expect(outcome).not.toHaveProperty('timedOut');
      if ('error' in outcome) expect((outcome.error as Error).message).toMatch(/^dlt replay: another replay of pipeline 'replayed' is running or starting/);
    }
    // Whichever ran (none, if all refused each other), the next replay completes the work.
    const after = await replayDeadLetters({ kafka, pipeline, logger: quiet() });
    const replayed = outcomes.reduce((sum, outcome) => sum + ('value' in outcome ? (outcome.value as { replayed: number }).replayed : 0), 0) + after.replayed;
    expect(replayed).toBe(60);
    const copies = await copiesOf(input, 60);
    expect(copies).toHaveLength(60);
    expect(new Set(copies).size).toBe(60);
  });
});

describe('dlt replay, a dead-letter topic that grows meanwhile', () => {
  it('ends at the end offsets it started with, when a transaction marker took the last of them and new records follow it', async () => {
    const { input, dlt, pipeline } = await deadLettersToReplay('grows', 4);
    // An aborted record and its marker end the topic: the replay's end offset is past both.
    await produceAborted(brokers, dlt, deadLetters(input, 1, 100));
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });
    // One copy a second: the new dead letters arrive while the first ones are being copied, in the same fetches.
    const replay = settle(replayDeadLetters({ kafka, pipeline, logger: quiet(), ratePerSecond: 1 }), 45_000);
    await readTopics(brokers, [input], { until: (r) => r.length >= 1, quietMs: 0 });
    await produce(brokers, dlt, deadLetters(input, 3, 200));
    expect(await replay).toMatchObject({ value: { scanned: 4, replayed: 4 } });
    expect(await copiesOf(input, 4)).toEqual([0, 1, 2, 3].map((offset) => `${dlt}/0/${offset}`));
  });
});

describe('dlt replay, input topic gone', () => {
  const CLI = join(resolve(import.meta.dirname, '../..'), 'bin', 'txstream.js');
  const txstream = async (args: string[]) => {
    const started = Date.now();
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_BROKERS: '' }, timeout: 60_000 });
      return { code: 0, stdout, stderr, ms: Date.now() - started };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string; killed?: boolean };
      return { code: failed.killed ? 'timed out' : failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '', ms: Date.now() - started };
    }
  };

  it('exits 1 within seconds naming the topic, and keeps the dead letters for a replay once it exists', async () => {
    const input = uniqueName('gone');
    const dlt = `${input}.dlt`;
    await createTopics(brokers, [{ topic: `${input}.out` }, { topic: dlt }]);
    await produce(brokers, dlt, deadLetters(input, 3));
    const groupId = uniqueName('g');
    const config = writeWorkerConfig({ brokers, groupId, input, output: `${input}.out` });
    dirs.push(resolve(config, '..'));

    const run = await txstream(['dlt', 'replay', 'echo', '-c', config]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      `txstream: dlt replay: the input topic '${input}' of pipeline 'echo' does not exist, so the dead letters of '${dlt}' have nowhere to go; ` +
        'nothing was replayed and they stay where they are (create the topic, e.g. with txstream topics apply, and replay again)',
    ]);
    expect(run.ms).toBeLessThan(20_000);

    await createTopics(brokers, [{ topic: input }]);
    const again = await txstream(['dlt', 'replay', 'echo', '-c', config]);
    expect(again).toMatchObject({ code: 0, stdout: 'replayed 3 of 3 dead-letter record(s) scanned\n' });
  });

  it('deleted during a replay: one line and an exit, not a consumer restarting for ever; what was not committed stays', async () => {
    const { input, dlt, pipeline } = await deadLettersToReplay('deleted', 40);
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });

    // 4 a second, one transaction a second: the topic goes after the first copies, long before the end.
    const replay = settle(replayDeadLetters({ kafka, pipeline, logger: quiet(), ratePerSecond: 4 }), 60_000);
    await readTopics(brokers, [input], { until: (r) => r.length >= 1, quietMs: 0 });
    await withAdmin(brokers, (admin) => admin.deleteTopics({ topics: [input] }));
    const deletedAt = Date.now();
    const outcome = await replay;
    expect(outcome).toMatchObject({ error: expect.any(CommandError) });
    expect((outcome as { error: Error }).error.message).toMatch(/^dlt replay of pipeline 'replayed': its Kafka consumer \(group \S+\.dlt-replay\) failed: /);
    expect(Date.now() - deletedAt).toBeLessThan(30_000);
    const committed = await withAdmin(brokers, (admin) => admin.fetchOffsets({ groupId: `${pipeline.groupId}.dlt-replay`, topics: [dlt] }));
    const offset = Number(committed[0]?.partitions[0]?.offset);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(40);
  });
});

describe('topics apply, two at once', () => {
  it('both end well (what the other did meanwhile counts as done) and the cluster ends as the files say', async () => {
    const p = uniqueName('twice');
    await createTopics(brokers, [{ topic: `${p}.grown`, partitions: 1 }, { topic: `${p}.gone` }]);
    const dir = mkdtempSync(join(tmpdir(), 'txstream-operator-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'topics.yaml'),
      `topics:\n  - name: ${p}.new\n    partitions: 2\n  - name: ${p}.grown\n    partitions: 3\n    configs:\n      retention.ms: 3600000\n`,
    );
    const runs = [capture(), capture()];
    const codes = await Promise.all(runs.map((run) => topicsApply({ dir, brokers: brokers.join(','), allowDelete: true, scope: [p] }, run.io)));
    expect({ codes, err: runs.flatMap((run) => run.err) }).toEqual({ codes: [0, 0], err: [] });
    const described = await withAdmin(brokers, (admin) => admin.fetchTopicMetadata({ topics: [`${p}.new`, `${p}.grown`] }));
    expect(Object.fromEntries(described.topics.map((topic) => [topic.name, topic.partitions.length]))).toEqual({ [`${p}.new`]: 2, [`${p}.grown`]: 3 });
    await expect.poll(() => exists([`${p}.gone`]), { timeout: 15_000 }).toEqual([]);
  });
});
