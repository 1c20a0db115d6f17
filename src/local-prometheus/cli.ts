import { Command } from 'commander';
import { positiveInt, runLocalCli } from '../local-server/cli.js';
import { LocalPrometheus, prometheusDir } from './prometheus.js';

/** `npm run prometheus:up|down|status`: a local Prometheus scraping txstream workers, like `kafka:up` for the broker. */
const DEFAULT_NAME = 'dev';
const program = new Command('prometheus');

program
  .command('up')
  .description('start a local Prometheus scraping the given worker ops servers')
  .option('--port <port>', 'HTTP port (default: PROMETHEUS_PORT or a free one)', positiveInt, Number(process.env.PROMETHEUS_PORT ?? 0) || undefined)
  .option('--name <name>', 'instance name, selects the state dir', DEFAULT_NAME)
  .option('--target <host:port...>', 'worker ops servers to scrape (txstream run --metrics-port)', ['127.0.0.1:9464'])
  .option('--scrape-interval <seconds>', 'scrape and evaluation interval', positiveInt, 5)
  .action(async (options: { port?: number; name: string; target: string[]; scrapeInterval: number }) => {
    const { prometheus, alreadyRunning } = await LocalPrometheus.start({
      name: options.name,
      port: options.port,
      targets: options.target,
      scrapeIntervalSeconds: options.scrapeInterval,
    });
    console.log(
      `${alreadyRunning ? `Prometheus '${options.name}' is already running` : `Prometheus '${options.name}' is up`} at ${prometheus.url}, scraping ${options.target.join(', ')}`,
    );
  });

program
  .command('status')
  .description('exit 0 when it runs, 3 when not')
  .option('--name <name>', 'instance name', DEFAULT_NAME)
  .action(async (options: { name: string }) => {
    const prometheus = LocalPrometheus.load(options.name);
    const ready = prometheus?.running === true && (await prometheus.ready());
    console.log(ready ? `Prometheus '${options.name}' runs at ${prometheus.url}` : `Prometheus '${options.name}' is not running`);
    if (ready) {
      for (const target of await prometheus.targets()) console.log(`  ${target.scrapeUrl} ${target.health}${target.lastError ? ` (${target.lastError})` : ''}`);
    }
    process.exitCode = ready ? 0 : 3;
  });

program
  .command('down')
  .description('stop it')
  .option('--name <name>', 'instance name', DEFAULT_NAME)
  .option('--wipe', `also delete its state dir (${prometheusDir('<name>')})`, false)
  .action(async (options: { name: string; wipe: boolean }) => {
    const prometheus = LocalPrometheus.load(options.name);
    if (!prometheus) {
      console.log(`no local Prometheus '${options.name}' to stop`);
      return;
    }
    const result = await prometheus.stop({ wipe: options.wipe });
    console.log(`${result === 'not-running' ? `Prometheus '${options.name}' was not running` : `stopped Prometheus '${options.name}'`}${options.wipe ? '; wiped' : ''}`);
  });

runLocalCli(program, 'prometheus');
