import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalSetupError, requireCommand } from './java-process.js';

export interface JarFetch {
  /** The pinned pom whose runtime dependency closure is copied. */
  readonly pom: string;
  /** Where the jars end up; a marker file makes the next call a no-op. */
  readonly targetDir: string;
  /** -D properties passed to Maven (versions, profile switches). */
  readonly properties: Readonly<Record<string, string | true>>;
  readonly what: string;
}

const COMPLETE_MARKER = '.complete';

/**
 * Copies a pom's runtime closure into targetDir with Maven (which verifies checksums).
 * Writes into a temporary folder first, so an interrupted download is never mistaken for a cache.
 */
export function ensureJars(fetch: JarFetch): { dir: string; downloaded: boolean } {
  if (existsSync(join(fetch.targetDir, COMPLETE_MARKER))) return { dir: fetch.targetDir, downloaded: false };
  requireCommand('mvn', `download the ${fetch.what} jars from Maven Central`);
  const partial = `${fetch.targetDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const defines = Object.entries(fetch.properties).map(([key, value]) => (value === true ? `-D${key}` : `-D${key}=${value}`));
  const result = spawnSync(
    'mvn',
    ['-B', '-q', '-f', fetch.pom, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${partial}`, ...defines],
    { encoding: 'utf8' },
  );
  if (result.error || result.status !== 0 || readdirSync(partial).length === 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
      .split('\n')
      .filter((line) => line.includes('ERROR'))
      .slice(0, 5);
    throw new LocalSetupError(
      `downloading the ${fetch.what} jars with Maven failed (${fetch.pom}, ${defines.join(' ')}): ${output.join(' ').trim() || `exit ${result.status}`}`,
    );
  }
  writeFileSync(join(partial, COMPLETE_MARKER), new Date().toISOString());
  rmSync(fetch.targetDir, { recursive: true, force: true });
  renameSync(partial, fetch.targetDir);
  return { dir: fetch.targetDir, downloaded: true };
}
