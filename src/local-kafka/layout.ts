import { join } from 'node:path';

/**
 * Where each node of a local cluster listens and keeps its files, and the
 * broker settings derived from that. Pure: no I/O, so it is unit-tested.
 */
export interface NodeLayout {
  readonly nodeId: number;
  readonly brokerPort: number;
  readonly controllerPort: number;
  readonly dir: string;
}

export interface ClusterLayout {
  readonly host: string;
  readonly nodes: readonly NodeLayout[];
  /** Extra broker settings (listeners for SASL/TLS, test tuning) merged last. */
  readonly overrides?: Readonly<Record<string, string | number | boolean>>;
}

/** Controllers listen this far above their broker's port. */
export const CONTROLLER_PORT_OFFSET = 100;

export function layoutFromBasePort(clusterDir: string, brokers: number, basePort: number, host = '127.0.0.1'): ClusterLayout {
  const nodes = Array.from({ length: brokers }, (_, index) => ({
    nodeId: index + 1,
    brokerPort: basePort + index,
    controllerPort: basePort + CONTROLLER_PORT_OFFSET + index,
    dir: join(clusterDir, `node-${index + 1}`),
  }));
  return { host, nodes };
}

export function bootstrapServers(layout: ClusterLayout): string[] {
  return layout.nodes.map((node) => `${layout.host}:${node.brokerPort}`);
}

export function serverProperties(layout: ClusterLayout, node: NodeLayout): Record<string, string | number | boolean> {
  const clusterSize = layout.nodes.length;
  // One node cannot replicate: internal topics must ask for what one node can give,
  // or transactions and consumer groups never initialise.
  const replication = Math.min(clusterSize, 3);
  const minIsr = replication >= 3 ? 2 : 1;
  return {
    'process.roles': 'broker,controller',
    'node.id': node.nodeId,
    'controller.quorum.voters': layout.nodes.map((n) => `${n.nodeId}@${layout.host}:${n.controllerPort}`).join(','),
    listeners: `PLAINTEXT://${layout.host}:${node.brokerPort},CONTROLLER://${layout.host}:${node.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${layout.host}:${node.brokerPort}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'log.dirs': join(node.dir, 'data'),
    'num.partitions': 1,
    'default.replication.factor': replication,
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': replication,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': replication,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': 10,
    'auto.create.topics.enable': false,
    'group.initial.rebalance.delay.ms': 0,
    // Timed-out transactions are aborted promptly, so a test that kills a producer
    // is not left waiting on the default one-minute sweep.
    'transaction.abort.timed.out.transaction.cleanup.interval.ms': 5000,
    'log.retention.check.interval.ms': 300000,
    ...layout.overrides,
  };
}

export function renderProperties(properties: Record<string, string | number | boolean>): string {
  return `${Object.entries(properties)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join('\n')}\n`;
}
