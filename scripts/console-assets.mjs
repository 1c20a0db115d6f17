// Build step after tsc: the console's browser files (src/console/assets: its script and stylesheet) are not
// TypeScript, so tsc leaves them out; the compiled server reads them beside itself, in dist/console/assets.
import { cpSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'dist'));
cpSync(join(root, 'src', 'console', 'assets'), join(outDir, 'console', 'assets'), { recursive: true });
