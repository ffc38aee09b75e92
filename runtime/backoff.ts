// The one backoff policy: the step retries, start-up and the pending-work scheduler all wait by it.
// Pure (randomness comes in as an argument), so its bounds are tested without a clock.

/** Exponential backoff from `baseMs`, doubling per attempt up to `maxMs`, with jitter. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  /**
   * `full`: uniform in [0, step], which spreads a burst of retries the most (the step retries).
   * `equal`: uniform in [step/2, step], never much sooner than the step (the pending-work scheduler,
   * whose step is "ask an offline CPE again", where a near-zero wait is wasted).
   */
  jitter: 'full' | 'equal';
}

/** How often, and how long, a step is tried. */
export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** A peer asking for a longer pause than this (Retry-After) ends the step instead of blocking it. */
  retryAfterMaxMs: number;
}

/** What a failed attempt says about the next one. */
export interface FailedAttempt {
  retryable: boolean;
  /** The peer's own wait (a Retry-After), if it gave one. */
  retryAfterMs: number | null;
}

/** The wait before attempt `attempt + 1`: the exponential step for `attempt` with the policy's jitter. */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random): number {
  const step = Math.min(b.maxMs, b.baseMs * 2 ** (attempt - 1));
  const share = b.jitter === 'full' ? random() : 0.5 + random() / 2;
  return Math.round(share * step);
}

/**
 * The wait before attempt `attempt + 1`, or null to give up: the error is not worth repeating, the
 * attempts are spent, or the peer asks for more than `retryAfterMaxMs`. A Retry-After is a floor:
 * the wait is the longer of it and the backoff.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, failed: FailedAttempt, random: () => number = Math.random): number | null {
  if (!failed.retryable || attempt >= policy.attempts) return null;
  const hint = failed.retryAfterMs ?? 0;
  if (hint > policy.retryAfterMaxMs) return null;
  return Math.max(hint, backoffDelay({ baseMs: policy.baseMs, maxMs: policy.maxMs, jitter: 'full' }, attempt, random));
}
