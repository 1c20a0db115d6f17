import { Command } from 'commander';
import { positiveInt, runLocalCli } from '../local-server/cli.js';
import { isListening, LocalSetupError } from '../local-server/supervisor.js';
import { clusterDir, fetchKafkaJars, LocalKafkaCluster } from './cluster.js';
import { layoutFromBasePort } from './layout.js';
import { resolveKafkaVersion } from './versions.js';

/** `npm run kafka:up|down|status`: a local KRaft cluster for development and tests. */

const DEFAULT_NAME = 'dev';

const program = new Command('kafka')
  .description('A local Apache Kafka (KRaft) on 127.0.0.1 from Maven Central jars; no Docker needed')
  .showHelpAfterError();

program
  .command('up')
  .description('start the local cluster (no-op when it already runs)')
  .option('--brokers <count>', 'broker processes (1, or 3 for fault tests; default: 1, or the count the cluster was created with)', positiveInt)
  .option('--port <port>', 'first broker port; controllers listen 100 above', positiveInt, Number(process.env.KAFKA_PORT ?? 9092))
  .option('--name <name>', 'cluster name, selects the state dir', DEFAULT_NAME)
  .option('--kafka-version <version>', 'Kafka version or line (default: KAFKA_VERSION or 3.9.2)')
  .option('--timeout <ms>', 'how long to wait for the brokers to answer', positiveInt, 60_000)
  .action(async (options: { brokers?: number; port: number; name: string; kafkaVersion?: string; timeout: number }) => {
    const existing = LocalKafkaCluster.load(options.name);
    if (existing && existing.runningNodes().length === existing.nodeIds.length) {
      console.log(`Kafka '${options.name}' is already running (Kafka ${existing.version}); bootstrap: ${existing.brokers.join(',')}`);
      return;
    }
    // Without --brokers, a stopped cluster restarts with the nodes it was created with.
    const brokers = options.brokers ?? existing?.nodeIds.length ?? 1;
    if (existing && existing.nodeIds.length !== brokers && existing.runningNodes().length === 0) {
      throw new LocalSetupError(
        `local cluster '${options.name}' was created with ${existing.nodeIds.length} broker(s); run 'npm run kafka:down -- --wipe${nameFlag(options.name)}' first to recreate it with ${brokers}`,
      );
    }
    const started = Date.now();
    const { cluster } = await LocalKafkaCluster.start({
      name: options.name,
      layout: layoutFromBasePort(clusterDir(options.name), brokers, options.port),
      version: options.kafkaVersion,
      readyTimeoutMs: options.timeout,
      log: (line) => console.log(line),
    });
    console.log(
      `Kafka ${cluster.version} is up in ${((Date.now() - started) / 1000).toFixed(1)} s; bootstrap: ${cluster.brokers.join(',')}`,
    );
  });

program
  .command('fetch')
  .description('download the broker jars into the cache, start nothing')
  .option('--kafka-version <version>', 'Kafka version or line (default: KAFKA_VERSION or 3.9.2)')
  .action((options: { kafkaVersion?: string }) => {
    const version = resolveKafkaVersion(options.kafkaVersion ?? process.env.KAFKA_VERSION);
    const { dir, downloaded } = fetchKafkaJars(version);
    console.log(`${downloaded ? 'downloaded' : 'already cached'}: Kafka ${version.version} jars in ${dir}`);
  });

program
  .command('down')
  .description('stop the local cluster; its data stays unless --wipe')
  .option('--name <name>', 'cluster name', DEFAULT_NAME)
  .option('--wipe', 'also delete the data dir', false)
  .action(async (options: { name: string; wipe: boolean }) => {
    const cluster = LocalKafkaCluster.load(options.name);
    if (!cluster) {
      console.log(`no local Kafka '${options.name}' to stop`);
      return;
    }
    const running = cluster.runningNodes().length;
    await cluster.stop({ wipe: options.wipe });
    console.log(
      `${running ? `stopped ${running} Kafka node(s)` : `Kafka '${options.name}' was not running`}${options.wipe ? `; removed ${clusterDir(options.name)}` : ''}`,
    );
  });

program
  .command('status')
  .description('show whether the local cluster runs; exit 3 when it does not')
  .option('--name <name>', 'cluster name', DEFAULT_NAME)
  .action(async (options: { name: string }) => {
    const cluster = LocalKafkaCluster.load(options.name);
    if (!cluster) {
      console.log(`Kafka '${options.name}': not created`);
      process.exitCode = 3;
      return;
    }
    const running = cluster.runningNodes();
    const total = cluster.nodeIds.length;
    console.log(
      `Kafka '${options.name}' ${cluster.version}: ${running.length}/${total} node(s) running; bootstrap: ${cluster.brokers.join(',')}`,
    );
    for (const node of running) {
      const listening = await isListening(node.brokerPort);
      console.log(`  node ${node.nodeId}: pid ${node.pid}, port ${node.brokerPort} ${listening ? 'listening' : 'not listening'}`);
    }
    if (running.length < total) process.exitCode = 3;
  });

function nameFlag(name: string): string {
  return name === DEFAULT_NAME ? '' : ` --name ${name}`;
}

runLocalCli(program, 'kafka');
