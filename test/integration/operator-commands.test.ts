import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type TopicsIo, topicsApply } from '../../src/cli/topics.js';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors/index.js';
import { createKafka } from '../../src/kafka/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { defineHandler, definePipeline, FAILURE_HEADERS, REPLAY_HEADERS } from '../../src/index.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { replayDeadLetters } from '../../src/routing/replay.js';
import { createTopics, produce, readTopics, uniqueName, withAdmin } from '../support/kafka.js';

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
      `topics:\n  - name: ${p}.good\n    partitions: 1\n  - name: ${p}.bad\n    partitions: 1\n    configs:\n      retention.ms: soon\n`,
    );
    const run = capture();
    expect(await topicsApply({ dir, brokers: brokers.join(','), scope: [p] }, run.io)).toBe(1);
    expect(run.err.join('\n')).toMatch(new RegExp(`^txstream: the broker refuses 1 change\\(s\\), so nothing was changed:\\n  - ${p}\\.bad: INVALID_CONFIG`));
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
