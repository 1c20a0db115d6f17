/**
 * `npm run soak`: the long exactly-once soak. A private local cluster (3 brokers, RF 3,
 * min.insync.replicas 2; or 1 broker), a backlog of numbered inputs on 12 partitions,
 * several real `txstream run` workers of which one is killed with SIGKILL every ~3 s and
 * restarted at once, and the group-coordinator broker killed with SIGKILL and restarted,
 * twice, while the workers run. Afterwards the committed outputs are read with
 * read_committed by kcat and by our KafkaJS reader and counted by lineage.
 *
 * A script rather than a vitest file: it runs for minutes, takes options (--seed varies
 * the fault timing), prints a table for the notes, and answers with its exit code (1 on
 * any missing or duplicated input, or when the readers disagree).
 */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULTS } from '../../src/config/defaults.js';
import { seededRandom } from '../../load-tests/lib/generators.js';
import { type FaultCluster, startFaultCluster } from '../support/cluster.js';
import { commandAudit, dualAudit, formatCommandAudit, formatDualAudit } from '../support/dual-audit.js';
import { caughtUp, createPipelineTopics, produceNumbered, readTopics, uniqueName } from '../support/kafka.js';
import { sleep } from '../support/wait.js';
import { ChaosFleet, committedTotal } from '../support/worker-chaos.js';
import { keyOrderViolations } from '../support/key-order.js';
import { writeWorkerConfig } from '../support/worker-process.js';

interface SoakOptions {
  brokers: 1 | 3;
  seed: number;
  inputs: number;
  workers: number;
  partitions: number;
  killEveryMs: number;
  coordinatorKills: number;
  coordinatorDownMs: number;
  handlerDelayMs: number;
  batchSize: number;
  ordering: 'partition' | 'key' | 'unordered';
  maxInFlight?: number;
  keep: boolean;
}

function whole(min: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) throw new InvalidArgumentError(`'${value}' is not a whole number ≥ ${min}`);
    return parsed;
  };
}

const program = new Command('soak')
  .description('exactly-once soak: worker kill -9 every few seconds, the group-coordinator broker killed and restarted; audited by kcat and KafkaJS')
  .option('--brokers <count>', '1 or 3', (value) => {
    if (value !== '1' && value !== '3') throw new InvalidArgumentError('--brokers is 1 or 3');
    return Number(value) as 1 | 3;
  }, 3 as 1 | 3)
  .option('--seed <n>', 'seeds the fault timing (which worker, when, how long a broker stays down)', whole(0), 1)
  .option('--inputs <n>', 'input records', whole(1), 50_000)
  .option('--workers <n>', 'txstream run processes', whole(1), 3)
  .option('--partitions <n>', 'input and output partitions', whole(1), 12)
  .option('--kill-every-ms <ms>', 'mean time between worker kills (±50 %)', whole(100), 3000)
  .option('--coordinator-kills <n>', 'times the group-coordinator broker is killed and restarted', whole(0), 2)
  .option('--coordinator-down-ms <ms>', 'mean time a killed broker stays down (±50 %)', whole(0), 5000)
  .option('--handler-delay-ms <ms>', 'handler delay per record, to stretch the run over the faults', whole(0), 0)
  .option('--batch-size <n>', 'records per handler batch (txstream default: 500)', whole(1), DEFAULTS.batchSize)
  .option(
    '--ordering <ordering>',
    'concurrency inside a partition: partition (one record at a time), key or unordered (the handler then waits 1 to --handler-delay-ms ms per record at random, 20 when 0)',
    (value: string) => {
      if (value !== 'partition' && value !== 'key' && value !== 'unordered') throw new InvalidArgumentError('--ordering is partition, key or unordered');
      return value;
    },
    'partition',
  )
  .option('--max-in-flight <n>', 'handler calls in flight per partition under --ordering key or unordered', whole(1))
  .option('--keep', 'leave the cluster running afterwards (its name is printed)', false);

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
const log = (line: string) => console.log(`[${elapsed()}] ${line}`);

/** Set while a cluster runs: what an interrupted soak must stop (the brokers are detached JVMs). */
let stopOnInterrupt: (() => Promise<void>) | undefined;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the workers and the cluster`);
    void (stopOnInterrupt?.() ?? Promise.resolve()).finally(() => process.exit(1));
  });
}

async function soak(options: SoakOptions): Promise<boolean> {
  const random = seededRandom(options.seed);
  const jitter = (mean: number) => Math.round(mean * (0.5 + random()));
  log(`soak: ${options.brokers} broker(s), seed ${options.seed}, ${options.inputs} inputs, ${options.workers} workers, ${options.partitions} partitions`);
  const cluster = await startFaultCluster({ brokers: options.brokers, log });
  log(`cluster '${cluster.name}' up at ${cluster.brokers.join(',')}`);
  const fleets: ChaosFleet[] = [];
  stopOnInterrupt = async () => {
    for (const fleet of fleets) await fleet.kill();
    await cluster.destroy();
  };
  try {
    const { input, output, dlt } = await createPipelineTopics(cluster.brokers, 'soak', options.partitions);
    const producing = Date.now();
    await produceNumbered(cluster.brokers, input, options.inputs, 1000);
    log(`produced ${options.inputs} inputs to ${input} in ${((Date.now() - producing) / 1000).toFixed(1)} s`);
    const groupPrefix = uniqueName('soak');
    const groupId = `${groupPrefix}.echo`;
    const concurrency = options.ordering === 'partition' ? undefined : { ordering: options.ordering, ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}) };
    const config = writeWorkerConfig({ brokers: cluster.brokers, groupId: groupPrefix, input, output, batchSize: options.batchSize, ...(concurrency ? { concurrency } : {}) });
    const fleet = new ChaosFleet(config, { size: options.workers, name: `soak-${options.seed}`, handlerDelayMs: options.handlerDelayMs });
    fleets.push(fleet);
    fleet.killEvery(options.killEveryMs, random);

    let progress = 0;
    const readProgress = async () => {
      // undefined while the coordinator is down or moving: keep the last value.
      progress = Math.max(progress, (await committedTotal(cluster.liveBrokers(), groupId, input)) ?? 0);
      return progress;
    };

    // A fault loop that fails must not crash the process before the workers and cluster are cleaned up.
    let faultError: unknown;
    const brokerFaults: string[] = [];
    const killCoordinators = (async () => {
      for (let round = 0; round < options.coordinatorKills; round++) {
        // Spread the kills over the run: the first near 20 %, the next ones later.
        const at = Math.floor(options.inputs * (0.15 + (0.6 * round) / Math.max(1, options.coordinatorKills) + 0.1 * random()));
        while ((await readProgress()) < at) await sleep(250);
        const coordinator = await cluster.groupCoordinator(groupId);
        await cluster.kill(coordinator);
        const killedAt = progress;
        const down = jitter(options.coordinatorDownMs);
        log(`killed broker ${coordinator} (the group coordinator) at ${progress}/${options.inputs} committed; restarting in ${down} ms`);
        await sleep(down);
        const restarting = Date.now();
        await cluster.restart(coordinator);
        await cluster.waitForFullIsr([input, output]);
        brokerFaults.push(`broker ${coordinator} killed at ${killedAt}/${options.inputs} committed, back in sync ${((Date.now() - restarting + down) / 1000).toFixed(1)} s after the kill`);
        log(`broker ${coordinator} back and in sync after ${((Date.now() - restarting) / 1000).toFixed(1)} s; committed ${await readProgress()}/${options.inputs}`);
      }
    })().catch((error: unknown) => {
      faultError = error;
    });

    let lastReport = 0;
    const processing = Date.now();
    for (;;) {
      await sleep(1000);
      await readProgress();
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`committed ${progress}/${options.inputs}; ${fleet.kills} worker kills so far`);
      }
      if (progress >= options.inputs || faultError) break;
      if (Date.now() - processing > 30 * 60_000) throw new Error(`no full commit within 30 minutes (${progress}/${options.inputs})`);
    }
    await killCoordinators;
    await fleet.calm();
    if (faultError) throw faultError;
    if (!(await caughtUp(cluster.liveBrokers(), groupId, input))) throw new Error('the group is not caught up after the run');
    const processSeconds = (Date.now() - processing) / 1000;
    const exits = await fleet.stop();
    log(`all ${options.inputs} inputs committed in ${processSeconds.toFixed(1)} s; ${fleet.kills} worker kills, ${fleet.selfExits.length} self-exits, ${brokerFaults.length} broker kills; workers stopped with ${exits.join(',')}`);
    for (const fault of [...brokerFaults, ...fleet.selfExits]) log(`  ${fault}`);
    if (brokerFaults.length < options.coordinatorKills) throw new Error(`only ${brokerFaults.length} of ${options.coordinatorKills} coordinator kills happened`);

    const audit = await dualAudit(cluster.brokers, {
      input,
      inputs: options.inputs,
      terminalTopics: [output, dlt],
      otherTopics: [1, 2, 3].map((tier) => `${input}.retry.${tier}`),
    });
    console.log('');
    console.log(
      `soak result: ${options.brokers} broker(s), seed ${options.seed}, ${options.inputs} inputs, ${options.workers} workers, ` +
        `${fleet.kills} worker kills, ${brokerFaults.length} coordinator-broker kills, ${processSeconds.toFixed(0)} s processing, ${elapsed().trim()} total`,
    );
    console.log(formatDualAudit(audit));
    const command = await commandAudit(config, 'echo', audit.readers[0]);
    console.log(formatCommandAudit(command));
    for (const reader of audit.readers) {
      if (reader.examples.duplicated.length) console.log(`${reader.reader}: duplicated e.g. ${reader.examples.duplicated.join(', ')}`);
      if (reader.examples.missing.length) console.log(`${reader.reader}: missing e.g. ${reader.examples.missing.join(', ')}`);
    }
    let ordered = true;
    if (options.ordering === 'key') {
      const outputs = await readTopics(cluster.brokers, [output], { until: (read) => read.length >= options.inputs, timeoutMs: 120_000 });
      const { keys, violations } = keyOrderViolations(outputs);
      ordered = violations.length === 0;
      console.log(ordered ? `KEY ORDER: the outputs of each of ${keys} keys are in input order` : `KEY ORDER BROKEN: ${violations.length} outputs, e.g. ${violations.slice(0, 5).join('; ')}`);
    }
    const ok = audit.ok && command.ok && command.agreesWithKcat && ordered;
    console.log(ok ? 'EXACTLY ONCE: 0 missing, 0 duplicated; kcat, KafkaJS and txstream audit agree' : 'FAILED: see the table');
    return ok;
  } finally {
    stopOnInterrupt = undefined;
    for (const fleet of fleets) await fleet.kill();
    await cleanup(cluster, options.keep);
  }
}

async function cleanup(cluster: FaultCluster, keep: boolean): Promise<void> {
  if (keep) {
    log(`cluster '${cluster.name}' left running: npm run kafka:down -- --name ${cluster.name} --wipe`);
    return;
  }
  await cluster.destroy();
}

program.action(async (options: SoakOptions) => {
  const ok = await soak(options);
  process.exitCode = ok ? 0 : 1;
});

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
