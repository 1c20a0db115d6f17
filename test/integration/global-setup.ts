import type { TestProject } from 'vitest/node';
import { findFreePort } from '../../src/local-server/supervisor.js';
import { clusterDir, LocalKafkaCluster } from '../../src/local-kafka/cluster.js';
import { layoutFromBasePort } from '../../src/local-kafka/layout.js';
import { reapOrphanFaultClusters } from '../support/cluster.js';
import { dockerAnswers } from '../support/docker.js';
import { assertKafkaAnswers } from '../support/kafka.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    kafkaSource: 'KAFKA_BROKERS' | 'testcontainers' | 'local-jvm';
  }
}

/**
 * Picks the broker for the integration suite, once per run:
 * KAFKA_BROKERS if set; otherwise a container when a Docker engine answers;
 * otherwise a local JVM broker of our own, on free ports, wiped afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Broker JVMs are detached: fault clusters of an earlier run that never reached destroy() still run.
  await reapOrphanFaultClusters({ log: (line) => console.log(line) });
  const teardown = await chooseBroker(project);
  return async () => {
    await teardown();
    // Every test file is done: a fault cluster this run's workers left behind is a leak.
    await reapOrphanFaultClusters({ finishedRun: process.pid, log: (line) => console.log(line) });
  };
}

async function chooseBroker(project: TestProject): Promise<() => Promise<void>> {
  const configured = process.env.KAFKA_BROKERS?.trim();
  if (configured) {
    const brokers = configured.split(',').map((broker) => broker.trim());
    await assertKafkaAnswers(brokers, 'KAFKA_BROKERS');
    project.provide('kafkaBrokers', brokers);
    project.provide('kafkaSource', 'KAFKA_BROKERS');
    return async () => {};
  }
  if (dockerAnswers()) {
    const { startKafkaContainer } = await import('../support/kafka-container.js');
    const container = await startKafkaContainer();
    project.provide('kafkaBrokers', container.brokers);
    project.provide('kafkaSource', 'testcontainers');
    return () => container.stop();
  }
  const name = `test-${process.pid}`;
  const port = await findFreePort();
  const { cluster } = await LocalKafkaCluster.start({
    name,
    layout: layoutFromBasePort(clusterDir(name), 1, port),
    log: (line) => console.log(line),
  });
  console.log(`integration tests use a local Kafka ${cluster.version} at ${cluster.brokers.join(',')}`);
  project.provide('kafkaBrokers', cluster.brokers);
  project.provide('kafkaSource', 'local-jvm');
  return () => cluster.stop({ wipe: true });
}
