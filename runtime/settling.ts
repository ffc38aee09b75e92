// The actor host's waits until settled: one wait on one actor (`settle()`), bounded by its time or
// until the lifecycle has no step in flight. A follower (runtime/parking.ts) waits so across parks,
// once per actor. This owns the end of every wait at shutdown (`release()`): they answer unsettled.
import type { Actor } from 'xstate';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import { unavailable, type HostWrites, type WrittenEntry } from './host-writes.ts';
import { PARKED } from './parking.ts';
import type { LifecycleSnapshot } from './projection.ts';

/** `settle()`'s wait for "until it settles": setTimeout's largest delay (the steps' retries bound how long that is). */
export const UNTIL_SETTLED_MS = 2 ** 31 - 1;

/** What `settle()` answers. */
export type Settled = { snapshot: LifecycleSnapshot; settled: boolean };

/** What a wait reads and sets of a host's entry. */
export interface SettlingEntry {
  actor: Actor<PrefixLifecycleMachine>;
  /** Bounded `settle()` calls waiting on it: it is never parked under them. */
  waiters: number;
  /** Stopped by a park (runtime/parking.ts). */
  parked: boolean;
  writeFailed: Error | null;
}

/** What the waits ask of the host's writes (runtime/host-writes.ts). */
type Writes = Pick<HostWrites<WrittenEntry>, 'stored' | 'locked' | 'listen' | 'unlisten'>;

export class Settling {
  /** Set by `release()` at shutdown: every wait ends now, unsettled, and the client polls. */
  #released = false;
  readonly #releaseWaiters = new Set<() => void>();
  readonly #writes: Writes;
  readonly #stopped: () => boolean;

  constructor(writes: Writes, stopped: () => boolean) {
    this.#writes = writes;
    this.#stopped = stopped;
  }

  /** Whether `release()` has ended the waits (at shutdown). */
  get released(): boolean {
    return this.#released;
  }

  /** Ends every wait for settling now (at shutdown, past the drain timeout): the requests answer 202. */
  release(): void {
    this.#released = true;
    for (const end of [...this.#releaseWaiters]) end();
  }

  /** `settle()` on one actor; PARKED when `follow` and the host parked it meanwhile. */
  settle(entry: SettlingEntry, waitMs: number, follow: boolean): Promise<Settled | typeof PARKED> {
    const { actor } = entry;
    // A bounded wait keeps its actor in memory (it ends soon); only a follower lets it be parked.
    if (!follow) entry.waiters++;
    return new Promise((resolve, reject) => {
      let finished = false;
      const done = (settled: boolean) => {
        if (finished) return;
        finished = true;
        if (!follow) entry.waiters--;
        clearTimeout(timer);
        sub?.unsubscribe();
        this.#releaseWaiters.delete(release);
        this.#writes.unlisten(release);
        if (follow && entry.parked && !this.#released && !this.#stopped()) return resolve(PARKED);
        // Answer with what is on disk: the snapshot that settled it is queued within this turn.
        const answer = () => (entry.writeFailed ? reject(unavailable(`the lifecycle could not be stored: ${entry.writeFailed.message}`)) : resolve({ snapshot: actor.getSnapshot(), settled }));
        void this.#writes.stored().then(answer, reject);
      };
      const release = () => done(false);
      const isSettled = (s: LifecycleSnapshot) => s.status !== 'active' || !s.hasTag('busy');
      const timer = setTimeout(() => done(false), waitMs);
      // Not a const: subscribing to an actor that is already done calls `complete` before it returns.
      let sub: { unsubscribe(): void } | null = null;
      sub = actor.subscribe({
        next: (s) => isSettled(s) && done(true),
        error: () => done(true),
        complete: () => done(!actor.getSnapshot().hasTag('busy')),
      });
      if (isSettled(actor.getSnapshot())) done(true);
      else if (this.#released || this.#writes.locked) done(false);
      else {
        this.#releaseWaiters.add(release);
        // The store staying locked ends the wait too: `stored()` then answers 503.
        this.#writes.listen(release);
      }
    });
  }
}
