// One subscriber's work at a time (`ActorHost.exclusive`). In this process a subscriber's operations
// run one after the other, each queued on the promise of the one before. With several instances
// (PostgreSQL), an operation first takes the subscriber's lease (runtime/ownership.ts), and once it
// is done the subscriber's actors are unloaded and the lease given up: another instance may take
// the subscriber next, and nothing of it may stay cached here.
import type { Ownership } from './ownership.ts';
import { UNTIL_SETTLED_MS } from './settling.ts';

/** Told how an `exclusive()` call ended, by the queue's own reaction on it (and so handled, if it rejects). */
export interface Heard<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** What the queue reads of a host's entry. */
export interface QueuedEntry {
  saving: number;
  actor: { getSnapshot(): { hasTag(tag: string): boolean } };
}

/** What the queues need of their host (ActorHost's private parts, handed in as functions). */
export interface QueueHost<E extends QueuedEntry> {
  /** Several instances: the subscribers' leases. */
  ownership: Ownership | null;
  /** The ids of the subscriber's lifecycles in memory (a copy). */
  lifecyclesOf(subscriberId: string): string[];
  entry(lifecycleId: string): E | undefined;
  /** Stops the actor without storing anything further (LiveActors' `evict`). */
  evict(lifecycleId: string, entry: E): void;
  settle(lifecycleId: string, waitMs: number): Promise<unknown>;
  /** A subscriber's queue emptied: nobody waits on its actors any more (LiveActors' `unload`). */
  idle(): void;
  /** Stopped or released: the host hands its work over and starts nothing more. */
  ending(): boolean;
}

export class SubscriberQueues<E extends QueuedEntry> {
  readonly #host: QueueHost<E>;
  readonly #mailboxes = new Map<string, Promise<unknown>>();

  constructor(host: QueueHost<E>) {
    this.#host = host;
  }

  /** Whether an operation of the subscriber runs or waits. */
  has(subscriberId: string): boolean {
    return this.#mailboxes.has(subscriberId);
  }

  /** ActorHost's `exclusive()` (it says what it does). */
  exclusive<T>(subscriberId: string, fn: () => Promise<T>, heard?: Heard<T>, gone?: () => boolean): Promise<T> {
    const before = this.#mailboxes.get(subscriberId);
    const owned = this.#host.ownership ? () => this.#owned(subscriberId, fn, gone) : fn;
    // Nothing queued before it: it starts now (up to its first await), and its own promise is the
    // queue's, not one that adopts it (an adoption is one more reaction a parked wait keeps).
    const run = before ? before.then(owned, owned) : startNow(owned);
    this.#mailboxes.set(subscriberId, this.#tail(subscriberId, run, heard));
    return run;
  }

  /**
   * The subscriber's queue after `run`. Apart from `exclusive()`, so that an operation waiting,
   * parked, for hours keeps none of its `fn`; two inline reactions, not one named `const`: tsx
   * names every named function it compiles, and a function given a name keeps a 256-byte property store.
   */
  #tail<T>(subscriberId: string, run: Promise<T>, heard: Heard<T> | undefined): Promise<void> {
    const tail: Promise<void> = run.then(
      (value) => {
        this.#ended(subscriberId, tail);
        heard?.resolve(value);
      },
      (err: unknown) => {
        this.#ended(subscriberId, tail);
        heard?.reject(err);
      },
    );
    return tail;
  }

  #ended(subscriberId: string, tail: Promise<void>): void {
    if (this.#mailboxes.get(subscriberId) !== tail) return;
    this.#mailboxes.delete(subscriberId);
    // Nobody waits on the subscriber's actors any more: what the cap or a revocation let go goes now.
    this.#host.idle();
  }

  async #owned<T>(subscriberId: string, fn: () => Promise<T>, gone?: () => boolean): Promise<T> {
    const ownership = this.#host.ownership!;
    await ownership.hold(subscriberId, gone);
    try {
      return await fn();
    } finally {
      // Another instance may take the subscriber next: nothing of it may stay cached here.
      let keep = false;
      for (const id of this.#host.lifecyclesOf(subscriberId)) {
        const entry = this.#host.entry(id);
        if (!entry) continue;
        if (entry.saving === 0 && !entry.actor.getSnapshot().hasTag('busy')) this.#host.evict(id, entry);
        else keep = true;
      }
      if (!keep) await ownership.release(subscriberId);
      // Still busy (an operation that answered without waiting, the pending worker's pass): once it
      // settles, the next turn of the subscriber's queue unloads it and gives the lease up. Stopping,
      // the lease is given up by the ownership's stop, and the work resumes elsewhere.
      else if (!this.#host.ending()) void this.exclusive(subscriberId, () => this.#settleAll(subscriberId));
    }
  }

  /** Waits for every actor of the subscriber in memory to settle. */
  async #settleAll(subscriberId: string): Promise<void> {
    for (const id of this.#host.lifecyclesOf(subscriberId)) await this.#host.settle(id, UNTIL_SETTLED_MS).catch(() => undefined);
  }
}

/** `fn()`, its throw a rejection. */
function startNow<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}
