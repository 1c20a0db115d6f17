import { execFileSync } from 'node:child_process';

/**
 * Whether a Docker engine answers here: the suite then runs its servers (Kafka, PostgreSQL)
 * as testcontainers; without one, as processes of the project's own scripts.
 * TXSTREAM_NO_DOCKER forces the processes.
 */
export function dockerAnswers(): boolean {
  if (process.env.TXSTREAM_NO_DOCKER) return false;
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
