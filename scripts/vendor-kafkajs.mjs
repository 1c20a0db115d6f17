// Build step after tsc: puts our patched KafkaJS inside dist/ and points the compiled code at it, so an
// installed txstream runs with the fixes of patches/kafkajs+*.patch without any install script (npm 11 does
// not run a dependency's scripts unless the user approves them). The repository holds only the patches, one
// per fix, which `npm ci` applies to node_modules/kafkajs in sequence order; the copy is made from there and
// checked here patch by patch, so a build from a KafkaJS that lacks a fix fails and names that fix's patch.
//
// Several patches change KafkaJS's types as well as its code (types/index.d.ts: onPartitionsRevoked,
// eachBatchFiltered, requireStable, consumerGroupMetadata, the generation id on GROUP_JOIN). The vendored copy
// carries those types, and the compiled declarations (.d.ts) are pointed at them just as the compiled modules
// are pointed at its code: a user's type check sees the KafkaJS that runs. The registry's kafkajs that npm
// installs beside txstream is then used by neither.
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'dist'));
const source = dirname(createRequire(join(root, 'package.json')).resolve('kafkajs/package.json'));
const target = join(outDir, 'vendor', 'kafkajs');

/** The KafkaJS patches in the order they are applied: kafkajs+<version>[+<sequence>+<name>].patch. */
function patchSequence() {
  const sequenced = readdirSync(join(root, 'patches')).flatMap((name) => {
    const match = /^kafkajs\+[^+]+(?:\+(\d+)\+[^+]+)?\.patch$/.exec(name);
    return match ? [{ name, sequence: Number(match[1] ?? 0) }] : [];
  });
  if (sequenced.length === 0) throw new Error('patches/ holds no kafkajs+*.patch: refusing to vendor an unpatched KafkaJS');
  return sequenced.sort((a, b) => a.sequence - b.sequence).map(({ name }) => name);
}

/** Per file a patch changes, the lines it adds and the lines it removes. */
function parsePatch(name) {
  const files = new Map();
  let current;
  for (const line of readFileSync(join(root, 'patches', name), 'utf8').split('\n')) {
    const header = /^\+\+\+ b\/node_modules\/kafkajs\/(.+)$/.exec(line);
    if (header) {
      current = { added: [], removed: new Set() };
      files.set(header[1], current);
    } else if (current && line.startsWith('+') && line.slice(1).trim()) {
      current.added.push(line.slice(1));
    } else if (current && line.startsWith('-') && !line.startsWith('--- ')) {
      current.removed.add(line.slice(1));
    }
  }
  return files;
}

/**
 * Every line a patch adds must be in the file it patches, unless a later patch of the sequence removes it:
 * otherwise node_modules/kafkajs lacks that patch.
 */
function checkPatched(patches) {
  const parsed = patches.map(parsePatch);
  const lacking = [];
  parsed.forEach((files, index) => {
    const missing = [];
    for (const [file, { added }] of files) {
      let text;
      try {
        text = readFileSync(join(source, file), 'utf8');
      } catch {
        text = '';
      }
      const removedLater = (line) => parsed.slice(index + 1).some((later) => later.get(file)?.removed.has(line));
      for (const line of added) if (!text.includes(line) && !removedLater(line)) missing.push(`${file}: ${line.trim()}`);
    }
    if (missing.length > 0) lacking.push(`patches/${patches[index]} (${missing.length} line(s) missing, e.g. ${missing[0]})`);
  });
  if (lacking.length > 0) throw new Error(`${source} lacks ${lacking.join('; ')}; run npx patch-package`);
}

function compiledFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (path === join(outDir, 'vendor')) return [];
    if (statSync(path).isDirectory()) return compiledFiles(path);
    return name.endsWith('.js') || name.endsWith('.d.ts') ? [path] : [];
  });
}

const patches = patchSequence();
checkPatched(patches);
rmSync(target, { recursive: true, force: true });
cpSync(source, target, {
  recursive: true,
  // patch-package's record of what it applied is not part of KafkaJS.
  filter: (path) => !path.includes(`${sep}node_modules${sep}kafkajs${sep}node_modules`) && basename(path) !== '.patch-package.json',
});
const rewritten = { modules: 0, declarations: 0 };
for (const file of compiledFiles(outDir)) {
  const declaration = file.endsWith('.d.ts');
  const text = readFileSync(file, 'utf8');
  let path = relative(dirname(file), join(target, declaration ? 'types/index.js' : 'index.js')).split(sep).join('/');
  if (!path.startsWith('.')) path = `./${path}`;
  const next = text.replace(/(from\s+|import\()(['"])kafkajs\2/g, (_, lead, quote) => `${lead}${quote}${path}${quote}`);
  if (next !== text) {
    writeFileSync(file, next);
    rewritten[declaration ? 'declarations' : 'modules']++;
  }
}
const version = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')).version;
console.log(
  `vendored KafkaJS ${version} with ${patches.length} patch(es) (${patches.join(', ')}) into ${relative(root, target)}; ` +
    `${rewritten.modules} module(s) and ${rewritten.declarations} declaration file(s) import it`,
);
