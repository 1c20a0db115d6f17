import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Admin } from 'kafkajs';
import { join } from 'node:path';
import { runJavaAsync } from '../../src/local-jvm/java.js';
import { EPHEMERAL_PORTS_FROM, FREE_PORT_RANGE, isAlive, isListening, isPortFree, sleep } from '../../src/local-server/supervisor.js';
import { clusterDir, jarCacheDir, LocalKafkaCluster } from '../../src/local-kafka/cluster.js';
import { CONTROLLER_PORT_OFFSET, layoutFromBasePort } from '../../src/local-kafka/layout.js';
import { coordinatorPartition, GROUP_STATE_TOPIC, TRANSACTION_STATE_TOPIC } from './coordinator.js';
import { withAdmin } from './kafka.js';

/**
 * A private local KRaft cluster for fault tests: one or three combined
 * broker+controller nodes on free ports (three: RF 3, min.insync.replicas 2, as
 * `npm run kafka:up -- --brokers 3` lays them out), with the faults those tests
 * need: kill -9 a node, restart it, find the group coordinator or a partition's
 * leader, and move a leader with Kafka's own reassignment and election tools.
 */
export interface FaultCluster {
  readonly name: string;
  /** Bootstrap list: every node, dead or alive (clients skip the dead ones). */
  readonly brokers: string[];
  readonly nodeIds: number[];
  readonly local: LocalKafkaCluster;
  /** Brokers of the running nodes only: for tools that would stall on a dead address. */
  liveBrokers(): string[];
  /** kill -9 one node. */
  kill(nodeId: number): Promise<void>;
  /** Starts a dead node again and waits until it is back in the cluster metadata. */
  restart(nodeId: number): Promise<void>;
  /** The broker that coordinates a consumer group (leader of its __consumer_offsets partition). */
  groupCoordinator(groupId: string): Promise<number>;
  /** The broker that coordinates a transactional id (leader of its __transaction_state partition). */
  transactionCoordinator(transactionalId: string): Promise<number>;
  partitionLeader(topic: string, partition: number): Promise<number>;
  /** Waits until every partition of the topics (and the internal ones) has all replicas in sync. */
  waitForFullIsr(topics: string[], timeoutMs?: number): Promise<void>;
  /**
   * Moves a partition's leadership to `to` (default: another in-sync replica) with
   * ReassignPartitionsCommand (the same replicas, `to` first) and a preferred
   * LeaderElectionCommand; resolves once the metadata names the new leader.
   */
  moveLeader(topic: string, partition: number, to?: number): Promise<{ from: number; to: number }>;
  /** Stops every node and deletes the cluster's files. */
  destroy(): Promise<void>;
}

export async function startFaultCluster(options: { brokers: 1 | 3; name?: string; log?: (line: string) => void }): Promise<FaultCluster> {
  for (let attempt = 1; ; attempt++) {
    // The creator's pid in the name lets reapOrphanFaultClusters tell a leftover from a live run.
    const name = options.name ?? `${FAULT_PREFIX}${process.pid}-${randomUUID().slice(0, 6)}`;
    const basePort = await freePortBlock(options.brokers);
    try {
      const { cluster } = await LocalKafkaCluster.start({
        name,
        layout: layoutFromBasePort(clusterDir(name), options.brokers, basePort),
        readyTimeoutMs: 120_000,
        log: options.log,
      });
      return faultClusterFor(cluster);
    } catch (error) {
      // A port free when checked can be taken before the JVM binds it (other engineers' brokers
      // share the machine): start afresh on other ports. LocalKafkaCluster.start stopped what it began.
      rmSync(clusterDir(name), { recursive: true, force: true });
      if (attempt >= 3 || !/already in use/i.test(String(error))) throw error;
      options.log?.(`port taken while the cluster started (attempt ${attempt}); retrying on other ports`);
    }
  }
}

/**
 * A base port whose broker ports and controller ports (100 above) are all free, picked
 * below Linux's ephemeral range, where outgoing connections never take a port between our
 * check and the broker's bind, and above the single ports findFreePort hands out.
 */
async function freePortBlock(nodes: number): Promise<number> {
  const from = FREE_PORT_RANGE.to;
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = from + Math.floor(Math.random() * (EPHEMERAL_PORTS_FROM - from - CONTROLLER_PORT_OFFSET - nodes));
    const ports = Array.from({ length: nodes }, (_, i) => [base + i, base + CONTROLLER_PORT_OFFSET + i]).flat();
    if ((await Promise.all(ports.map((port) => isPortFree(port)))).every(Boolean)) return base;
  }
  throw new Error(`found no ${nodes} free broker ports with free controller ports ${CONTROLLER_PORT_OFFSET} above them`);
}

const TOOL_JVM_OPTIONS = ['-Xmx256m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];

const FAULT_PREFIX = 'fault-';

/**
 * Kills the broker JVMs of fault clusters whose creating process is gone (or is `finishedRun` or one
 * of its children: a test run that has ended), and deletes their files. The JVMs are detached, so
 * they outlive a test process that never reached destroy(): a beforeAll that timed out while
 * startFaultCluster was still starting nodes (afterAll then has no cluster to destroy), or a test that
 * timed out and restarted a node after destroy(). Only a pid whose command line names the node's own
 * directory is killed, so a recycled pid or another checkout's broker is never touched.
 */
export async function reapOrphanFaultClusters(options: { finishedRun?: number; log?: (line: string) => void } = {}): Promise<string[]> {
  const root = clusterDir('');
  if (!existsSync(root)) return [];
  const finished = (pid: number) => !isAlive(pid) || (options.finishedRun !== undefined && (pid === options.finishedRun || parentOf(pid) === options.finishedRun));
  const reaped: string[] = [];
  for (const name of readdirSync(root)) {
    const creator = new RegExp(`^${FAULT_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (creator === undefined || !finished(Number(creator))) continue;
    const ours = brokerPidsOf(name);
    for (const pid of ours) process.kill(pid, 'SIGKILL');
    // Bounded: a killed child of a live process stays a zombie (alive to kill(0)) until it is reaped.
    const deadline = Date.now() + 10_000;
    while (ours.some((pid) => isAlive(pid)) && Date.now() < deadline) await sleep(100);
    rmSync(clusterDir(name), { recursive: true, force: true });
    options.log?.(`removed leftover fault cluster ${name}${ours.length > 0 ? ` (killed ${ours.length} broker JVM(s): ${ours.join(', ')})` : ''}`);
    reaped.push(name);
  }
  return reaped;
}

/**
 * The pids of a fault cluster's running nodes whose command line names the node's own directory.
 * From its state file; when that cannot be read (a process killed while writing it), from every
 * process whose command line names the cluster's directory.
 */
function brokerPidsOf(name: string): number[] {
  let recorded: Array<{ pid?: number; dir: string }>;
  try {
    recorded = LocalKafkaCluster.load(name)?.runningNodes() ?? [];
  } catch {
    const dir = clusterDir(name);
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
      .map(Number)
      .filter((pid) => commandLine(pid).includes(`${dir}/`));
  }
  return recorded.filter((node) => node.pid !== undefined && commandLine(node.pid).includes(node.dir)).map((node) => node.pid as number);
}

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export function faultClusterFor(local: LocalKafkaCluster): FaultCluster {
  const classpath = `${jarCacheDir(local.version)}/*`;
  let destroyed = false;
  const liveBrokers = () => local.runningNodes().map((node) => `127.0.0.1:${node.brokerPort}`);
  // Admin calls go to live nodes only, so a dead bootstrap address never costs a connection timeout.
  const admin = <T>(use: (client: Admin) => Promise<T>) => withAdmin(liveBrokers(), use);

  async function leaderOf(topic: string, partition: number): Promise<number> {
    const metadata = await admin((client) => client.fetchTopicMetadata({ topics: [topic] }));
    const found = metadata.topics[0]?.partitions.find((p) => p.partitionId === partition);
    if (!found) throw new Error(`no partition ${topic}-${partition} in the cluster metadata`);
    return found.leader;
  }

  async function coordinator(stateTopic: string, key: string): Promise<number> {
    const metadata = await admin((client) => client.fetchTopicMetadata({ topics: [stateTopic] }));
    const partitions = metadata.topics[0]?.partitions.length ?? 0;
    if (partitions === 0) throw new Error(`${stateTopic} does not exist yet (no group or transaction has used the cluster)`);
    return leaderOf(stateTopic, coordinatorPartition(key, partitions));
  }

  return {
    name: local.name,
    brokers: local.brokers,
    nodeIds: local.nodeIds,
    local,
    liveBrokers,
    kill: (nodeId) => local.stopNode(nodeId, 'SIGKILL'),
    async restart(nodeId) {
      // A node killed a moment ago may still hold its ports for a short while.
      const deadline = Date.now() + 30_000;
      for (;;) {
        // A timed-out test goes on running after afterAll's destroy(): it must not start a JVM nobody stops.
        if (destroyed) throw new Error(`fault cluster ${local.name} was destroyed; not restarting node ${nodeId}`);
        try {
          await local.startNode(nodeId);
          if (destroyed) {
            // destroy() ran while this node was starting: it did not see the new JVM.
            await local.stopNode(nodeId, 'SIGKILL');
            rmSync(clusterDir(local.name), { recursive: true, force: true });
            throw new Error(`fault cluster ${local.name} was destroyed while node ${nodeId} restarted`);
          }
          break;
        } catch (error) {
          if (Date.now() > deadline || !/already in use/.test(String(error))) throw error;
          await sleep(500);
        }
      }
      // Right after a kill -9 the controller still lists the dead incarnation (until the broker
      // session times out), so a metadata answer alone proves nothing: wait for the port too.
      const port = local.runningNodes().find((node) => node.nodeId === nodeId)?.brokerPort;
      while (port !== undefined && !(await isListening(port))) {
        if (Date.now() > deadline + 90_000) throw new Error(`node ${nodeId} does not listen on ${port}; see ${local.logFile(nodeId)}`);
        await sleep(250);
      }
      await local.waitUntilReady(120_000);
    },
    groupCoordinator: (groupId) => coordinator(GROUP_STATE_TOPIC, groupId),
    transactionCoordinator: (transactionalId) => coordinator(TRANSACTION_STATE_TOPIC, transactionalId),
    partitionLeader: leaderOf,
    async waitForFullIsr(topics, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      let lagging = 'not checked yet';
      while (Date.now() < deadline) {
        try {
          const metadata = await admin(async (client) => {
            // The internal topics exist only once a group or a transaction has used the cluster.
            const existing = new Set(await client.listTopics());
            const internal = [GROUP_STATE_TOPIC, TRANSACTION_STATE_TOPIC].filter((topic) => existing.has(topic));
            return client.fetchTopicMetadata({ topics: [...topics, ...internal] });
          });
          const short = metadata.topics.flatMap((topic) =>
            topic.partitions.filter((p) => p.isr.length < p.replicas.length).map((p) => `${topic.name}-${p.partitionId}`),
          );
          if (short.length === 0) return;
          lagging = `${short.length} partitions short of replicas (e.g. ${short.slice(0, 3).join(', ')})`;
        } catch (error) {
          lagging = (error as Error).message;
        }
        await sleep(500);
      }
      throw new Error(`replicas not back in sync within ${timeoutMs} ms: ${lagging}`);
    },
    async moveLeader(topic, partition, to) {
      const metadata = await admin((client) => client.fetchTopicMetadata({ topics: [topic] }));
      const current = metadata.topics[0]?.partitions.find((p) => p.partitionId === partition);
      if (!current) throw new Error(`no partition ${topic}-${partition} in the cluster metadata`);
      const from = current.leader;
      const target = to ?? current.isr.find((replica) => replica !== from);
      if (target === undefined || target === from || !current.replicas.includes(target)) {
        throw new Error(`cannot move ${topic}-${partition} from ${from} to ${String(target)}: replicas ${current.replicas.join(',')}, isr ${current.isr.join(',')}`);
      }
      const replicas = [target, ...current.replicas.filter((replica) => replica !== target)];
      const dir = mkdtempSync(join(tmpdir(), 'txstream-reassign-'));
      try {
        const plan = join(dir, 'reassignment.json');
        writeFileSync(plan, JSON.stringify({ version: 1, partitions: [{ topic, partition, replicas }] }));
        const bootstrap = liveBrokers().join(',');
        // Same replica set, new order: nothing to copy, only the preferred leader changes.
        await runJavaAsync(
          classpath,
          'org.apache.kafka.tools.reassign.ReassignPartitionsCommand',
          ['--bootstrap-server', bootstrap, '--reassignment-json-file', plan, '--execute'],
          TOOL_JVM_OPTIONS,
        );
        await runJavaAsync(
          classpath,
          'org.apache.kafka.tools.LeaderElectionCommand',
          ['--bootstrap-server', bootstrap, '--election-type', 'PREFERRED', '--topic', topic, '--partition', String(partition)],
          TOOL_JVM_OPTIONS,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const deadline = Date.now() + 60_000;
      while ((await leaderOf(topic, partition)) !== target) {
        if (Date.now() > deadline) throw new Error(`${topic}-${partition}: leader still not ${target} 60 s after the election`);
        await sleep(250);
      }
      return { from, to: target };
    },
    async destroy() {
      destroyed = true;
      // Its data is thrown away: no clean shutdown to wait for (a KRaft node whose peers are
      // stopping with it can take its whole 30 s grace, long enough for a run to end meanwhile).
      await local.stop({ wipe: true, signal: 'SIGKILL' });
    },
  };
}
