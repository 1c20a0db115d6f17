import { clusterDir, LocalKafkaCluster } from '../local-kafka/cluster.js';
import { layoutFromBasePort } from '../local-kafka/layout.js';

/** What both demos (demo.ts, demo-sink.ts) start from, a broker and sample orders: here, so that neither imports the other. */

export async function localBrokers(): Promise<string[]> {
  const { cluster, alreadyRunning } = await LocalKafkaCluster.start({
    name: 'dev',
    layout: layoutFromBasePort(clusterDir('dev'), 1, Number(process.env.KAFKA_PORT ?? 9092)),
    log: (line) => console.log(line),
  });
  console.log(
    `${alreadyRunning ? 'using the running' : 'started a'} local Kafka ${cluster.version} at ${cluster.brokers.join(',')} (stop it with npm run kafka:down)`,
  );
  return cluster.brokers;
}

export function sampleOrder(run: string, index: number): { key: string; value: string } {
  const customerId = `customer-${index % 97}`;
  const items = Array.from({ length: 1 + (index % 4) }, (_, item) => ({
    sku: `sku-${(index * 7 + item) % 500}`,
    quantity: 1 + (item % 3),
    unitPrice: 4.99 + item,
  }));
  return { key: customerId, value: JSON.stringify({ orderId: `${run}-${index}`, customerId, items }) };
}
