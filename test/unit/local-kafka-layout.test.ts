import { describe, expect, it } from 'vitest';
import { layoutFromBasePort, renderProperties, serverProperties } from '../../src/local-kafka/layout.js';
import { resolveKafkaVersion } from '../../src/local-kafka/versions.js';

describe('local cluster layout', () => {
  it('gives a single node the replication settings one node can satisfy', () => {
    const layout = layoutFromBasePort('/tmp/c', 1, 9092);
    const props = serverProperties(layout, layout.nodes[0]!);
    expect(props).toMatchObject({
      'transaction.state.log.replication.factor': 1,
      'transaction.state.log.min.isr': 1,
      'offsets.topic.replication.factor': 1,
      'auto.create.topics.enable': false,
      'group.initial.rebalance.delay.ms': 0,
      listeners: 'PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9192',
      'controller.quorum.voters': '1@127.0.0.1:9192',
    });
  });

  it('gives three nodes distinct ports, one voter quorum, RF 3 and min ISR 2', () => {
    const layout = layoutFromBasePort('/tmp/c', 3, 19092);
    expect(layout.nodes.map((n) => n.brokerPort)).toEqual([19092, 19093, 19094]);
    const props = serverProperties(layout, layout.nodes[2]!);
    expect(props['controller.quorum.voters']).toBe('1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194');
    expect(props['node.id']).toBe(3);
    expect(props['default.replication.factor']).toBe(3);
    expect(props['min.insync.replicas']).toBe(2);
    expect(props['log.dirs']).toBe('/tmp/c/node-3/data');
  });

  it('lets overrides win and renders key=value lines', () => {
    const layout = { ...layoutFromBasePort('/tmp/c', 1, 9092), overrides: { 'num.partitions': 6 } };
    const text = renderProperties(serverProperties(layout, layout.nodes[0]!));
    expect(text).toContain('num.partitions=6\n');
    expect(text.match(/^num\.partitions=/gm)).toHaveLength(1);
  });
});

describe('KAFKA_VERSION', () => {
  it('defaults to the 3.9 pin and resolves lines', () => {
    expect(resolveKafkaVersion(undefined)).toEqual({ version: '3.9.2', major: 3, logging: 'log4j1' });
    expect(resolveKafkaVersion('4.x').major).toBe(4);
    expect(resolveKafkaVersion('4.x').logging).toBe('log4j2');
    expect(resolveKafkaVersion('3.8.1').version).toBe('3.8.1');
  });

  it('rejects what is not a version, naming the accepted forms', () => {
    expect(() => resolveKafkaVersion('latest')).toThrow(/KAFKA_VERSION 'latest' is not a Kafka version.*3\.9/);
    expect(() => resolveKafkaVersion('2.8.0')).toThrow(/KRaft/);
  });
});
