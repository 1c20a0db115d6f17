import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createPipelineTopics, produceNumbered, readTopics, uniqueName } from '../support/kafka.js';

/**
 * txstream as a library, the way a user gets it: `npm pack` (which builds, through prepack) and
 * `npm install <tarball>` into an empty project with npm's default settings (no install scripts of
 * dependencies run). The installed copy must carry our KafkaJS fixes, resolve its types, and run a
 * pipeline through `import { createWorker } from 'txstream'`. Packed from a copy of the repository, so
 * the build never leaves a dist/ behind that bin/txstream.js would prefer to the sources.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const brokers = inject('kafkaBrokers');
const work = mkdtempSync(join(tmpdir(), 'txstream-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Our KafkaJS fixes, one patch each, and the KafkaJS files each one changes. */
const patches = readdirSync(join(ROOT, 'patches'))
  .filter((name) => /^kafkajs\+.+\.patch$/.test(name))
  .sort()
  .map((name) => ({ name, files: [...readFileSync(join(ROOT, 'patches', name), 'utf8').matchAll(/^\+\+\+ b\/node_modules\/kafkajs\/(.+)$/gm)].map((match) => match[1] as string) }));
/** One unit test file per fix, each driving KafkaJS's own modules. */
const fixTestFiles = readdirSync(join(ROOT, 'test/unit'))
  .filter((name) => /^kafkajs-.+\.test\.ts$/.test(name))
  .map((name) => `test/unit/${name}`);
const readIfAny = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);

/**
 * Runs a command to its end, or fails after `timeoutMs`: the call blocks the event loop, so the
 * test's own timeout cannot end it (an npm that cannot reach its registry, retrying every package
 * with backoff, held a CI run for a quarter of an hour).
 */
function sh(command: string, args: string[], cwd: string, timeoutMs = 240_000): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
}

describe('the npm package', () => {
  const app = join(work, 'app');
  let tarball = '';

  it('builds on npm pack and installs into an empty project', () => {
    const copy = join(work, 'txstream');
    mkdirSync(copy);
    for (const entry of ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'src', 'scripts', 'patches']) {
      cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    const packed = sh('npm', ['pack', '--pack-destination', work], copy);
    expect(packed).toContain(`vendored KafkaJS 2.2.4 with ${patches.length} patch(es) (${patches.map(({ name }) => name).join(', ')})`);
    tarball = join(work, readdirSync(work).find((name) => name.endsWith('.tgz')) as string);

    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'txstream-user', version: '1.0.0', type: 'module', private: true }));
    sh('npm', ['install', '--prefer-offline', tarball], app);
    expect(JSON.parse(readFileSync(join(app, 'node_modules/txstream/package.json'), 'utf8')).name).toBe('txstream');
  }, 300_000);

  it('carries every patched KafkaJS file, types included, whatever KafkaJS the project has', () => {
    expect(patches.length).toBeGreaterThan(0);
    for (const { name, files } of patches) {
      expect(files.length, name).toBeGreaterThan(0);
      for (const file of files) {
        const ours = readFileSync(join(ROOT, 'node_modules/kafkajs', file), 'utf8');
        expect(readIfAny(join(app, 'node_modules/txstream/dist/vendor/kafkajs', file)), `${name}: ${file}`).toBe(ours);
        // The project's own KafkaJS is the registry's, unpatched.
        expect(readIfAny(join(app, 'node_modules/kafkajs', file)), `${name}: ${file}`).not.toBe(ours);
      }
    }
    // Every compiled import of KafkaJS, code and declarations, points at the patched copy.
    const client = readFileSync(join(app, 'node_modules/txstream/dist/kafka/client.js'), 'utf8');
    expect(client).toContain("from '../vendor/kafkajs/index.js'");
    expect(client).not.toMatch(/from 'kafkajs'/);
    const declarations = readFileSync(join(app, 'node_modules/txstream/dist/worker/worker.d.ts'), 'utf8');
    expect(declarations).toContain("from '../vendor/kafkajs/types/index.js'");
    expect(declarations).not.toMatch(/from 'kafkajs'/);
  });

  it('passes the KafkaJS fix tests with the KafkaJS it installed, which fail with the unpatched one', () => {
    const fixTests = (kafkajs: string, ...options: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'unit', ...options, ...fixTestFiles], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, TXSTREAM_TEST_KAFKAJS: kafkajs },
      });
    const installed = fixTests(join(app, 'node_modules/txstream/dist/vendor/kafkajs'));
    expect(installed.status, installed.stdout + installed.stderr).toBe(0);
    expect(installed.stdout).toMatch(/\d+ passed/);
    expect(installed.stdout).not.toMatch(/\d+ failed/);
    // Against the registry's KafkaJS (the project's own dependency) every fix's test file must fail.
    const unpatched = fixTests(join(app, 'node_modules/kafkajs'), '--reporter=json');
    const results = (JSON.parse(unpatched.stdout) as { testResults: Array<{ name: string; status: string }> }).testResults;
    expect(Object.fromEntries(results.map(({ name, status }) => [name.slice(ROOT.length + 1), status]))).toEqual(
      Object.fromEntries(fixTestFiles.map((file) => [file, 'failed'])),
    );
  }, 300_000);

  it("resolves createWorker's types", () => {
    writeFileSync(
      join(app, 'check.ts'),
      [
        "import { createWorker, defineHandler, definePipeline } from 'txstream';",
        "const handler = defineHandler<{ n: number }, { n: number }>({ handle: (record) => ({ value: { n: record.value.n + 1 } }) });",
        "export const worker = createWorker({ brokers: ['127.0.0.1:9092'], pipelines: [definePipeline({ name: 'p', input: 'in', output: 'out', handler })] });",
        "// @ts-expect-error brokers must be strings",
        "createWorker({ brokers: [9092], pipelines: [] });",
        "// @ts-expect-error KafkaJS's own settings keep KafkaJS's types",
        "createWorker({ brokers: ['127.0.0.1:9092'], pipelines: [], kafka: { connectionTimeout: 'soon' } });",
      ].join('\n'),
    );
    const result = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node', '--listFiles', 'check.ts'],
      { cwd: app, encoding: 'utf8', timeout: 120_000 },
    );
    expect(result.stdout + result.stderr).not.toMatch(/error TS\d+/);
    expect(result.status).toBe(0);
    // The KafkaJS types a user's code is checked against are the patched ones that run.
    const files = result.stdout.trim().split('\n');
    expect(files).toContain(join(app, 'node_modules/txstream/dist/vendor/kafkajs/types/index.d.ts'));
    expect(files).not.toContain(join(app, 'node_modules/kafkajs/types/index.d.ts'));
  }, 120_000);

  it('runs a pipeline through import { createWorker } from txstream', async () => {
    const { input, output } = await createPipelineTopics(brokers, 'pack', 2);
    await produceNumbered(brokers, input, 200);
    writeFileSync(
      join(app, 'run.mjs'),
      `import { createWorker, defineHandler, definePipeline } from 'txstream';
const worker = createWorker({
  brokers: process.env.BROKERS.split(','),
  groupId: process.env.GROUP,
  logger: undefined,
  pipelines: [definePipeline({ name: 'double', input: process.env.INPUT, output: process.env.OUTPUT, handler: defineHandler({ handle: (r) => ({ value: { n: r.value.n * 2 } }) }) })],
});
await worker.start();
const started = Date.now();
while (worker.stats().recordsIn < 200 && Date.now() - started < 60000) await new Promise((r) => setTimeout(r, 100));
const result = await worker.stop();
console.log(JSON.stringify({ in: worker.stats().recordsIn, out: worker.stats().recordsOut, clean: result.clean }));
process.exit(0);
`,
    );
    const result = spawnSync(process.execPath, ['run.mjs'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, BROKERS: brokers.join(','), GROUP: uniqueName('pack'), INPUT: input, OUTPUT: output, TXSTREAM_LOG_LEVEL: 'warn', KAFKAJS_NO_PARTITIONER_WARNING: '' },
    });
    const last = result.stdout.trim().split('\n').at(-1) ?? '';
    expect(JSON.parse(last), result.stdout + result.stderr).toEqual({ in: 200, out: 200, clean: true });
    expect(result.stdout + result.stderr).not.toMatch(/partitioner/i);
    const outputs = await readTopics(brokers, [output], { until: (records) => records.length >= 200, quietMs: 500 });
    expect(outputs.map((record) => (JSON.parse(record.value ?? '{}') as { n: number }).n % 2)).toEqual(Array(200).fill(0));
  }, 180_000);
});
