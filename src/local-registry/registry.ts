import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDetachedJava } from '../local-jvm/java.js';
import { ensureJars } from '../local-jvm/maven-jars.js';
import { isAlive, isPortFree, LocalSetupError, requireCommand, sleep, stopProcess, tail } from '../local-server/supervisor.js';

/** The pin lives in local/registry/pom.xml (see its README); this names the cache folder and the log lines. */
export const REGISTRY_VERSION = '2.4.2.Final';

const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const POM = join(REPO_ROOT, 'local', 'registry', 'pom.xml');
const HOST = '127.0.0.1';
const RUN_JAR = join('quarkus-app', 'quarkus-run.jar');
/** quarkus-run.jar's Main-Class; its manifest Class-Path still applies when the jar is put on -cp. */
const QUARKUS_MAIN = 'io.quarkus.bootstrap.runner.QuarkusEntryPoint';

export function registryCacheDir(version = REGISTRY_VERSION): string {
  return join(process.env.TXSTREAM_CACHE_DIR ?? join(REPO_ROOT, '.cache'), 'registry', version);
}

export function registryDir(name: string): string {
  return join(process.env.TXSTREAM_REGISTRY_STATE_DIR ?? join(REPO_ROOT, '.registry'), name);
}

/**
 * Builds the registry once into the cache. Apicurio publishes only an un-augmented
 * Quarkus app jar, so this is a Maven `package` of local/registry/pom.xml, not a copy of jars.
 */
export function fetchRegistryJars(): { dir: string; downloaded: boolean } {
  return ensureJars({
    pom: POM,
    targetDir: registryCacheDir(),
    properties: {},
    what: `Apicurio Registry ${REGISTRY_VERSION}`,
    goal: { package: { outputProperty: 'registry.outputDir', produces: RUN_JAR } },
  });
}

interface RegistryState {
  readonly name: string;
  readonly version: string;
  readonly port: number;
  pid?: number;
}

export interface StartOptions {
  readonly name: string;
  readonly port: number;
  readonly readyTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/**
 * A local Apicurio Registry serving the Confluent-compatible API. Storage is the app's
 * in-memory H2, so every start is empty; only the pid and port are kept, in a JSON file,
 * so separate commands can stop or inspect what an earlier one started.
 */
export class LocalSchemaRegistry {
  private constructor(private state: RegistryState) {}

  static load(name: string): LocalSchemaRegistry | undefined {
    const file = join(registryDir(name), 'state.json');
    if (!existsSync(file)) return undefined;
    return new LocalSchemaRegistry(JSON.parse(readFileSync(file, 'utf8')) as RegistryState);
  }

  get name(): string {
    return this.state.name;
  }

  get version(): string {
    return this.state.version;
  }

  get port(): number {
    return this.state.port;
  }

  get pid(): number | undefined {
    return this.state.pid;
  }

  /** The base URL for @kafkajs/confluent-schema-registry's `host`. */
  get url(): string {
    return `http://${HOST}:${this.state.port}/apis/ccompat/v7`;
  }

  get logFile(): string {
    return join(registryDir(this.state.name), 'registry.log');
  }

  isRunning(): boolean {
    return this.state.pid !== undefined && isAlive(this.state.pid);
  }

  /** Starts the registry unless it runs already; resolves once the ccompat API answers. */
  static async start(options: StartOptions): Promise<{ registry: LocalSchemaRegistry; alreadyRunning: boolean; downloaded: boolean }> {
    const log = options.log ?? (() => {});
    const existing = LocalSchemaRegistry.load(options.name);
    if (existing?.isRunning()) return { registry: existing, alreadyRunning: true, downloaded: false };
    requireCommand('java', 'run the local schema registry');
    // Nothing is stored on disk, so a stopped registry may come back on another port.
    const registry = new LocalSchemaRegistry({ name: options.name, version: REGISTRY_VERSION, port: options.port });
    if (!(await isPortFree(registry.port, HOST))) {
      throw new LocalSetupError(
        `port ${registry.port} on ${HOST} is already in use by another process; stop it or choose another port (npm run registry:up -- --port <port>)`,
      );
    }
    const jars = fetchRegistryJars();
    if (jars.downloaded) log(`built Apicurio Registry ${REGISTRY_VERSION} into ${jars.dir}`);
    const heap = (process.env.REGISTRY_HEAP_OPTS ?? '-Xmx256m').split(/\s+/).filter(Boolean);
    registry.state.pid = startDetachedJava({
      classpath: join(jars.dir, RUN_JAR),
      mainClass: QUARKUS_MAIN,
      args: [],
      jvmOptions: [...heap, '-Djava.awt.headless=true', `-Dquarkus.http.host=${HOST}`, `-Dquarkus.http.port=${registry.port}`],
      logFile: registry.logFile,
    });
    registry.save();
    await registry.waitUntilReady(options.readyTimeoutMs ?? 90_000);
    return { registry, alreadyRunning: false, downloaded: jars.downloaded };
  }

  async stop(options: { wipe?: boolean } = {}): Promise<void> {
    if (this.state.pid !== undefined) {
      await stopProcess(this.state.pid);
      while (isAlive(this.state.pid)) await sleep(100);
    }
    this.state.pid = undefined;
    if (options.wipe) rmSync(registryDir(this.state.name), { recursive: true, force: true });
    else this.save();
  }

  /** True when GET /subjects answers 200: the app is up and its storage is ready. */
  async answers(timeoutMs = 1000): Promise<boolean> {
    try {
      const response = await fetch(`${this.url}/subjects`, { signal: AbortSignal.timeout(timeoutMs) });
      await response.body?.cancel();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** Waits for the ccompat API; a JVM that exits on the way (a port taken meanwhile, a bad build) fails at once. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.isRunning()) {
        throw new LocalSetupError(`the schema registry exited during start-up. Last lines of ${this.logFile}:\n${tail(this.logFile)}`);
      }
      if (await this.answers()) return;
      await sleep(250);
    }
    throw new LocalSetupError(
      `the schema registry did not answer GET ${this.url}/subjects within ${timeoutMs} ms (pid ${this.state.pid} is left running; 'npm run registry:down -- --name ${this.state.name}' stops it). Last lines of ${this.logFile}:\n${tail(this.logFile)}`,
    );
  }

  private save(): void {
    const dir = registryDir(this.state.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.json'), `${JSON.stringify(this.state, null, 2)}\n`);
  }
}
