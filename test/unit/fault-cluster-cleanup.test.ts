import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isAlive } from '../../src/local-server/supervisor.js';
import { LocalKafkaCluster } from '../../src/local-kafka/cluster.js';
import { faultClusterFor, reapOrphanFaultClusters } from '../support/cluster.js';

/**
 * The leftovers reapOrphanFaultClusters must clean: a fault cluster's state dir whose recorded broker
 * pids still run. A stand-in "broker" is a detached Node process whose command line names its node's
 * server.properties, as the real JVM's does (kafka.Kafka <node dir>/server.properties).
 */
let stateDir: string;
let previousStateDir: string | undefined;
const children: ChildProcess[] = [];

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'txstream-reaper-'));
  previousStateDir = process.env.TXSTREAM_STATE_DIR;
  process.env.TXSTREAM_STATE_DIR = stateDir;
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL');
  if (previousStateDir === undefined) delete process.env.TXSTREAM_STATE_DIR;
  else process.env.TXSTREAM_STATE_DIR = previousStateDir;
  rmSync(stateDir, { recursive: true, force: true });
});

/** A pid that no process has any more: one that ran and exited. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ['-e', '']);
  return pid;
}

function standIn(args: string[]): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...args], { detached: true, stdio: 'ignore' });
  child.unref();
  children.push(child);
  if (child.pid === undefined) throw new Error('could not start the stand-in broker');
  return child.pid;
}

/** Writes cluster.json for `name` with one node; its pid runs with the node's server.properties unless `otherCommand`. */
function fakeCluster(name: string, options: { otherCommand?: boolean } = {}): { dir: string; pid: number } {
  const dir = join(stateDir, name);
  const nodeDir = join(dir, 'node-1');
  mkdirSync(nodeDir, { recursive: true });
  const pid = standIn(options.otherCommand ? [] : [join(nodeDir, 'server.properties')]);
  const node = { nodeId: 1, dir: nodeDir, brokerPort: 1, controllerPort: 2, pid };
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ name, version: '3.9.2', clusterId: 'x', host: '127.0.0.1', nodes: [node] }));
  return { dir, pid };
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return !isAlive(pid);
}

describe('reapOrphanFaultClusters', () => {
  it('kills the brokers of a fault cluster whose test process is gone, and removes its files', async () => {
    const orphan = fakeCluster(`fault-${deadPid()}-aaaaaa`);
    expect(isAlive(orphan.pid)).toBe(true);
    const reaped = await reapOrphanFaultClusters();
    expect(reaped).toHaveLength(1);
    expect(await gone(orphan.pid)).toBe(true);
    expect(existsSync(orphan.dir)).toBe(false);
  });

  it('leaves a live run alone, and reaps it once that run has finished', async () => {
    const live = fakeCluster(`fault-${process.pid}-bbbbbb`);
    expect(await reapOrphanFaultClusters()).toEqual([]);
    expect(isAlive(live.pid)).toBe(true);
    expect(existsSync(live.dir)).toBe(true);
    // The global teardown passes its own pid: the test processes were its children.
    expect(await reapOrphanFaultClusters({ finishedRun: process.ppid })).toEqual([`fault-${process.pid}-bbbbbb`]);
    expect(await gone(live.pid)).toBe(true);
  });

  it('never kills a recorded pid that is not that node (a recycled pid, another checkout)', async () => {
    const stranger = fakeCluster(`fault-${deadPid()}-cccccc`, { otherCommand: true });
    expect(await reapOrphanFaultClusters()).toHaveLength(1);
    expect(isAlive(stranger.pid)).toBe(true);
    expect(existsSync(stranger.dir)).toBe(false);
  });

  it('finds the brokers of a cluster whose state file was left empty (its process killed while saving) by their command lines', async () => {
    const name = `fault-${deadPid()}-dddddd`;
    const truncated = fakeCluster(name);
    writeFileSync(join(truncated.dir, 'cluster.json'), '');
    const stranger = standIn([]);
    expect(await reapOrphanFaultClusters()).toEqual([name]);
    expect(await gone(truncated.pid)).toBe(true);
    expect(existsSync(truncated.dir)).toBe(false);
    expect(isAlive(stranger)).toBe(true);
  });

  it('ignores clusters that are not fault clusters (the suite broker, kafka:up)', async () => {
    const other = fakeCluster(`test-${deadPid()}`);
    expect(await reapOrphanFaultClusters()).toEqual([]);
    expect(isAlive(other.pid)).toBe(true);
  });
});

describe('LocalKafkaCluster state file', () => {
  it('is saved by a rename: the new state in place, and no temporary file left beside it', async () => {
    const { dir, pid } = fakeCluster('saved-cluster');
    const cluster = LocalKafkaCluster.load('saved-cluster');
    await cluster?.stopNode(1, 'SIGKILL');
    expect(await gone(pid)).toBe(true);
    expect(readdirSync(dir).filter((entry) => entry !== 'node-1')).toEqual(['cluster.json']);
    const saved = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { nodes: Array<{ pid?: number }> };
    expect(saved.nodes[0]?.pid).toBeUndefined();
  });

  it('that cannot be read is named, with what to do, not a bare JSON error', () => {
    const { dir } = fakeCluster('emptied-cluster');
    writeFileSync(join(dir, 'cluster.json'), '');
    expect(() => LocalKafkaCluster.load('emptied-cluster')).toThrow(/cluster\.json does not hold a local cluster's state .*stop its JVMs by hand/);
  });
});

/** The LocalKafkaCluster calls restart and destroy make, recorded; startNode resolves when `release` is called. */
function scriptedLocal() {
  const calls: string[] = [];
  let release: () => void = () => {};
  const local = {
    name: 'fault-scripted',
    version: '3.9.2',
    brokers: [],
    nodeIds: [1, 2, 3],
    runningNodes: () => [],
    logFile: () => '/dev/null',
    startNode: vi.fn(async (nodeId: number) => {
      calls.push(`start ${nodeId}`);
      await new Promise<void>((resolve) => (release = resolve));
    }),
    stopNode: vi.fn(async (nodeId: number, signal?: string) => {
      calls.push(`stop ${nodeId} ${signal ?? 'SIGTERM'}`);
    }),
    stop: vi.fn(async (options?: { signal?: string }) => {
      calls.push(`stop all ${options?.signal ?? 'SIGTERM'}`);
    }),
    waitUntilReady: vi.fn(async () => {}),
  };
  return { local: local as unknown as LocalKafkaCluster, calls, release: () => release() };
}

describe('FaultCluster.destroy', () => {
  it('refuses a restart that comes after it (a timed-out test still running)', async () => {
    const { local, calls } = scriptedLocal();
    const cluster = faultClusterFor(local);
    await cluster.destroy();
    await expect(cluster.restart(2)).rejects.toThrow(/destroyed/);
    // Its data is thrown away: killed, not shut down cleanly (which can take 30 s a node).
    expect(calls).toEqual(['stop all SIGKILL']);
  });

  it('stops a node whose restart was under way when it ran', async () => {
    const { local, calls, release } = scriptedLocal();
    const cluster = faultClusterFor(local);
    const restarting = cluster.restart(2);
    await vi.waitFor(() => expect(calls).toEqual(['start 2']));
    await cluster.destroy();
    release();
    await expect(restarting).rejects.toThrow(/destroyed while node 2 restarted/);
    expect(calls).toEqual(['start 2', 'stop all SIGKILL', 'stop 2 SIGKILL']);
  });
});
