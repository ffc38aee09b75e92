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
}

/** A promise and the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
