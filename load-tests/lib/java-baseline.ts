/**
 * What the JVM baselines share: their jars from Maven Central (a pom of theirs, copied into the
 * cache once per version) and their one source file, compiled with javac at run time.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureJars } from '../../src/local-jvm/maven-jars.js';

export interface JavaBaseline {
  /** The cache folder of this version of the baseline. */
  readonly dir: string;
  readonly pom: string;
  readonly properties: Record<string, string>;
  /** Named in a failed download's message. */
  readonly what: string;
  readonly source: string;
  readonly mainClass: string;
}

/** Resolves the jars (once per version) and compiles the source (once per source text); returns the classpath. */
export function prepareJavaBaseline(baseline: JavaBaseline): string {
  // Keyed by the pom's hash too, so a dependency added to the pom is fetched instead of missing from an older cache.
  const pomHash = createHash('sha256').update(readFileSync(baseline.pom)).digest('hex').slice(0, 12);
  const jars = ensureJars({ pom: baseline.pom, targetDir: join(baseline.dir, `jars-${pomHash}`), properties: baseline.properties, what: baseline.what }).dir;
  // Keyed by the source's hash, so an edited source is recompiled and a stale class never runs.
  const hash = createHash('sha256').update(readFileSync(baseline.source)).digest('hex').slice(0, 12);
  const classes = join(baseline.dir, `classes-${hash}`);
  if (!existsSync(join(classes, `${baseline.mainClass}.class`))) {
    const partial = `${classes}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    const result = spawnSync('javac', ['-d', partial, '-cp', `${jars}/*`, baseline.source], { encoding: 'utf8' });
    if (result.error || result.status !== 0) throw new Error(`javac ${baseline.source} failed: ${(result.stderr || result.stdout || String(result.error)).trim().slice(0, 500)}`);
    rmSync(classes, { recursive: true, force: true });
    renameSync(partial, classes);
  }
  return `${classes}:${jars}/*`;
}
