import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalSetupError, requireCommand } from '../local-server/supervisor.js';

export interface JarFetch {
  /** The pinned pom whose runtime dependency closure is copied (or which is built, see goal). */
  readonly pom: string;
  /** Where the jars end up; a marker file makes the next call a no-op. */
  readonly targetDir: string;
  /** -D properties passed to Maven (versions, profile switches). */
  readonly properties: Readonly<Record<string, string | true>>;
  readonly what: string;
  /**
   * 'copy-dependencies' (the default): the runtime closure is the classpath, as for Kafka.
   * 'package': the pom builds the program (e.g. a Quarkus app that must be augmented) into outputProperty's folder.
   */
  readonly goal?: 'copy-dependencies' | { readonly package: { readonly outputProperty: string; readonly produces: string } };
}

const COMPLETE_MARKER = '.complete';

/**
 * Copies a pom's runtime closure into targetDir with Maven (which verifies checksums), or builds the pom there.
 * Writes into a temporary folder first, so an interrupted download or build is never mistaken for a cache.
 */
export function ensureJars(fetch: JarFetch): { dir: string; downloaded: boolean } {
  if (existsSync(join(fetch.targetDir, COMPLETE_MARKER))) return { dir: fetch.targetDir, downloaded: false };
  const build = fetch.goal === undefined || fetch.goal === 'copy-dependencies' ? undefined : fetch.goal.package;
  requireCommand('mvn', `${build ? 'build' : 'download'} the ${fetch.what} jars from Maven Central`);
  const partial = `${fetch.targetDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const defines = Object.entries(fetch.properties).map(([key, value]) => (value === true ? `-D${key}` : `-D${key}=${value}`));
  const goal = build
    ? ['package', `-D${build.outputProperty}=${partial}`]
    : ['dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${partial}`];
  const result = spawnSync('mvn', ['-B', '-q', '-f', fetch.pom, ...goal, ...defines], { encoding: 'utf8' });
  const produced = build ? existsSync(join(partial, build.produces)) : readdirSync(partial).length > 0;
  if (result.error || result.status !== 0 || !produced) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
      .split('\n')
      .filter((line) => line.includes('ERROR'))
      .slice(0, 5);
    const missing = result.status === 0 && !produced ? `exit 0 but ${build ? build.produces : 'no jar'} in ${partial}` : '';
    throw new LocalSetupError(
      `${build ? 'building' : 'downloading'} the ${fetch.what} jars with Maven failed (${fetch.pom}${build ? ' package' : ''}${defines.length > 0 ? `, ${defines.join(' ')}` : ''}): ${output.join(' ').trim() || missing || `exit ${result.status}`}`,
    );
  }
  writeFileSync(join(partial, COMPLETE_MARKER), new Date().toISOString());
  rmSync(fetch.targetDir, { recursive: true, force: true });
  renameSync(partial, fetch.targetDir);
  return { dir: fetch.targetDir, downloaded: true };
}
