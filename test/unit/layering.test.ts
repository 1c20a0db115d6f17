import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The layering rule of `npm run lint` (.dependency-cruiser.mjs) run as lint runs it, on a small tree with one
 * violation of each kind next to imports it must accept: a rule that never fails checks nothing.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const CONFIG = join(ROOT, '.dependency-cruiser.mjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');

const TREE: Record<string, string> = {
  'src/util/clock.ts': "import { loop } from '../worker/loop.js';\nexport const now = () => loop;\n",
  'src/worker/loop.ts': [
    "import { definition } from '../pipeline/a.js';",
    "import { LocalCluster } from '../local-kafka/cluster.js';",
    'export const loop = [definition, LocalCluster];',
  ].join('\n'),
  'src/kafka/offsets.ts': "import type { Unit } from '../commit/unit.js';\nexport type Offsets = Unit[];\n",
  'src/commit/unit.ts': "import { now } from '../util/clock.js';\nexport interface Unit { at: typeof now }\n",
  'src/routing/decide.ts': "import type { Unit } from '../commit/unit.js';\nexport type Decision = Unit;\n",
  'src/sink/strategy.ts': "import type { Unit } from '../commit/unit.js';\nexport type SinkUnit = Unit;\n",
  'src/pipeline/a.ts': "import { b } from './b.js';\nexport const definition = b;\n",
  'src/pipeline/b.ts': "import { definition } from './a.js';\nexport const b = () => definition;\n",
  'src/local-kafka/cluster.ts': 'export class LocalCluster {}\n',
  'src/cli/demo.ts': "import { LocalCluster } from '../local-kafka/cluster.js';\nimport { loop } from '../worker/loop.js';\nexport const demo = [LocalCluster, loop];\n",
  'src/gadgets/thing.ts': "import { now } from '../util/clock.js';\nexport const thing = now;\n",
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
};

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

let dir: string;
let violations: Violation[];
let lint: { readonly status: number | null; readonly stdout: string };

const depcruise = (outputType: 'err' | 'json') =>
  spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', outputType, 'src'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });

const reported = (rule: string, from: string, to?: string) =>
  violations.some((violation) => violation.rule.name === rule && violation.from === from && (to === undefined || violation.to === to));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'txstream-layering-'));
  for (const [file, text] of Object.entries(TREE)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  // `err` is what `npm run lint` prints and fails by; `json` lists the same violations for the checks below.
  lint = depcruise('err');
  violations = (JSON.parse(depcruise('json').stdout) as { summary: { violations: Violation[] } }).summary.violations;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the layering rule', () => {
  it('fails the lint step, naming each violation', () => {
    expect(lint.status).not.toBe(0);
    expect(lint.stdout).toContain('error layers/util: src/util/clock.ts → src/worker/loop.ts');
  });

  it('reports an import from a lower layer up to a higher one', () => {
    expect(reported('layers/util', 'src/util/clock.ts', 'src/worker/loop.ts')).toBe(true);
  });

  it('counts type-only imports', () => {
    expect(reported('layers/kafka', 'src/kafka/offsets.ts', 'src/commit/unit.ts')).toBe(true);
  });

  it('reports an import between sibling folders of one layer, unless named as allowed', () => {
    expect(reported('layers/routing', 'src/routing/decide.ts', 'src/commit/unit.ts')).toBe(true);
    expect(violations.filter((violation) => violation.from === 'src/sink/strategy.ts')).toEqual([]);
  });

  it('reports an import cycle, even inside one folder', () => {
    expect(reported('no-cycle', 'src/pipeline/a.ts') || reported('no-cycle', 'src/pipeline/b.ts')).toBe(true);
  });

  it('keeps the library from importing the local servers, which only the commands start', () => {
    expect(reported('layers/worker', 'src/worker/loop.ts', 'src/local-kafka/cluster.ts')).toBe(true);
    expect(violations.filter((violation) => violation.from === 'src/cli/demo.ts')).toEqual([]);
  });

  it('reports a folder that has no layer', () => {
    expect(reported('layers/unplaced', 'src/gadgets/thing.ts')).toBe(true);
  });

  it('accepts imports down the layers', () => {
    expect(reported('layers/commit', 'src/commit/unit.ts')).toBe(false);
    expect(reported('layers/worker', 'src/worker/loop.ts', 'src/pipeline/a.ts')).toBe(false);
  });
});

describe('the layers', () => {
  it('place every folder and top-level file of src/', async () => {
    const config = (await import(pathToFileURL(CONFIG).href)) as Record<'LIBRARY_LAYERS' | 'LOCAL_SERVER_LAYERS', Array<{ folders: string[] }>>;
    const placed = [...config.LIBRARY_LAYERS, ...config.LOCAL_SERVER_LAYERS].flatMap((layer) => layer.folders);
    expect(readdirSync(join(ROOT, 'src')).filter((name) => !placed.includes(name))).toEqual([]);
  });
});
