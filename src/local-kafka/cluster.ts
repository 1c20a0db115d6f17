import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { runJava, startDetachedJava } from '../local-jvm/java.js';
import { ensureJars } from '../local-jvm/maven-jars.js';
import { isAlive, isPortFree, LocalSetupError, requireCommand, sleep, stopProcess, tail } from '../local-server/supervisor.js';
import { bootstrapServers, type ClusterLayout, type NodeLayout, renderProperties, serverProperties } from './layout.js';
import { type KafkaVersion, resolveKafkaVersion } from './versions.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const POM = join(REPO_ROOT, 'local', 'kafka', 'pom.xml');

export function jarCacheDir(version: string): string {
  return join(process.env.TXSTREAM_CACHE_DIR ?? join(REPO_ROOT, '.cache'), 'kafka', version);
}

export function clusterDir(name: string): string {
  return join(process.env.TXSTREAM_STATE_DIR ?? join(REPO_ROOT, '.kafka'), name);
}

/** Copies the broker's jars from Maven Central into the cache, once per version. */
export function fetchKafkaJars(version: KafkaVersion): { dir: string; downloaded: boolean } {
  return ensureJars({
    pom: POM,
    targetDir: jarCacheDir(version.version),
    properties: { 'kafka.version': version.version, ...(version.logging === 'log4j2' ? { 'kafka.log4j2': true } : {}) },
    what: `Kafka ${version.version}`,
  });
}

interface NodeState extends NodeLayout {
  pid?: number;
}

interface ClusterState {
  readonly name: string;
  readonly version: string;
  readonly clusterId: string;
  readonly host: string;
  readonly overrides?: ClusterLayout['overrides'];
  nodes: NodeState[];
}

export interface StartOptions {
  readonly name: string;
  readonly layout: ClusterLayout;
  readonly version?: string;
  readonly readyTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/**
 * A local KRaft cluster of combined broker+controller JVMs. Its state (pids,
 * ports, cluster id) lives in a JSON file, so separate commands can stop or
 * inspect what an earlier one started.
 */
export class LocalKafkaCluster {
  private constructor(private state: ClusterState) {}

  static load(name: string): LocalKafkaCluster | undefined {
    const file = join(clusterDir(name), 'cluster.json');
    if (!existsSync(file)) return undefined;
    try {
      return new LocalKafkaCluster(JSON.parse(readFileSync(file, 'utf8')) as ClusterState);
    } catch (error) {
      throw new LocalSetupError(`${file} does not hold a local cluster's state (${(error as Error).message}): its nodes' pids are unknown; stop its JVMs by hand (their command lines name ${clusterDir(name)}), then delete that directory`);
    }
  }

  get name(): string {
    return this.state.name;
  }

  get version(): string {
    return this.state.version;
  }

  get brokers(): string[] {
    return bootstrapServers({ host: this.state.host, nodes: this.state.nodes });
  }

  get nodeIds(): number[] {
    return this.state.nodes.map((node) => node.nodeId);
  }

  runningNodes(): NodeState[] {
    return this.state.nodes.filter((node) => node.pid !== undefined && isAlive(node.pid));
  }

  logFile(nodeId: number): string {
    return join(this.node(nodeId).dir, 'broker.log');
  }

  /**
   * Starts the cluster, or the nodes of it that are not running. Resolves once
   * every broker answers a metadata request.
   */
  static async start(options: StartOptions): Promise<{ cluster: LocalKafkaCluster; alreadyRunning: boolean; downloaded: boolean }> {
    const log = options.log ?? (() => {});
    const existing = LocalKafkaCluster.load(options.name);
    if (existing && existing.runningNodes().length === existing.state.nodes.length) {
      return { cluster: existing, alreadyRunning: true, downloaded: false };
    }
    const version = resolveKafkaVersion(existing?.state.version ?? options.version ?? process.env.KAFKA_VERSION);
    requireCommand('java', 'run the local Kafka broker');
    const cluster =
      existing ??
      new LocalKafkaCluster({
        name: options.name,
        version: version.version,
        clusterId: newClusterId(),
        host: options.layout.host,
        overrides: options.layout.overrides,
        nodes: options.layout.nodes.map((node) => ({ ...node })),
      });
    const jars = fetchKafkaJars(resolveKafkaVersion(cluster.state.version));
    if (jars.downloaded) log(`downloaded Kafka ${cluster.state.version} jars to ${jars.dir}`);
    const started: number[] = [];
    try {
      for (const node of cluster.state.nodes) {
        if (node.pid !== undefined && isAlive(node.pid)) continue;
        await cluster.startNode(node.nodeId);
        started.push(node.nodeId);
      }
      await cluster.waitUntilReady(options.readyTimeoutMs ?? 60_000);
    } catch (error) {
      // Leave no half-started cluster behind: stop what this call started.
      await Promise.allSettled(started.map((nodeId) => cluster.stopNode(nodeId, 'SIGKILL')));
      throw error;
    }
    return { cluster, alreadyRunning: false, downloaded: jars.downloaded };
  }

  /** Starts one stopped node (fault tests stop and restart single brokers). */
  async startNode(nodeId: number): Promise<void> {
    const node = this.node(nodeId);
    if (node.pid !== undefined && isAlive(node.pid)) return;
    for (const port of [node.brokerPort, node.controllerPort]) {
      if (!(await isPortFree(port, this.state.host))) {
        throw new LocalSetupError(
          `port ${port} on ${this.state.host} is already in use by another process; stop it or choose other ports (npm run kafka:up -- --port <port>)`,
        );
      }
    }
    const version = resolveKafkaVersion(this.state.version);
    const classpath = `${jarCacheDir(this.state.version)}/*`;
    mkdirSync(node.dir, { recursive: true });
    const propertiesFile = join(node.dir, 'server.properties');
    writeFileSync(
      propertiesFile,
      renderProperties(serverProperties({ host: this.state.host, nodes: this.state.nodes, overrides: this.state.overrides }, node)),
    );
    const loggingOptions = writeLoggingConfig(node.dir, version);
    if (!existsSync(join(node.dir, 'data', 'meta.properties'))) {
      runJava(
        classpath,
        'kafka.tools.StorageTool',
        ['format', '-t', this.state.clusterId, '-c', propertiesFile, '--ignore-formatted'],
        loggingOptions,
      );
    }
    const heap = (process.env.KAFKA_HEAP_OPTS ?? '-Xms256m -Xmx1g').split(/\s+/).filter(Boolean);
    node.pid = startDetachedJava({
      classpath,
      mainClass: 'kafka.Kafka',
      args: [propertiesFile],
      jvmOptions: [...heap, '-XX:+UseG1GC', '-Djava.awt.headless=true', ...loggingOptions],
      logFile: join(node.dir, 'broker.log'),
    });
    this.save();
  }

  /** Stops one node with SIGTERM (a clean shutdown), or SIGKILL when asked. */
  async stopNode(nodeId: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const node = this.node(nodeId);
    if (node.pid !== undefined) {
      if (signal === 'SIGKILL' && isAlive(node.pid)) process.kill(node.pid, 'SIGKILL');
      else await stopProcess(node.pid);
      while (isAlive(node.pid)) await sleep(100);
    }
    node.pid = undefined;
    this.save();
  }

  /** Stops every node: SIGTERM (a clean shutdown, up to 30 s a node), or SIGKILL for a cluster whose data is thrown away. */
  async stop(options: { wipe?: boolean; signal?: 'SIGTERM' | 'SIGKILL' } = {}): Promise<void> {
    await Promise.all(this.state.nodes.map((node) => this.stopNode(node.nodeId, options.signal)));
    if (options.wipe) rmSync(clusterDir(this.state.name), { recursive: true, force: true });
  }

  /** Waits until every running node is in the cluster metadata. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const expected = this.runningNodes().length;
    let lastError = 'no answer yet';
    while (Date.now() < deadline) {
      const dead = this.state.nodes.find((node) => node.pid !== undefined && !isAlive(node.pid));
      if (dead) {
        throw new LocalSetupError(
          `Kafka node ${dead.nodeId} exited during start-up. Last lines of ${this.logFile(dead.nodeId)}:\n${tail(this.logFile(dead.nodeId))}`,
        );
      }
      try {
        const brokers = await describeBrokers(this.runningNodes().map((node) => `${this.state.host}:${node.brokerPort}`));
        if (brokers >= expected) return;
        lastError = `${brokers} of ${expected} brokers registered`;
      } catch (error) {
        lastError = (error as Error).message;
      }
      await sleep(500);
    }
    const first = this.state.nodes[0];
    throw new LocalSetupError(
      `Kafka did not answer a metadata request within ${timeoutMs} ms (${lastError}). Last lines of ${first ? this.logFile(first.nodeId) : 'the log'}:\n${first ? tail(this.logFile(first.nodeId)) : ''}`,
    );
  }

  private node(nodeId: number): NodeState {
    const node = this.state.nodes.find((candidate) => candidate.nodeId === nodeId);
    if (!node) throw new LocalSetupError(`no node ${nodeId} in local cluster '${this.state.name}' (nodes: ${this.nodeIds.join(', ')})`);
    return node;
  }

  private save(): void {
    const dir = clusterDir(this.state.name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'cluster.json');
    // Written aside, then renamed over the old one: a process killed while saving (an interrupted
    // soak stopping its cluster) leaves the old state or the new, never an empty file that no later
    // command can read to find the JVMs still running.
    const written = `${file}.${process.pid}.tmp`;
    writeFileSync(written, `${JSON.stringify(this.state, null, 2)}\n`);
    renameSync(written, file);
  }
}

/** Kafka's cluster ids are base64url UUIDs; like Kafka's own, never one starting with '-', which CLIs read as a flag. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function describeBrokers(brokers: string[]): Promise<number> {
  const admin = new Kafka({
    clientId: 'txstream-local-kafka',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function writeLoggingConfig(dir: string, version: KafkaVersion): string[] {
  if (version.logging === 'log4j2') {
    const file = join(dir, 'log4j2.properties');
    writeFileSync(
      file,
      [
        'rootLogger.level=INFO',
        'rootLogger.appenderRef.stdout.ref=STDOUT',
        'appender.stdout.type=Console',
        'appender.stdout.name=STDOUT',
        'appender.stdout.layout.type=PatternLayout',
        'appender.stdout.layout.pattern=[%d] %p %m (%c)%n',
        'logger.kafka.name=kafka',
        'logger.kafka.level=INFO',
        'logger.request.name=kafka.request.logger',
        'logger.request.level=WARN',
        '',
      ].join('\n'),
    );
    return [`-Dlog4j2.configurationFile=${file}`];
  }
  const file = join(dir, 'log4j.properties');
  writeFileSync(
    file,
    [
      'log4j.rootLogger=INFO, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.request.logger=WARN',
      '',
    ].join('\n'),
  );
  return [`-Dlog4j.configuration=file:${file}`];
}
