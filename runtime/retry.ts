import { setImmediate as nextTurn } from 'node:timers/promises';
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
 * One outside step tried `policy.attempts` times in total, waiting by the shared backoff and at
 * least the peer's Retry-After between them; before the first attempt it waits on `afterCommit`, so
 * no outside effect can precede the record of its step. A class of callbacks, not an async function:
 * a step whose peer takes minutes keeps this object and its attempt's one reaction, not a suspended
 * frame per layer with a promise each (a parked lifecycle is little more than this; runtime/flights.ts).
 * A subclass says what an attempt is (`attempt`) and hears how it ends (`succeeded`, `gaveUp`).
 */
export abstract class Retrying<T> {
  #attempt = 0;
  readonly #policy: RetryPolicy;
  readonly #signal: AbortSignal | undefined;
  readonly #afterCommit: (() => Promise<void>) | undefined;

  /** `onRetry` and `random` are `RetryOptions`' only: a subclass overrides `retrying()`, and the backoff's jitter is Math.random. */
  constructor(policy: RetryPolicy, signal?: AbortSignal, afterCommit?: () => Promise<void>) {
    this.#policy = policy;
    this.#signal = signal;
    this.#afterCommit = afterCommit;
  }

  protected abstract attempt(attempt: number): Promise<T>;
  protected abstract succeeded(value: T): void;
  /** The last attempt's error with its `attempts`; or what `afterCommit()` rejected with, as it is (no attempt made). */
  protected abstract gaveUp(err: unknown): void;
  /** The last resort, when `gaveUp()` itself threw: end the call with `err` and call nothing else of ours. */
  protected abstract broke(err: ServiceError): void;

  /** Whether an error ends the call at once, whatever its `retryable` says (the caller makes it an answer). */
  protected final(_err: ServiceError): boolean {
    return false;
  }

  /** Told before each wait. */
  protected retrying(_err: ServiceError, _attempt: number, _delayMs: number): void {}

  /** The backoff's jitter. */
  protected random(): number {
    return Math.random();
  }

  /** Starts it: `afterCommit()` is called now, synchronously. */
  start(): void {
    (this.#afterCommit ?? nextTurn)().then(
      () => this.#next(),
      (err: unknown) => void this.#end(() => this.gaveUp(err)),
    );
  }

  /**
   * Runs the call's own handling of an outcome (`succeeded`, `gaveUp`, `retrying`: callbacks, log
   * lines, metrics). A throw of ours in it is a bug: the call gives up with it as internal, and if
   * that throws too, breaks. Never an unhandled rejection (which ends the process), never a call
   * left running with its lifecycle busy for good. True when `handle` ran through.
   */
  #end(handle: () => void): boolean {
    try {
      handle();
      return true;
    } catch (bug) {
      const err = asServiceError(bug);
      err.attempts = this.#attempt;
      try {
        this.gaveUp(err);
      } catch (again) {
        this.broke(Object.assign(asServiceError(again), { attempts: this.#attempt }));
      }
      return false;
    }
  }

  #next(): void {
    const attempt = ++this.#attempt;
    const signal = this.#signal;
    let call: Promise<T>;
    try {
      signal?.throwIfAborted();
      call = this.attempt(attempt);
    } catch (err) {
      return this.#failed(err);
    }
    call.then(
      (value) => void this.#end(() => this.succeeded(value)),
      (err: unknown) => this.#failed(err),
    );
  }

  #failed(raw: unknown): void {
    const err = asServiceError(raw);
    const attempt = this.#attempt;
    const signal = this.#signal;
    const delay = signal?.aborted || this.final(err) ? null : retryDelay(this.#policy, attempt, err, () => this.random());
    if (delay === null) {
      err.attempts = attempt;
      this.#end(() => this.gaveUp(err));
      return;
    }
    if (!this.#end(() => this.retrying(err, attempt, delay))) return;
    // A timer and one abort listener, not a promise: the wait ends at the delay or at the abort, whichever is first.
    const abort = () => {
      clearTimeout(timer);
      err.attempts = attempt;
      this.#end(() => this.gaveUp(err));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      this.#next();
    }, delay);
    signal?.addEventListener('abort', abort, { once: true });
  }
}

/** `Retrying` as a promise, for calls that are not lifecycle steps (start-up checks). */
class RetriedCall<T> extends Retrying<T> {
  constructor(
    readonly fn: (attempt: number) => Promise<T>,
    policy: RetryPolicy,
    readonly opts: RetryOptions,
    readonly resolve: (value: T) => void,
    readonly reject: (err: unknown) => void,
  ) {
    super(policy, opts.signal, opts.afterCommit);
  }
  protected override retrying(err: ServiceError, attempt: number, delayMs: number): void {
    this.opts.onRetry?.(err, attempt, delayMs);
  }
  protected override random(): number {
    return (this.opts.random ?? Math.random)();
  }
  protected attempt(attempt: number): Promise<T> {
    return this.fn(attempt);
  }
  protected succeeded(value: T): void {
    this.resolve(value);
  }
  protected gaveUp(err: unknown): void {
    this.reject(err);
  }
  protected broke(err: ServiceError): void {
    this.reject(err);
  }
}

/** Runs `fn` as `Retrying` does; rejects with the last attempt's error, its `attempts` set. */
export function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, opts: RetryOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => new RetriedCall(fn, policy, opts, resolve, reject).start());
}

function asServiceError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  // An unexpected exception is a bug, not a flaky peer: do not retry it.
  const message = err instanceof Error ? err.message : String(err);
  return new ServiceError('internal', message, { cause: err });
}
