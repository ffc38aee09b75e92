import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError } from '../services/errors.ts';
import { retryDelay, type RetryPolicy } from './backoff.ts';

export type { RetryPolicy } from './backoff.ts';

/** How one retried call waits, reports and is cancelled. */
export interface RetryOptions {
  /** Aborts the wait between attempts; an aborted call is not tried again. */
  signal?: AbortSignal;
  onRetry?: (err: ServiceError, attempt: number, delayMs: number) => void;
  /**
   * The barrier before the first attempt: the actor host's group commit of the current turn. Called
   * synchronously, still inside the transition that started the step, so that commit holds the
   * snapshot of this step however XState orders the step's start and the snapshot within it.
   */
  afterCommit?: () => Promise<void>;
  random?: () => number;
}

/**
 * Runs one outside step: `policy.attempts` attempts in total, waiting by the shared backoff and at
 * least the peer's Retry-After between them. Before the first attempt it waits on `afterCommit`, so no
 * outside effect can precede the record of its step.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, opts: RetryOptions = {}): Promise<T> {
  const { signal } = opts;
  await (opts.afterCommit ?? nextTurn)();
  for (let attempt = 1; ; attempt++) {
    try {
      signal?.throwIfAborted();
      return await fn(attempt);
    } catch (raw) {
      const err = asServiceError(raw);
      const delay = signal?.aborted ? null : retryDelay(policy, attempt, err, opts.random);
      if (delay === null) {
        err.attempts = attempt;
        throw err;
      }
      opts.onRetry?.(err, attempt, delay);
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        err.attempts = attempt;
        throw err;
      }
    }
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function asServiceError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  // An unexpected exception is a bug, not a flaky peer: do not retry it.
  const message = err instanceof Error ? err.message : String(err);
  return new ServiceError('internal', message, { cause: err });
}
