import { DecodeError, isNonRetryable, NonRetryableError, OutputRejectedError } from '../errors/index.js';
import { backoffDelay } from '../util/backoff.js';
import type { ResolvedErrorPolicy } from '../config/error-policy.js';
import { retryTopicOf } from '../pipeline/topic-names.js';

/** What to do with one failed record: a pure decision from the policy, the error and the attempt. */
export type Outcome =
  | { readonly kind: 'retry'; readonly topic: string; readonly delayMs: number }
  | { readonly kind: 'dead-letter'; readonly reason: string }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'block' };

export function decide(policy: ResolvedErrorPolicy, error: unknown, inputTopic: string, attempt: number, random: () => number = Math.random): Outcome {
  if (isNonRetryable(error)) {
    const own = error instanceof NonRetryableError ? error.reason : undefined;
    const reason = own ?? (error instanceof DecodeError ? 'decode-failed' : error instanceof OutputRejectedError ? 'output-rejected' : 'non-retryable');
    return policy.onError === 'skip' ? { kind: 'skip', reason } : { kind: 'dead-letter', reason };
  }
  switch (policy.onError) {
    case 'skip':
      return { kind: 'skip', reason: 'policy-skip' };
    case 'dead-letter':
      return { kind: 'dead-letter', reason: 'policy-dead-letter' };
    case 'block':
      return { kind: 'block' };
    case 'retry': {
      // `attempt` failed just now: that is failure number `attempt`, retried on tier `attempt`.
      if (attempt <= policy.attempts) {
        return { kind: 'retry', topic: retryTopicOf(inputTopic, attempt), delayMs: backoffDelay(policy.backoff, attempt, random) };
      }
      return policy.then === 'skip' ? { kind: 'skip', reason: 'retries-exhausted' } : { kind: 'dead-letter', reason: 'retries-exhausted' };
    }
  }
}
