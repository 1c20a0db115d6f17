import { Command } from 'commander';
import { positiveInt, runLocalCli } from '../local-server/cli.js';
import { DEFAULT_LOCAL_POSTGRES_PORT, LocalPostgres, postgresDir } from './postgres.js';

/** `npm run postgres:up|down|status`: a local PostgreSQL for the sink pipelines, like `kafka:up` for the broker. */
const DEFAULT_NAME = 'dev';
const program = new Command('postgres').description("A local PostgreSQL (Debian's postgresql package) in .postgres/, on a port of its own");

program
  .command('up')
  .description('start the local PostgreSQL (no-op when it already runs) and print its URL')
  .option('--port <port>', `port (default: POSTGRES_PORT or ${DEFAULT_LOCAL_POSTGRES_PORT})`, positiveInt, Number(process.env.POSTGRES_PORT ?? 0) || undefined)
  .option('--name <name>', 'instance name, selects the state dir', DEFAULT_NAME)
  .action(async (options: { port?: number; name: string }) => {
    const { postgres, alreadyRunning } = await LocalPostgres.start({ name: options.name, port: options.port });
    console.log(`${alreadyRunning ? `PostgreSQL '${options.name}' is already running` : `PostgreSQL '${options.name}' is up`}: ${postgres.url}`);
  });

program
  .command('status')
  .description('exit 0 when it runs and answers, 3 when not')
  .option('--name <name>', 'instance name', DEFAULT_NAME)
  .action(async (options: { name: string }) => {
    const postgres = LocalPostgres.load(options.name);
    const ready = postgres?.running === true && (await postgres.ready());
    console.log(ready ? `PostgreSQL '${options.name}' runs (pid ${postgres.pid}): ${postgres.url}` : `PostgreSQL '${options.name}' is not running`);
    process.exitCode = ready ? 0 : 3;
  });

program
  .command('down')
  .description('stop it')
  .option('--name <name>', 'instance name', DEFAULT_NAME)
  .option('--wipe', `also delete its data (${postgresDir('<name>')})`, false)
  .action(async (options: { name: string; wipe: boolean }) => {
    const postgres = LocalPostgres.load(options.name);
    if (!postgres) {
      console.log(`no local PostgreSQL '${options.name}' to stop`);
      return;
    }
    const result = await postgres.stop({ wipe: options.wipe });
    console.log(`${result === 'not-running' ? `PostgreSQL '${options.name}' was not running` : `stopped PostgreSQL '${options.name}'`}${options.wipe ? '; wiped' : ''}`);
  });

runLocalCli(program, 'postgres');
