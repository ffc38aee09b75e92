import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError } from '../services/errors.ts';

/** Bounded exponential backoff with full jitter. */
export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

/** Delay before attempt `attempt + 1`: uniform in [0, min(max, base·2^(attempt-1))] (full jitter). */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  return Math.round(random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)));
}

/**
 * Runs one outside step with retries. Before the first attempt it waits on `stored`: the actor
 * host's group commit of the current turn, which holds the snapshot that started this step however
 * XState orders the step's start and the snapshot within the transition. Called synchronously, so
 * still inside that turn. No outside effect can precede the record of its step.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal,
  onRetry?: (err: ServiceError, attempt: number, delayMs: number) => void,
  stored: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
): Promise<T> {
  await stored();
  for (let attempt = 1; ; attempt++) {
    try {
      signal.throwIfAborted();
      return await fn(attempt);
    } catch (raw) {
      const err = asServiceError(raw);
      if (!err.retryable || attempt >= policy.attempts || signal.aborted) {
        err.attempts = attempt;
        throw err;
      }
      const delay = backoffDelay(policy, attempt);
      onRetry?.(err, attempt, delay);
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        err.attempts = attempt;
        throw err;
      }
    }
  }
}

function asServiceError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  // An unexpected exception is a bug, not a flaky peer: do not retry it.
  const message = err instanceof Error ? err.message : String(err);
  return new ServiceError('internal', message, { cause: err });
}
