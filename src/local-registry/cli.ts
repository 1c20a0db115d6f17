import { Command } from 'commander';
import { positiveInt, runLocalCli } from '../local-server/cli.js';
import { fetchRegistryJars, LocalSchemaRegistry, REGISTRY_VERSION, registryDir } from './registry.js';

/** `npm run registry:up|down|status|fetch`: a local Confluent-compatible schema registry for development and tests. */

const DEFAULT_NAME = 'dev';

const program = new Command('registry')
  .description(
    `A local Apicurio Registry ${REGISTRY_VERSION} (Confluent-compatible API) on 127.0.0.1, built from Maven Central; no Docker needed`,
  )
  .showHelpAfterError();

program
  .command('up')
  .description('start the local registry (no-op when it already runs); storage is in memory, so it starts empty')
  .option('--port <port>', 'HTTP port', positiveInt, Number(process.env.REGISTRY_PORT ?? 8081))
  .option('--name <name>', 'registry name, selects the state dir', DEFAULT_NAME)
  .option('--timeout <ms>', 'how long to wait for the API to answer', positiveInt, 90_000)
  .action(async (options: { port: number; name: string; timeout: number }) => {
    const existing = LocalSchemaRegistry.load(options.name);
    if (existing?.isRunning()) {
      console.log(`schema registry '${options.name}' is already running (pid ${existing.pid}); url: ${existing.url}`);
      return;
    }
    const started = Date.now();
    const { registry } = await LocalSchemaRegistry.start({
      name: options.name,
      port: options.port,
      readyTimeoutMs: options.timeout,
      log: (line) => console.log(line),
    });
    console.log(
      `Apicurio Registry ${registry.version} is up in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${registry.pid}); url: ${registry.url}`,
    );
  });

program
  .command('fetch')
  .description('build the registry into the cache, start nothing')
  .action(() => {
    const { dir, downloaded } = fetchRegistryJars();
    console.log(`${downloaded ? 'built' : 'already cached'}: Apicurio Registry ${REGISTRY_VERSION} in ${dir}`);
  });

program
  .command('down')
  .description('stop the local registry')
  .option('--name <name>', 'registry name', DEFAULT_NAME)
  .option('--wipe', 'also delete its state dir and log', false)
  .action(async (options: { name: string; wipe: boolean }) => {
    const registry = LocalSchemaRegistry.load(options.name);
    if (!registry) {
      console.log(`no local schema registry '${options.name}' to stop`);
      return;
    }
    const running = registry.isRunning();
    await registry.stop({ wipe: options.wipe });
    console.log(
      `${running ? `stopped schema registry '${options.name}'` : `schema registry '${options.name}' was not running`}${options.wipe ? `; removed ${registryDir(options.name)}` : ''}`,
    );
  });

program
  .command('status')
  .description('show whether the local registry runs; exit 3 when it does not')
  .option('--name <name>', 'registry name', DEFAULT_NAME)
  .action(async (options: { name: string }) => {
    const registry = LocalSchemaRegistry.load(options.name);
    if (!registry) {
      console.log(`schema registry '${options.name}': not created`);
      process.exitCode = 3;
      return;
    }
    if (!registry.isRunning()) {
      console.log(`schema registry '${options.name}': not running (last port ${registry.port})`);
      process.exitCode = 3;
      return;
    }
    const answers = await registry.answers();
    console.log(
      `schema registry '${options.name}' ${registry.version}: pid ${registry.pid}, port ${registry.port} ${answers ? 'answering' : 'not answering'}; url: ${registry.url}`,
    );
  });

runLocalCli(program, 'registry');
