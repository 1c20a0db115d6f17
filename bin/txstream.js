#!/usr/bin/env node
// Runs the compiled CLI when built (npm run build), the TypeScript sources through tsx otherwise.
import { existsSync } from 'node:fs';

// `txstream run` ends with 0 and one line on SIGTERM/SIGINT. Its own handlers exist only once the CLI
// has loaded (through tsx, a second or more), so a signal before them killed the process with 143 and
// no word. These handlers cover that time and are handed over (released) when runUntilSignalled has
// installed its own: until then nothing was started, so exiting 0 is true. They must live here, the
// first code that runs. Only for `run` (the CLI has no global options, so the command is argv[2]): a
// replay or an apply stopped by a signal must never exit 0 as if it had finished.
const earlyStop = process.argv[2] === 'run' ? stopBeforeStart() : undefined;

const compiled = new URL('../dist/cli/main.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
// Not awaited, as before: a command that settles nothing must not turn into Node's unsettled-await exit 13.
void cli.main(process.argv, { earlyStop });

function stopBeforeStart() {
  const onSignal = (signal) => {
    console.error(`txstream: ${signal} before the worker started; exiting without starting it`);
    process.exit(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    release: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
