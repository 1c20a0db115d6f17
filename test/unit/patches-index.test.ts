import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The README's "KafkaJS fixes" table is the index from each fix to its patch, the KafkaJS files it changes, its
 * unit test and its findings. Patches get added, split and rebased: this keeps the index true to patches/.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const patches = readdirSync(join(ROOT, 'patches'))
  .filter((name) => /^kafkajs\+.+\.patch$/.test(name))
  .sort();

interface Row {
  patch: string;
  files: string[];
  test: string;
  findings: string;
}

function indexRows(): Row[] {
  const readme = read('README.md');
  const start = readme.indexOf('\n## KafkaJS fixes\n');
  expect(start, 'README has a "KafkaJS fixes" section').toBeGreaterThan(0);
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  return section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| fix ') && !line.startsWith('| ---'))
    .map((line) => {
      const cells = line.split(' | ');
      const link = (cell: string | undefined) => /\]\(([^)]+)\)/.exec(cell ?? '')?.[1] ?? '';
      return {
        patch: link(cells[1]),
        files: [...(cells[2] ?? '').matchAll(/`([^`]+)`/g)].map((match) => match[1] as string),
        test: link(cells[3]),
        findings: link(cells[4]),
      };
    });
}

/** The anchor a heading gets when the Markdown is rendered. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

describe('the KafkaJS fix index', () => {
  it('has one row per patch, in sequence order', () => {
    expect(patches.length).toBeGreaterThan(0);
    expect(indexRows().map((row) => row.patch)).toEqual(patches.map((name) => `patches/${name}`));
  });

  it('lists the KafkaJS files each patch changes', () => {
    for (const row of indexRows()) {
      const changed = [...read(row.patch).matchAll(/^\+\+\+ b\/node_modules\/kafkajs\/(.+)$/gm)].map((match) => match[1]);
      expect(row.files.slice().sort(), row.patch).toEqual(changed.sort());
    }
  });

  it('names a unit test for each fix, which names its patch', () => {
    for (const row of indexRows()) {
      expect(row.test, row.patch).toMatch(/^test\/unit\/kafkajs-.+\.test\.ts$/);
      expect(existsSync(join(ROOT, row.test)), row.test).toBe(true);
      expect(read(row.test), row.test).toContain(row.patch);
    }
  });

  it('points each fix at its entry in local/kafka/FINDINGS.md', () => {
    const anchors = read('local/kafka/FINDINGS.md')
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .map((line) => slug(line.replace(/^#+/, '')));
    for (const row of indexRows()) {
      const [file, anchor] = row.findings.split('#');
      expect(file, row.patch).toBe('local/kafka/FINDINGS.md');
      expect(anchors, row.patch).toContain(anchor);
    }
  });
});
