import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TopicsValidationError } from '../../src/topics/errors.js';
import { topicsJsonSchema } from '../../src/topics/format.js';
import { loadTopicsDir, type TopicsProject } from '../../src/topics/load.js';

/** The topics files' validation: every problem names the file, the line, the path, what is wrong and what is accepted. */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A topics folder with these files (and a handler module at handlers/ok.ts). */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'txstream-topics-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'handlers'));
  writeFileSync(join(dir, 'handlers', 'ok.ts'), 'export default (record: unknown) => ({ value: record });\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function load(files: Record<string, string>): TopicsProject {
  return loadTopicsDir(folder(files));
}

/** The problems as `file:line:column path: message`, the file relative to the folder. */
function problems(files: Record<string, string>): string[] {
  const dir = folder(files);
  try {
    loadTopicsDir(dir);
  } catch (error) {
    if (!(error instanceof TopicsValidationError)) throw error;
    return error.problems.map((p) => `${p.file.slice(p.file.lastIndexOf('/') + 1)}:${p.line}:${p.column} ${p.path}: ${p.message}`);
  }
  throw new Error('the files were valid');
}

const ORDERS = `topics:
  - name: orders
    partitions: 3
    configs:
      retention.ms: 604800000
  - name: orders.enriched
    partitions: 3
`;

const PIPELINE = `pipelines:
  - name: enrich
    input: orders
    output: orders.enriched
    handler:
      module: ./handlers/ok.ts
`;

describe('valid topics files', () => {
  it('load into topics, derived retry and dead-letter topics, and pipelines', () => {
    const project = load({ 'a.yaml': ORDERS, 'b.yaml': PIPELINE });
    expect(project.topics.map((t) => t.name).sort()).toEqual([
      'orders',
      'orders.dlt',
      'orders.enriched',
      'orders.retry.1',
      'orders.retry.2',
      'orders.retry.3',
    ]);
    const retry = project.topics.find((t) => t.name === 'orders.retry.1');
    expect(retry).toMatchObject({ partitions: 3, configs: { 'retention.ms': '604800000' }, derivedFrom: { pipeline: 'enrich', kind: 'retry' } });
    expect(retry?.origin).toMatch(/derived from pipeline 'enrich' \(.*b\.yaml:2\)/);
    expect(project.pipelines[0]).toMatchObject({ inputs: ['orders'], deadLetterTopics: { orders: 'orders.dlt' } });
  });

  it('derive one retry topic per attempt, with overrides, and let an explicit declaration win', () => {
    const project = load({
      'a.yaml': `${ORDERS}  - name: orders.dlt
    partitions: 1
`,
      'b.yaml': `pipelines:
  - name: enrich
    input: orders
    handler: { module: ./handlers/ok.ts }
    errors: { onError: retry, attempts: 2, backoff: { initialMs: 100 } }
    retryTopics: { partitions: 6, configs: { retention.ms: 3600000 } }
    deadLetterTopics: { partitions: 12 }
`,
    });
    const byName = new Map(project.topics.map((t) => [t.name, t]));
    expect([...byName.keys()].filter((n) => n.includes('retry')).sort()).toEqual(['orders.retry.1', 'orders.retry.2']);
    expect(byName.get('orders.retry.2')).toMatchObject({ partitions: 6, configs: { 'retention.ms': '3600000' } });
    // Declared under topics: the declaration wins over deadLetterTopics.
    expect(byName.get('orders.dlt')).toMatchObject({ partitions: 1, configs: {} });
    expect(byName.get('orders.dlt')?.derivedFrom).toBeUndefined();
  });

  it('derive no retry topics for dead-letter, block and skip, but always a dead-letter topic', () => {
    for (const onError of ['dead-letter', 'block', 'skip']) {
      const project = load({ 'a.yaml': ORDERS, 'b.yaml': `${PIPELINE}    errors: { onError: ${onError} }\n` });
      expect(project.topics.map((t) => t.name).sort()).toEqual(['orders', 'orders.dlt', 'orders.enriched']);
    }
  });

  it('accept registry serdes in short and long form, and the worker settings of topics/txstream.yaml', () => {
    const project = load({
      'a.yaml': ORDERS,
      'b.yaml': `clientId: shop
groupId: shop
commit: { strategy: transactional, batchSize: 200 }
schemaRegistry: { url: "http://127.0.0.1:8081/apis/ccompat/v7" }
${PIPELINE}    serde:
      input: avro
      output: { format: protobuf, subject: orders.enriched-value, messageName: Enriched }
`,
    });
    expect(project.settings).toMatchObject({ worker: { clientId: 'shop', commit: { batchSize: 200 } }, schemaRegistryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7' });
    expect(project.pipelines[0]?.config.serde).toEqual({
      input: { format: 'avro' },
      output: { format: 'protobuf', subject: 'orders.enriched-value', messageName: 'Enriched' },
    });
  });

  it('turn config values into the strings Kafka takes, lists comma-separated', () => {
    const project = load({
      'a.yaml': 'topics:\n  - name: t\n    partitions: 1\n    configs:\n      cleanup.policy: [compact, delete]\n      retention.ms: -1\n      preallocate: false\n      min.cleanable.dirty.ratio: 0.25\n      retention.bytes: "9223372036854775807"\n',
    });
    expect(project.topics[0]?.configs).toEqual({
      'cleanup.policy': 'compact,delete',
      'retention.ms': '-1',
      preallocate: 'false',
      'min.cleanable.dirty.ratio': '0.25',
      'retention.bytes': '9223372036854775807',
    });
  });

  it("include the repository's own topics/ (the demo's files)", () => {
    const project = loadTopicsDir(join(import.meta.dirname, '../../topics'));
    expect(project.pipelines.map((p) => p.config.name)).toEqual(['orders-enricher']);
    expect(project.topics.map((t) => t.name).sort()).toEqual(['orders', 'orders.dlt', 'orders.enriched', 'orders.retry.1', 'orders.retry.2', 'orders.retry.3']);
  });
});

describe('malformed topics files', () => {
  it('1. bad YAML: the parser message and its line', () => {
    expect(problems({ 'a.yaml': 'topics:\n  - name: orders\n    partitions: [3\n' })).toEqual([
      expect.stringMatching(/^a\.yaml:4:1 : not valid YAML: .*(flow sequence|\])/),
    ]);
  });

  it('2. a key given twice in one mapping', () => {
    expect(problems({ 'a.yaml': 'topics:\n  - name: orders\n    partitions: 3\n    partitions: 4\n' })).toEqual([
      expect.stringMatching(/^a\.yaml:4:5 : not valid YAML: Map keys must be unique/),
    ]);
  });

  it('3. unknown keys, with the accepted ones', () => {
    expect(problems({ 'a.yaml': 'topic:\n  - name: orders\n' })).toEqual([
      'a.yaml:1:1 topic: unknown key \'topic\' (accepted: brokers, clientId, groupId, commit, partitionsConcurrently, maxInFlight, sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, drainTimeoutMs, metadataMaxAgeMs, memoryBudgetMb, instanceId, metricsPort, metricsHost, livenessMaxEventLoopDelayMs, console, postgresUrl, only, security, schemaRegistry, topics, pipelines)',
    ]);
    expect(problems({ 'a.yaml': 'topics:\n  - name: orders\n    partition: 3\n' })).toEqual([
      'a.yaml:2:5 topics[0].partitions: is required (a number)',
      'a.yaml:3:5 topics[0].partition: unknown key \'partition\' (accepted: name, partitions, replicationFactor, configs)',
    ]);
  });

  it('4. wrong types and out-of-range numbers', () => {
    expect(
      problems({
        'a.yaml': 'topics:\n  - name: orders\n    partitions: three\n  - name: b\n    partitions: 0\n    replicationFactor: 1.5\n  - orders.enriched\n',
      }),
    ).toEqual([
      "a.yaml:3:17 topics[0].partitions: expected a number, got 'three' (a string)",
      'a.yaml:5:17 topics[1].partitions: got 0; accepted: at least 1',
      'a.yaml:6:24 topics[1].replicationFactor: expected a whole number, got 1.5 (a number)',
      "a.yaml:7:5 topics[2]: expected a mapping, got 'orders.enriched' (a string)",
    ]);
  });

  it('5. an unknown topic config and a config value that is not a scalar', () => {
    const found = problems({ 'a.yaml': 'topics:\n  - name: orders\n    partitions: 1\n    configs:\n      retention.msx: 1000\n      retention.ms: [1]\n' });
    expect(found).toHaveLength(2);
    expect(found[1]).toBe('a.yaml:6:21 topics[0].configs.retention.ms: got a list ([1]); accepted: a string, a number, a boolean or a list of strings');
    expect(found[0]).toMatch(/^a\.yaml:5:7 topics\[0\]\.configs\.retention\.msx: unknown topic config 'retention\.msx' \(accepted: cleanup\.policy, .*retention\.ms, /);
  });

  it('5b. an integer config value that a JavaScript number cannot hold', () => {
    expect(problems({ 'a.yaml': 'topics:\n  - name: orders\n    partitions: 1\n    configs: { retention.ms: 9223372036854775807 }\n' })).toEqual([
      'a.yaml:4:30 topics[0].configs.retention.ms: is above 2^53 and would lose precision: quote it ("9223372036854775807")',
    ]);
  });

  it('6. a pipeline naming a topic no file declares', () => {
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': PIPELINE.replace('input: orders', 'input: [orders, payments]') })).toEqual([
      "b.yaml:3:21 pipelines[0].input[1]: topic 'payments' is not declared under topics: in any file (declared: orders, orders.enriched)",
    ]);
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': PIPELINE.replace('output: orders.enriched', 'output: orders.audited') })).toEqual([
      "b.yaml:4:13 pipelines[0].output: topic 'orders.audited' is not declared under topics: in any file (declared: orders, orders.enriched)",
    ]);
  });

  it('6b. a typo in a topic name gets a suggestion', () => {
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': PIPELINE.replace('input: orders', 'input: ordres') })).toEqual([
      "b.yaml:3:12 pipelines[0].input: topic 'ordres' is not declared under topics: in any file (did you mean 'orders'?)",
    ]);
  });

  it('7. a pipeline whose handler module does not exist', () => {
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': PIPELINE.replace('./handlers/ok.ts', './handlers/missing.ts') })).toEqual([
      expect.stringMatching(/^b\.yaml:6:15 pipelines\[0\]\.handler\.module: handler module '\.\/handlers\/missing\.ts' does not exist \(looked for .*\/handlers\/missing\.ts; paths are relative to the file's folder\)$/),
    ]);
  });

  it('8. a topic declared twice, across files', () => {
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': 'topics:\n  - name: orders\n    partitions: 6\n' })).toEqual([
      expect.stringMatching(/^b\.yaml:2:11 topics\[0\]\.name: topic 'orders' is declared twice \(first at .*a\.yaml:2\); declare each topic once$/),
    ]);
  });

  it('9. a pipeline name used twice', () => {
    expect(problems({ 'a.yaml': `${ORDERS}${PIPELINE}`, 'b.yaml': PIPELINE })).toEqual([
      expect.stringMatching(/^b\.yaml:2:11 pipelines\[0\]\.name: pipeline 'enrich' is defined twice \(first at .*a\.yaml:9\); pipeline names must be unique$/),
    ]);
  });

  it('10. an unknown error policy, with the accepted ones', () => {
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': `${PIPELINE}    errors:\n      onError: retry-forever\n` })).toEqual([
      "b.yaml:8:16 pipelines[0].errors.onError: got 'retry-forever' (a string); accepted: retry, block, dead-letter, skip",
    ]);
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': `${PIPELINE}    errors: { onError: retry, attempts: 3, delay: 5 }\n` })).toEqual([
      "b.yaml:7:44 pipelines[0].errors.delay: unknown key 'delay' (accepted: onError, attempts, backoff, then, keyOrderOnRetry)",
    ]);
  });

  it('11. an unknown serde, and registry options on a serde that has no registry', () => {
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': `${PIPELINE}    serde: { input: xml, output: { format: json, subject: x } }\n` })).toEqual([
      "b.yaml:7:21 pipelines[0].serde.input.format: got 'xml' (a string); accepted: json, json-bigint, string, bytes, avro, json-schema, protobuf",
      "b.yaml:7:59 pipelines[0].serde.output.subject: 'subject' applies to avro, json-schema, protobuf only, not to json",
    ]);
  });

  it('12. an invalid topic name and a missing schema file', () => {
    expect(
      problems({
        'a.yaml': `${ORDERS}  - name: "bad name"\n    partitions: 1\n`,
        'b.yaml': `${PIPELINE}    serde: { output: { format: avro, schema: ./schemas/missing.avsc } }\n`,
      }),
    ).toEqual([
      "a.yaml:8:11 topics[2].name: got 'bad name' (a string); accepted: a Kafka topic name: letters, digits, \".\", \"_\" and \"-\", at most 249",
      expect.stringMatching(/^b\.yaml:7:46 pipelines\[0\]\.serde\.output\.schema: schema file '\.\/schemas\/missing\.avsc' does not exist/),
    ]);
  });

  it('13. two pipelines deriving the same topic differently, and files disagreeing on a worker setting', () => {
    expect(
      problems({
        'a.yaml': `${ORDERS}groupId: shop\n${PIPELINE}`,
        'b.yaml': `groupId: warehouse\n${PIPELINE.replace('name: enrich', 'name: audit')}    retryTopics: { partitions: 1 }\n`,
      }),
    ).toEqual([
      expect.stringMatching(
        /^b\.yaml:8:18 pipelines\[0\]\.retryTopics: derives topic 'orders\.retry\.1' with settings \(partitions 1, replication factor default, retention\.ms=604800000\) that differ from those it is derived from pipeline 'enrich' \(.*a\.yaml:10\) with \(partitions 3, replication factor default, retention\.ms=604800000\); make them agree or declare 'orders\.retry\.1' under topics:$/,
      ),
      expect.stringMatching(/^b\.yaml:8:18 pipelines\[0\]\.retryTopics: derives topic 'orders\.retry\.2'/),
      expect.stringMatching(/^b\.yaml:8:18 pipelines\[0\]\.retryTopics: derives topic 'orders\.retry\.3'/),
      expect.stringMatching(/^b\.yaml:1:10 groupId: sets groupId to "warehouse", but .*a\.yaml sets it to "shop"; worker settings must agree across files$/),
    ]);
  });

  it('14. a pipeline whose output is its own input, a retry topic or its dead-letter topic, as run refuses it', () => {
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': PIPELINE.replace('output: orders.enriched', 'output: orders') })).toEqual([
      'b.yaml:4:13 pipelines[0].output: output \'orders\' is also its input; outputs must be other topics',
    ]);
    expect(problems({ 'a.yaml': ORDERS, 'b.yaml': `${PIPELINE}    outputs: [orders.retry.3, orders.dlt]\n` })).toEqual([
      "b.yaml:7:15 pipelines[0].outputs[0]: output 'orders.retry.3' is also its retry topic of attempt 3 (of input 'orders'); outputs must be other topics",
      "b.yaml:7:31 pipelines[0].outputs[1]: output 'orders.dlt' is also its dead-letter topic (of input 'orders'); outputs must be other topics",
    ]);
  });

  it('15. topic config values the broker would refuse, with the accepted ones', () => {
    const found = problems({
      'a.yaml': `topics:
  - name: orders
    partitions: 1
    configs:
      cleanup.policy: compactt
      retention.ms: -2
      retention.bytes: "9223372036854775808"
      min.insync.replicas: 0
      max.message.bytes: 1.5
      compression.type: brotli
      segment.bytes: 2147483648
      message.timestamp.type: createtime
      unclean.leader.election.enable: yes
`,
      'b.yaml': `${PIPELINE.replace('    output: orders.enriched\n', '')}    deadLetterTopics: { configs: { cleanup.policy: [compact, deleet] } }\n`,
    });
    expect(found).toEqual([
      "a.yaml:5:23 topics[0].configs.cleanup.policy: got 'compactt'; accepted: compact, delete, or several comma-separated (a list)",
      'a.yaml:6:21 topics[0].configs.retention.ms: got -2; accepted: a whole number from -1 to 9223372036854775807',
      "a.yaml:7:24 topics[0].configs.retention.bytes: got '9223372036854775808'; accepted: a whole number from -9223372036854775808 to 9223372036854775807",
      'a.yaml:8:28 topics[0].configs.min.insync.replicas: got 0; accepted: a whole number from 1 to 2147483647',
      'a.yaml:9:26 topics[0].configs.max.message.bytes: got 1.5; accepted: a whole number from 0 to 2147483647',
      "a.yaml:10:25 topics[0].configs.compression.type: got 'brotli'; accepted: uncompressed, zstd, lz4, snappy, gzip, producer",
      'a.yaml:11:22 topics[0].configs.segment.bytes: got 2147483648; accepted: a whole number from 14 to 2147483647',
      "a.yaml:12:31 topics[0].configs.message.timestamp.type: got 'createtime'; accepted: CreateTime, LogAppendTime",
      "a.yaml:13:39 topics[0].configs.unclean.leader.election.enable: got 'yes'; accepted: true or false",
      "b.yaml:6:52 pipelines[0].deadLetterTopics.configs.cleanup.policy: got 'compact,deleet'; accepted: compact, delete, or several comma-separated (a list)",
    ]);
  });

  it('reports every problem of every file at once, in file and line order', () => {
    const dir = folder({
      'a.yaml': 'topics:\n  - name: orders\n    partitions: -1\n',
      'b.yaml': 'topics: [\n',
      'c.yaml': `${PIPELINE.replace('./handlers/ok.ts', './nope.ts')}    commit: { strategy: sometimes }\n`,
    });
    let error: unknown;
    try {
      loadTopicsDir(dir);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TopicsValidationError);
    const message = (error as Error).message;
    expect(message).toMatch(/^5 problems in the topics files:\n/);
    const lines = message.split('\n').slice(1).map((line) => line.trim().replace(`${dir}/`, ''));
    expect(lines).toEqual([
      'a.yaml:3:17 topics[0].partitions: got -1; accepted: at least 1',
      'b.yaml:2:1: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
      "c.yaml:4:13 pipelines[0].output: topic 'orders.enriched' is not declared under topics: in any file (declared: orders)",
      expect.stringMatching(/^c\.yaml:6:15 pipelines\[0\]\.handler\.module: handler module '\.\/nope\.ts' does not exist/),
      "c.yaml:7:25 pipelines[0].commit.strategy: got 'sometimes' (a string); accepted: transactional, batch, per-message, auto",
    ]);
  });
});

describe('the JSON Schema for editors', () => {
  it('topics/schema.json is the generated one (regenerate: txstream topics schema --out topics/schema.json)', () => {
    const published = JSON.parse(readFileSync(join(import.meta.dirname, '../../topics/schema.json'), 'utf8')) as unknown;
    expect(published).toEqual(topicsJsonSchema());
  });

  it('describes topics, pipelines, the short and long serde forms and the error policies', () => {
    const text = JSON.stringify(topicsJsonSchema());
    for (const expected of ['"replicationFactor"', '"retryTopics"', '"deadLetterTopics"', '"json-schema"', '"onError"', '"retention.ms"']) {
      expect(text).toContain(expected);
    }
    expect(text).toContain('"additionalProperties":false');
  });
});
