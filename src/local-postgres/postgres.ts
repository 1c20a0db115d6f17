import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { isAlive, isPortFree, LocalSetupError, sleep } from '../local-server/supervisor.js';

/**
 * A local PostgreSQL from Debian's `postgresql` package (initdb, pg_ctl), for the sink's
 * development and tests, as `kafka:up` is for the broker: its data lives in
 * `.postgres/<name>/` of the project, it listens on 127.0.0.1 on a port of its own (never the
 * machine's 5432), and only `pg_ctl` on that data folder starts and stops it.
 *
 * PostgreSQL refuses to run as root: when we are root (CI, containers) every server command
 * runs as the `postgres` user the package creates, and the folder is handed to that user.
 */
const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const HOST = '127.0.0.1';
/** Development credentials of the local server only; a real sink takes its password from env or a file. */
export const LOCAL_POSTGRES_USER = 'txstream';
export const LOCAL_POSTGRES_PASSWORD = 'txstream';
export const LOCAL_POSTGRES_DATABASE = 'txstream';
/** The dev server's port when none is given: off PostgreSQL's 5432, so a system server is never touched. */
export const DEFAULT_LOCAL_POSTGRES_PORT = 55432;

export function postgresDir(name: string): string {
  return join(process.env.TXSTREAM_POSTGRES_STATE_DIR ?? join(REPO_ROOT, '.postgres'), name);
}

interface PostgresState {
  readonly name: string;
  readonly port: number;
  readonly dir: string;
}

export interface PostgresStartOptions {
  readonly name: string;
  /** Absent: DEFAULT_LOCAL_POSTGRES_PORT. */
  readonly port?: number;
  /** The instance folder; default postgresDir(name). */
  readonly dir?: string;
}

export class LocalPostgres {
  private constructor(private readonly state: PostgresState) {}

  static load(name: string, dir = postgresDir(name)): LocalPostgres | undefined {
    const file = join(dir, 'state.json');
    if (!existsSync(file)) return undefined;
    return new LocalPostgres(JSON.parse(readFileSync(file, 'utf8')) as PostgresState);
  }

  static async start(options: PostgresStartOptions): Promise<{ postgres: LocalPostgres; alreadyRunning: boolean }> {
    const dir = options.dir ?? postgresDir(options.name);
    const existing = LocalPostgres.load(options.name, dir);
    if (existing?.running) return { postgres: existing, alreadyRunning: true };
    const port = options.port ?? existing?.port ?? DEFAULT_LOCAL_POSTGRES_PORT;
    if (!(await isPortFree(port))) throw new LocalSetupError(`port ${port} is busy; pick another with --port`);
    const postgres = new LocalPostgres({ name: options.name, port, dir });
    if (!existsSync(join(postgres.dataDir, 'PG_VERSION'))) postgres.initialise();
    writeFileSync(join(dir, 'state.json'), JSON.stringify(postgres.state, null, 2));
    await postgres.startServer();
    await postgres.ensureDatabase();
    return { postgres, alreadyRunning: false };
  }

  get name(): string {
    return this.state.name;
  }

  get port(): number {
    return this.state.port;
  }

  get dir(): string {
    return this.state.dir;
  }

  private get dataDir(): string {
    return join(this.state.dir, 'data');
  }

  private get logFile(): string {
    return join(this.state.dir, 'postgres.log');
  }

  /** The connection URL of the local database (development credentials). */
  get url(): string {
    return `postgres://${LOCAL_POSTGRES_USER}:${LOCAL_POSTGRES_PASSWORD}@${HOST}:${this.state.port}/${LOCAL_POSTGRES_DATABASE}`;
  }

  /** The postmaster's pid, from its pid file, when it is alive. */
  get pid(): number | undefined {
    const file = join(this.dataDir, 'postmaster.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  /** Answers a query (the server is up and the database exists). */
  async ready(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Stops the server: `fast` rolls back open transactions and closes connections, `immediate` is a crash. */
  async stop(options: { wipe?: boolean; mode?: 'fast' | 'immediate' } = {}): Promise<'stopped' | 'not-running'> {
    const wasRunning = this.running;
    if (wasRunning) this.pgCtl(['stop', '-m', options.mode ?? 'fast', '-w', '-t', '60']);
    if (options.wipe) rmSync(this.state.dir, { recursive: true, force: true });
    return wasRunning ? 'stopped' : 'not-running';
  }

  /** Starts the server again on the same port and data (after stop). */
  async restart(): Promise<void> {
    if (!this.running) await this.startServer();
  }

  private initialise(): void {
    mkdirSync(this.dataDir, { recursive: true });
    const pwfile = join(this.state.dir, 'pwfile');
    writeFileSync(pwfile, `${LOCAL_POSTGRES_PASSWORD}\n`);
    this.handToServerUser();
    // Peer/trust on the socket for the owner, scram over TCP: the worker authenticates with a password as it would in production.
    this.run(initdbPath(), ['-D', this.dataDir, '-U', LOCAL_POSTGRES_USER, `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-instructions']);
    rmSync(pwfile, { force: true });
  }

  private async startServer(): Promise<void> {
    this.handToServerUser();
    // Sockets in the instance folder, not /var/run/postgresql: the system server's folder is not ours.
    const options = `-p ${this.state.port} -c listen_addresses=${HOST} -k ${this.state.dir} -c max_connections=200 -c fsync=on`;
    try {
      this.pgCtl(['start', '-w', '-t', '60', '-l', this.logFile, '-o', options]);
    } catch (error) {
      throw new LocalSetupError(`PostgreSQL did not start on port ${this.state.port}: ${(error as Error).message.split('\n')[0]}; log: ${this.logFile}`);
    }
    const deadline = Date.now() + 30_000;
    while (!(await this.readyForConnections())) {
      if (Date.now() > deadline) throw new LocalSetupError(`PostgreSQL on port ${this.state.port} does not answer; log: ${this.logFile}`);
      await sleep(200);
    }
  }

  private async readyForConnections(): Promise<boolean> {
    const client = new pg.Client({ host: HOST, port: this.state.port, user: LOCAL_POSTGRES_USER, password: LOCAL_POSTGRES_PASSWORD, database: 'postgres' });
    client.on('error', () => {});
    try {
      await client.connect();
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  private async ensureDatabase(): Promise<void> {
    const client = new pg.Client({ host: HOST, port: this.state.port, user: LOCAL_POSTGRES_USER, password: LOCAL_POSTGRES_PASSWORD, database: 'postgres' });
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [LOCAL_POSTGRES_DATABASE]);
      if (rowCount === 0) await client.query(`CREATE DATABASE ${LOCAL_POSTGRES_DATABASE}`);
    } finally {
      await client.end();
    }
  }

  private pgCtl(args: readonly string[]): string {
    return this.run(pgCtlPath(), ['-D', this.dataDir, ...args]);
  }

  /** Runs a server tool, as the `postgres` user when we are root (PostgreSQL refuses root). */
  private run(command: string, args: readonly string[]): string {
    const [file, argv] = asRoot() ? ['runuser', ['-u', serverUser(), '--', command, ...args]] : [command, [...args]];
    try {
      return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new LocalSetupError(`${command} ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`);
    }
  }

  /** As root, the instance folder (and the folders above it) must be reachable and owned by the server user. */
  private handToServerUser(): void {
    mkdirSync(this.state.dir, { recursive: true });
    if (!asRoot()) return;
    const user = serverUser();
    chmodSync(this.state.dir, 0o755);
    chmodSync(dirname(this.state.dir), 0o755);
    execFileSync('chown', ['-R', `${user}:`, this.state.dir]);
  }
}

function asRoot(): boolean {
  return process.getuid?.() === 0;
}

function serverUser(): string {
  const user = process.env.TXSTREAM_POSTGRES_OS_USER ?? 'postgres';
  try {
    execFileSync('id', ['-u', user], { stdio: 'ignore' });
  } catch {
    throw new LocalSetupError(`running as root, and there is no '${user}' user to run PostgreSQL as (apt-get install postgresql creates it)`);
  }
  return user;
}

/** The server binaries: TXSTREAM_POSTGRES_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian), else the PATH. */
function binDir(): string | undefined {
  if (process.env.TXSTREAM_POSTGRES_BIN) return process.env.TXSTREAM_POSTGRES_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((version) => existsSync(join(root, version, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

function tool(name: string): string {
  const dir = binDir();
  if (dir) return join(dir, name);
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return name;
  } catch {
    throw new LocalSetupError(`PostgreSQL's ${name} was not found (apt-get install postgresql, or set TXSTREAM_POSTGRES_BIN to its bin folder)`);
  }
}

const initdbPath = () => tool('initdb');
const pgCtlPath = () => tool('pg_ctl');
