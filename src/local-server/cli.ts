import { type Command, InvalidArgumentError } from 'commander';
import { LocalSetupError } from './supervisor.js';

/** What the local server commands share: option parsing and how they fail. */
export function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError(`'${value}' is not a positive whole number`);
  return parsed;
}

/** Runs the program; a setup problem prints one `<name>: …` line, anything else its stack; exit 1. */
export function runLocalCli(program: Command, name: string): void {
  program.parseAsync(process.argv).catch((error: unknown) => {
    const message = error instanceof LocalSetupError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    console.error(`${name}: ${message}`);
    process.exitCode = 1;
  });
}
