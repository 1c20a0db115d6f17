#!/usr/bin/env node
// Runs the compiled CLI when built (npm run build), the TypeScript sources through tsx otherwise.
import { existsSync } from 'node:fs';

// `txstream run` stopped while it is still loading (an orchestrator replacing a container that just
// started): nothing has joined a group or written anything yet, so the clean answer is exit 0, not
// death by signal. The worker's own handlers replace this one once it starts (src/cli/run.ts).
if (process.argv[2] === 'run') {
  const stopWhileLoading = () => process.exit(0);
  stopWhileLoading.whileLoading = true;
  process.once('SIGTERM', stopWhileLoading);
  process.once('SIGINT', stopWhileLoading);
}

const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
