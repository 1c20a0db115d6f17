import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { findFreePort } from '../../src/local-server/supervisor.js';
import type { PostgresServer } from './postgres.js';

/**
 * PostgreSQL in the official image, for machines with Docker (testcontainers), with the
 * stop/restart the restart test needs. The host port is fixed before start, so the URL
 * stays the same across a restart, as the local server's does.
 */
export async function startPostgresContainer(): Promise<PostgresServer> {
  const port = await findFreePort();
  const credentials = { user: 'txstream', password: 'txstream', database: 'txstream' };
  const container: StartedTestContainer = await new GenericContainer(process.env.POSTGRES_IMAGE ?? 'postgres:16-alpine')
    .withExposedPorts({ container: 5432, host: port })
    .withEnvironment({ POSTGRES_USER: credentials.user, POSTGRES_PASSWORD: credentials.password, POSTGRES_DB: credentials.database })
    // The image starts the server twice (init, then for real): wait for the second "ready".
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return {
    url: `postgres://${credentials.user}:${credentials.password}@127.0.0.1:${port}/${credentials.database}`,
    async stop(options = {}) {
      if (options.wipe) return void (await container.stop());
      // The server is the container's main process: stopping it stops the container, which restart() starts again.
      await container.exec(['su', 'postgres', '-c', `pg_ctl stop -D /var/lib/postgresql/data -m ${options.mode ?? 'fast'}`]).catch(() => {});
    },
    async restart() {
      await container.restart();
    },
  };
}
