import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { PipelineAudit } from '../../src/audit/pipeline-audit.js';
import { LINEAGE_HEADER } from '../../src/pipeline/lineage.js';
import { auditWithKcat } from '../support/audit.js';
import { caughtUp, committedOffsets, createPipelineTopics, endOffsets, produce, produceNumbered, type ReadRecord, uniqueName, withAdmin } from '../support/kafka.js';
import { readWithKcat } from '../support/kcat.js';
import { waitFor } from '../support/wait.js';
import { WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * `txstream audit` as a user runs it, after a real `txstream run` worker routed poison
 * records through the retry tiers to the dead-letter topic. Its numbers must agree with an
 * independent read (kcat, librdkafka) counted by lineage.
 */
const brokers = inject('kafkaBrokers');
const CLI = join(resolve(import.meta.dirname, '../..'), 'bin', 'txstream.js');
const workers: WorkerProcess[] = [];

afterEach(async () => {
  for (const worker of workers.splice(0)) {
    worker.signal('SIGKILL');
    await worker.exited();
  }
});

async function txstream(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { ...process.env, KAFKA_BROKERS: '', TXSTREAM_BROKERS: '' },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Counts by lineage over a kcat read: how often each lineage appears in a set of topics. */
function lineageCounts(records: ReadRecord[], topics: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    if (!topics.includes(record.topic)) continue;
    const lineage = record.headers[LINEAGE_HEADER] ?? '(none)';
    counts.set(lineage, (counts.get(lineage) ?? 0) + 1);
  }
  return counts;
}

/** The audit's findings without what only the CLI adds (pipeline, group, topics, reader group). */
function countsOf(report: object): Record<string, unknown> {
  const { readerGroup: _r, readerGroupDeleted: _d, pipeline: _p, groupId: _g, topics: _t, ...counts } = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
  return counts;
}

describe('txstream audit', () => {
  it('reports where each input ended, agrees with kcat, and exits 1 on a duplicate and on missing inputs', async () => {
    const { input, output, dlt } = await createPipelineTopics(brokers, 'audit-cli', 3);
    const retries = [1, 2, 3].map((tier) => `${input}.retry.${tier}`);
    const groupPrefix = uniqueName('audit-cli');
    const groupId = `${groupPrefix}.echo`;
    const config = writeWorkerConfig({
      brokers,
      groupId: groupPrefix,
      input,
      output,
      errors: { onError: 'retry', attempts: 3, backoff: { initialMs: 100, multiplier: 1, maxMs: 100, jitter: 0 } },
    });
    // failMode routing: n % 97 == 0 always fails (n = 0, 97, 194, 291: dead-letter after 3 retries),
    // n % 50 == 0 fails twice (n = 50 … 250: output after two retry copies).
    const total = 300;
    const poison = [0, 97, 194, 291];
    await produceNumbered(brokers, input, total);
    const worker = WorkerProcess.start(config, { name: 'audit-cli', failMode: 'routing' });
    workers.push(worker);
    await waitFor(async () => (await Promise.all([input, ...retries].map((topic) => caughtUp(brokers, groupId, topic)))).every(Boolean), 'the worker to commit every input and retry copy', 90_000, 500);
    // Everything committed: read_committed sees all outputs (kcat re-reads until they are there).
    const kcat = await readWithKcat(brokers, [input, output, dlt, ...retries], {
      until: (records) => records.filter((r) => r.topic === output).length >= total - poison.length && records.filter((r) => r.topic === dlt).length >= poison.length,
      timeoutMs: 60_000,
    });
    expect(await worker.stop()).toBe(0);

    // The independent count, by lineage, from kcat's read.
    const outputs = lineageCounts(kcat, [output]);
    const deadLetters = lineageCounts(kcat, [dlt]);
    const retryCopies = kcat.filter((r) => retries.includes(r.topic)).length;
    expect(outputs.size).toBe(total - poison.length);
    expect([...outputs.values()].every((n) => n === 1)).toBe(true);
    expect([...deadLetters.keys()].sort()).toEqual(
      kcat.filter((r) => r.topic === input && poison.includes(JSON.parse(r.value ?? '{}').n)).map((r) => `${input}/${r.partition}/${r.offset}`).sort(),
    );
    // 5 records retried twice, 4 retried three times.
    expect(retryCopies).toBe(5 * 2 + 4 * 3);

    const text = await txstream(['audit', 'echo', '-c', config]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`inputs read:          ${total}`);
    expect(text.stdout).toContain(`ended in output:      ${total - poison.length}`);
    expect(text.stdout).toContain(`ended in dead-letter: ${poison.length}`);
    expect(text.stdout).toMatch(/missing: +0\n/);
    expect(text.stdout).toContain('duplicated:           0 input(s), 0 extra record(s)');
    expect(text.stdout).toContain('a record skipped by an error policy leaves no trace');
    expect(text.stdout).toMatch(/OK: every processed input has exactly one ending$/m);
    expect(text.stderr).toMatch(/throwaway consumer group txstream-audit-[\w-]+, deleted afterwards/);

    const json = await txstream(['audit', 'echo', '-c', config, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as PipelineAudit & { readerGroup: string; readerGroupDeleted: boolean };
    expect(report).toMatchObject({
      inputs: total,
      processed: total,
      covered: total,
      missing: 0,
      duplicated: 0,
      ok: true,
      endings: { output: total - poison.length, deadLetter: poison.length, inRetry: 0, notYetProcessed: 0 },
      records: { outputs: outputs.size, deadLetters: deadLetters.size, retries: retryCopies },
      readerGroupDeleted: true,
    });
    // The read leaves no consumer group behind.
    const groups = await withAdmin(brokers, async (admin) => (await admin.listGroups()).groups.map((g) => g.groupId));
    expect(groups).not.toContain(report.readerGroup);

    // The same classification over kcat's read gives the same report.
    const topics = { groupId, inputs: [input], retryTiers: retries.map((topic, index) => ({ topic, tier: index + 1 })), outputs: [output], deadLetters: [dlt] };
    expect((report as unknown as { topics: unknown }).topics).toEqual(topics);
    expect(countsOf(report)).toEqual(countsOf((await auditWithKcat(brokers, topics)).audit));

    // Inputs written while no worker runs are not yet processed, not missing.
    await produce(brokers, input, Array.from({ length: 5 }, (_, i) => ({ partition: 0, key: `late-${i}`, value: JSON.stringify({ n: 1000 + i }) })));
    const pending = JSON.parse((await txstream(['audit', 'echo', '-c', config, '--json'])).stdout) as PipelineAudit;
    expect(pending).toMatchObject({ inputs: total + 5, processed: total, missing: 0, ok: true, endings: { notYetProcessed: 5 } });

    // Break it by hand: a second output with an existing lineage (a plain producer), and the
    // group moved past the five late inputs without outputs (as a lost write would leave it).
    const duplicatedLineage = `${input}/1/3`;
    await produce(brokers, output, [{ key: 'dup', value: '{}', headers: { [LINEAGE_HEADER]: duplicatedLineage } }]);
    const [end0] = [(await endOffsets(brokers, input)).get(0) as string];
    await withAdmin(brokers, (admin) => admin.setOffsets({ groupId, topic: input, partitions: [{ partition: 0, offset: end0 }] }));
    const broken = await txstream(['audit', 'echo', '-c', config]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/FAILED: 5 missing, 1 duplicated$/m);
    expect(broken.stdout).toContain(`duplicated: ${duplicatedLineage} -> output ${output}/`);
    expect(broken.stdout).toMatch(new RegExp(`missing: ${input}/0/\\d+: no output, retry or dead-letter copy`));
    const brokenJson = await txstream(['audit', 'echo', '-c', config, '--json']);
    expect(brokenJson.code).toBe(1);
    const brokenReport = JSON.parse(brokenJson.stdout) as PipelineAudit;
    expect(brokenReport).toMatchObject({ ok: false, missing: 5, duplicated: 1, duplicates: 1, endings: { missing: 5, notYetProcessed: 0 } });
    expect(brokenReport.problems.filter((p) => p.duplicated).map((p) => p.input)).toEqual([duplicatedLineage]);

    // kcat agrees: the hand-written output shows as a second record of that lineage, and the counts are the same.
    const kcatAfter = await auditWithKcat(brokers, topics);
    expect(lineageCounts(kcatAfter.records, [output]).get(duplicatedLineage)).toBe(2);
    expect(countsOf(kcatAfter.audit)).toEqual(countsOf(brokenReport));
  });

  it('reports records waiting in a retry tier, and says a skipped record leaves no trace', async () => {
    // n = 0, 50 and 97 of 100 fail (failMode routing). Retry: a 10-minute backoff keeps their copies waiting in tier 1.
    const waiting = await createPipelineTopics(brokers, 'audit-wait', 2);
    const waitPrefix = uniqueName('audit-wait');
    const waitConfig = writeWorkerConfig({
      brokers,
      groupId: waitPrefix,
      input: waiting.input,
      output: waiting.output,
      errors: { onError: 'retry', attempts: 3, backoff: { initialMs: 600_000, multiplier: 1, maxMs: 600_000, jitter: 0 } },
    });
    // Skip: the failing records are committed past without any copy.
    const skipping = await createPipelineTopics(brokers, 'audit-skip', 2, 0);
    const skipPrefix = uniqueName('audit-skip');
    const skipConfig = writeWorkerConfig({ brokers, groupId: skipPrefix, input: skipping.input, output: skipping.output, errors: { onError: 'skip' } });
    await Promise.all([produceNumbered(brokers, waiting.input, 100), produceNumbered(brokers, skipping.input, 100)]);
    for (const config of [waitConfig, skipConfig]) workers.push(WorkerProcess.start(config, { name: 'audit-cli', failMode: 'routing' }));
    await waitFor(
      async () => (await caughtUp(brokers, `${waitPrefix}.echo`, waiting.input)) && (await caughtUp(brokers, `${skipPrefix}.echo`, skipping.input)),
      'both workers to commit their inputs',
      90_000,
      500,
    );

    const wait = await txstream(['audit', 'echo', '-c', waitConfig, '--json']);
    expect(wait.code, wait.stderr).toBe(0);
    expect(JSON.parse(wait.stdout)).toMatchObject({ ok: true, processed: 100, missing: 0, endings: { output: 97, inRetry: 3, inRetryByTier: { '1': 3 } } });
    const waitText = await txstream(['audit', 'echo', '-c', waitConfig]);
    expect(waitText.stdout).toMatch(/in retry \(pending\): +3 \(tier 1: 3\)/);
    // kcat sees the three copies in tier 1 and nothing in the dead-letter topic.
    const copies = await readWithKcat(brokers, [`${waiting.input}.retry.1`, waiting.dlt]);
    expect(copies.map((r) => r.headers[LINEAGE_HEADER]).sort()).toEqual(
      (await readWithKcat(brokers, [waiting.input])).filter((r) => [0, 50, 97].includes(JSON.parse(r.value ?? '{}').n)).map((r) => `${waiting.input}/${r.partition}/${r.offset}`).sort(),
    );

    const skip = await txstream(['audit', 'echo', '-c', skipConfig]);
    expect(skip.code).toBe(1);
    expect(skip.stdout).toMatch(/missing or skipped: +3\n/);
    expect(skip.stdout).toContain('a skipped record leaves no trace in Kafka');
    expect(skip.stdout).toMatch(/FAILED: 3 missing or skipped, 0 duplicated$/m);
    const allowed = await txstream(['audit', 'echo', '-c', skipConfig, '--allow-skipped']);
    expect(allowed.code, allowed.stdout).toBe(0);
    expect(allowed.stdout).toMatch(/OK: no duplicate; 3 input\(s\) without ending, allowed as skipped by the policy$/m);
  });

  it('audits a running pipeline: ends while outputs keep coming, counts the backlog as not yet processed', async () => {
    const { input, output } = await createPipelineTopics(brokers, 'audit-live', 3);
    const prefix = uniqueName('audit-live');
    const config = writeWorkerConfig({ brokers, groupId: prefix, input, output });
    const total = 5000;
    await produceNumbered(brokers, input, total);
    // 10 ms per record: the worker needs 17 s or more for the backlog (its 3 partitions handled at
    // once), longer than the audit takes even when the CLI starts slowly on a loaded machine.
    workers.push(WorkerProcess.start(config, { name: 'audit-live', handlerDelayMs: 10 }));
    await waitFor(async () => [...(await committedOffsets(brokers, `${prefix}.echo`, input)).values()].some((offset) => BigInt(offset) > 0n), 'a first commit', 60_000, 200);

    const live = await txstream(['audit', 'echo', '-c', config, '--json']);
    expect(live.code, live.stderr).toBe(0);
    const report = JSON.parse(live.stdout) as PipelineAudit;
    expect(report).toMatchObject({ inputs: total, missing: 0, duplicated: 0, ok: true });
    expect(report.processed).toBeGreaterThan(0);
    expect(report.endings.notYetProcessed).toBeGreaterThan(0);
    expect(report.covered).toBe(report.processed);
    // The worker was still behind when the audit ended.
    expect(await caughtUp(brokers, `${prefix}.echo`, input)).toBe(false);
  });

  it('names a pipeline that does not exist and exits 2', async () => {
    const config = writeWorkerConfig({ brokers, groupId: 'g', input: 'in', output: 'out' });
    const result = await txstream(['audit', 'nope', '-c', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown pipelines: nope');
  });
});
