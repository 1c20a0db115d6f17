import type { Consumer } from 'kafkajs';
import { CommandError } from '../errors/index.js';

/**
 * Ends a one-shot command at its consumer's first crash, whether KafkaJS means to restart it or not.
 * KafkaJS restarts a consumer after a retriable crash (a topic deleted, a request that kept failing)
 * for as long as the process lives; behind a command's silent logger that is a command that prints
 * nothing and never ends. A command is safe to run again, so it stops and says why. The caller
 * disconnects the consumer, which also cancels the restart KafkaJS scheduled.
 */
export function endOnCrash(consumer: Consumer, what: string, fail: (error: Error) => void): void {
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    fail(new CommandError(`${what}: its Kafka consumer (group ${payload.groupId}) failed: ${innermostMessage(payload.error)}`, { cause: payload.error }));
  });
}

/** KafkaJS wraps the broker's answer in retry errors: the innermost message is the one that says what went wrong. */
function innermostMessage(error: unknown): string {
  let current = error;
  for (let depth = 0; depth < 5; depth++) {
    const next = (current as { cause?: unknown; originalError?: unknown } | undefined)?.cause ?? (current as { originalError?: unknown } | undefined)?.originalError;
    if (!(next instanceof Error)) break;
    current = next;
  }
  return current instanceof Error ? current.message : String(current);
}
