import { Writable } from 'node:stream';
import { onTestFailed } from 'vitest';
import { createLogger, type Logger } from '../../src/observability/logger.js';

/**
 * A worker logger for a test: its lines are kept, not printed, and shown only when the test fails,
 * so a passing suite's output is the test report alone. Call it inside the test (or a helper it calls).
 */
export function capturedLogger(level = 'info'): Logger {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  onTestFailed(() => {
    if (lines.length > 0) console.log(`--- worker log of the failed test (${lines.length} lines):\n${lines.join('').trimEnd()}`);
  });
  return createLogger({ level, destination: sink });
}
