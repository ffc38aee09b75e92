import { ServiceError } from '../services/errors.ts';
import type { OperationResult } from './operation-types.ts';
import type { Heard } from './subscriber-queue.ts';

/** What an operation's `final` came to (`#within`). */
export type Came = { ok: true; value: OperationResult } | { ok: false; error: unknown };

/**
 * What an operation's `final` came to, and the wait to wake when it comes (`#within`). Told by the
 * subscriber's queue (`ActorHost.exclusive`'s `heard`): the queue's reaction on `final` is the only
 * one, however long the operation waits, parked, after its 202.
 */
export class HeardOutcome implements Heard<OperationResult> {
  came: Came | null = null;
  wake: (() => void) | null = null;
  resolve(value: OperationResult): void {
    this.came = { ok: true, value };
    this.wake?.();
  }
  reject(error: unknown): void {
    this.came = { ok: false, error };
    this.wake?.();
  }
  /** Resolves when the outcome comes, `also` does, or `ms` pass. */
  until(ms: number, also?: Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.came) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      also?.then(done, done);
    });
  }
}

/** A promise and the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * An operation on the subscriber's queue: whether it has started (its event is about to be stored) or
 * was refused while it still waited its turn behind the subscriber's earlier one. Decided once: a 202
 * promises an operation that is stored, and one that lives only in this process's memory is lost by
 * a crash, so one without an Idempotency-Key that cannot start within its answer's wait is refused
 * instead, and never runs.
 */
export class Turn {
  #state: 'waiting' | 'started' | 'refused' = 'waiting';
  readonly sent = deferred();
  /** `refusable` false: the request has an Idempotency-Key, whose replay hears of it or, after a crash, runs it. */
  constructor(
    readonly verb: string,
    readonly refusable: boolean,
  ) {}
  /** At the point of no return; false when its answer refused it (the operation must not run). */
  start(): boolean {
    if (this.#state === 'refused') return false;
    this.#state = 'started';
    return true;
  }
  /** Its answer refused it: nobody waits for it (a lease wait for it ends). */
  get refused(): boolean {
    return this.#state === 'refused';
  }
  /** At its answer's deadline: true when it had not started, and now never will. */
  refuse(): boolean {
    if (!this.refusable || this.#state !== 'waiting') return false;
    this.#state = 'refused';
    return true;
  }
}

/** The 503 of an operation refused while it still waited its turn: it never runs; the client sends it again. */
export function notStarted(turn: Turn, waitMs?: number): ServiceError {
  const within = waitMs === undefined ? '' : ` within ?wait=${waitMs} ms`;
  return new ServiceError('unavailable', `${turn.verb} not started${within}: it waited for the subscriber's earlier operation (or, with several instances, for the subscriber's lease); nothing was changed; send it again`, {
    retryable: true,
    retryAfterMs: 1000,
  });
}
