// Build step after tsc: puts our patched KafkaJS inside dist/ and points the compiled code at it, so an
// installed txstream runs with the fixes of patches/kafkajs+*.patch without any install script (npm 11 does
// not run a dependency's scripts unless the user approves them). The repository holds only the patches:
// the copy is made from node_modules/kafkajs, which patch-package patched at `npm ci`, and checked here.
// Types still come from the kafkajs dependency (the patches change no types).
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'dist'));
const source = dirname(createRequire(join(root, 'package.json')).resolve('kafkajs/package.json'));
const target = join(outDir, 'vendor', 'kafkajs');

/** Every line a patch adds must be in the file it patches: otherwise node_modules/kafkajs is not patched. */
function checkPatched() {
  const patches = readdirSync(join(root, 'patches')).filter((name) => name.startsWith('kafkajs+') && name.endsWith('.patch'));
  for (const patch of patches) {
    let file;
    const missing = [];
    for (const line of readFileSync(join(root, 'patches', patch), 'utf8').split('\n')) {
      const header = /^\+\+\+ b\/node_modules\/kafkajs\/(.+)$/.exec(line);
      if (header) {
        file = readFileSync(join(source, header[1]), 'utf8');
        continue;
      }
      if (file !== undefined && line.startsWith('+') && line.slice(1).trim() && !file.includes(line.slice(1))) missing.push(line);
    }
    if (missing.length > 0) {
      throw new Error(`${source} lacks patches/${patch} (${missing.length} line(s) missing, e.g. ${missing[0]}); run npx patch-package`);
    }
  }
  return patches;
}

function jsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (path === join(outDir, 'vendor')) return [];
    if (statSync(path).isDirectory()) return jsFiles(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

const patches = checkPatched();
rmSync(target, { recursive: true, force: true });
cpSync(source, target, { recursive: true, filter: (path) => !path.includes(`${sep}node_modules${sep}kafkajs${sep}node_modules`) });
let rewritten = 0;
for (const file of jsFiles(outDir)) {
  const text = readFileSync(file, 'utf8');
  let path = relative(dirname(file), join(target, 'index.js')).split(sep).join('/');
  if (!path.startsWith('.')) path = `./${path}`;
  const next = text.replace(/(from\s+|import\()(['"])kafkajs\2/g, (_, lead, quote) => `${lead}${quote}${path}${quote}`);
  if (next !== text) {
    writeFileSync(file, next);
    rewritten++;
  }
}
console.log(`vendored KafkaJS ${JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')).version} with ${patches.join(', ')} into ${relative(root, target)}; ${rewritten} module(s) import it`);
