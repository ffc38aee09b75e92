// The actor host's parking (runtime/flights.ts says what a parked lifecycle is): which actors may
// be stopped while their step's call goes on, the park itself, the landing that hydrates the
// lifecycle again, and the waits until settled that follow a parked lifecycle to its next actor.
// A follower is one record in a set keyed by the lifecycle, not a suspended frame: an operation
// that answered 202 waits, parked, as that record and the promise its caller holds.
import type { Logger } from 'pino';
import type { Flights } from './flights.ts';

/** `settleOnce()`'s answer when the actor it waited on was parked: follow the lifecycle to its next actor. */
export const PARKED = Symbol('parked');

/** What the parking reads of a host's entry. */
export interface ParkableEntry {
  stopping: boolean;
  saving: number;
  /** Bounded `settle()` calls waiting on it: it is never parked under them. */
  waiters: number;
  writeFailed: Error | null;
  /** Stopped by a park: its step's call goes on in `flights`, and unbounded waits follow it. */
  parked: boolean;
  actor: { getSnapshot(): { hasTag(tag: string): boolean } };
}

/** What the parking needs of its host (ActorHost's parts, handed in as functions). */
export interface ParkingHost<S> {
  flights: Flights;
  log: Logger;
  /** Stops the actor without storing anything further (LiveActors' `evict`). */
  evict(lifecycleId: string, entry: ParkableEntry): void;
  /** Hydrates the lifecycle for its landing; nothing after `stopAll()` (LiveActors' `open(id, true)`). */
  openForLanding(lifecycleId: string): Promise<unknown>;
  /** Whether an actor for it is in memory or being hydrated. */
  present(lifecycleId: string): boolean;
  /** One wait on the lifecycle's actor, hydrating it if need be; PARKED when it was parked under the wait. */
  settleOnce(lifecycleId: string): Promise<S | typeof PARKED>;
  /** At shutdown: what a follower answers (the stored snapshot, not settled). */
  ended(lifecycleId: string): Promise<S>;
  stopped(): boolean;
  /** The error a follower hears when a landed lifecycle cannot be read back. */
  unreadable(message: string): Error;
}

/**
 * A wait until settled on one lifecycle, across its parks: `settleOnce()` again at each hydration.
 * `then` is the caller's continuation, so that the caller's promise is the only one it keeps.
 */
class Follower<S> {
  constructor(
    readonly parking: Parking<S>,
    readonly lifecycleId: string,
    readonly then: ((settled: S) => unknown) | null,
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: unknown) => void,
  ) {}

  go(): void {
    this.parking.host.settleOnce(this.lifecycleId).then(
      (settled) => (settled === PARKED ? this.parking.follow(this) : this.settled(settled)),
      (err: unknown) => this.reject(err),
    );
  }

  settled(settled: S): void {
    try {
      this.resolve(this.then ? this.then(settled) : settled);
    } catch (err) {
      this.reject(err);
    }
  }
}

export class Parking<S> {
  /** Waits until settled whose lifecycle is parked: told when it is hydrated again. */
  readonly #followers = new Map<string, Follower<S>[]>();

  constructor(readonly host: ParkingHost<S>) {
    host.flights.onLanded = (id) => this.#landed(id);
  }

  /** How many lifecycles have a step under way with no actor in memory. */
  get parked(): number {
    return this.host.flights.parked;
  }

  /**
   * Whether the actor can be stopped while its step goes on (parked): its step's call is under way
   * in `flights`, its last snapshot is on disk, and no bounded `settle()` waits on it (an operation
   * waiting until it settles follows it to its next actor).
   */
  parkable(lifecycleId: string, entry: ParkableEntry): boolean {
    return (
      !entry.stopping &&
      entry.saving === 0 &&
      entry.waiters === 0 &&
      !entry.writeFailed &&
      entry.actor.getSnapshot().hasTag('busy') &&
      this.host.flights.holds(lifecycleId)
    );
  }

  park(lifecycleId: string, entry: ParkableEntry): void {
    this.host.flights.park(lifecycleId);
    entry.parked = true;
    this.host.evict(lifecycleId, entry);
  }

  /** Waits until the lifecycle settles, following it through its parks; with `then`, resolves with what it returns. */
  settle<R = S>(lifecycleId: string, then: ((settled: S) => R | Promise<R>) | null = null): Promise<R> {
    return new Promise<R>((resolve, reject) => new Follower(this, lifecycleId, then, resolve as (v: unknown) => void, reject).go());
  }

  /** A follower whose actor was parked: listed until the lifecycle is hydrated again. */
  follow(f: Follower<S>): void {
    const { lifecycleId } = f;
    // Hydrated again meanwhile (or being), or its call has landed already: follow it now, not at
    // a next hydration that may have come and gone while this wait was resolving.
    if (this.host.present(lifecycleId) || !this.host.flights.holds(lifecycleId)) return f.go();
    // An array, not a Set: nearly always one follower, and a Set of one is 150 bytes.
    const followers = this.#followers.get(lifecycleId);
    if (followers) followers.push(f);
    else this.#followers.set(lifecycleId, [f]);
  }

  /** The lifecycle has an actor again: its followers wait on that one. */
  hydrated(lifecycleId: string): void {
    const followers = this.#take(lifecycleId);
    followers?.forEach((f) => f.go());
  }

  /** At `stopAll()`: every parked call is given up (their steps run again at the next start), and every follower ends. */
  stop(): void {
    this.host.flights.abortAll();
    this.endAll();
  }

  /** Shutting down (stop or release): every follower answers what the store holds, not settled (the request answers 202). */
  endAll(): void {
    for (const id of [...this.#followers.keys()]) {
      const followers = this.#take(id)!;
      const answer = this.host.ended(id);
      for (const f of followers) answer.then((settled) => f.settled(settled), f.reject);
    }
  }

  #take(lifecycleId: string): Follower<S>[] | undefined {
    const followers = this.#followers.get(lifecycleId);
    this.#followers.delete(lifecycleId);
    return followers;
  }

  /** A parked lifecycle's call ended: hydrate it, and its restored step takes the outcome. */
  #landed(lifecycleId: string): void {
    if (this.host.stopped()) return;
    const { flights, log } = this.host;
    this.host.openForLanding(lifecycleId).then(
      (entry) => {
        // Its stored snapshot no longer runs that step (or it is gone): nobody will take the outcome.
        const dropped = flights.dropLanded(lifecycleId);
        if (dropped) log.warn({ lifecycle_id: lifecycleId, found: entry !== null }, 'a parked step ended but the lifecycle no longer runs it; outcome dropped');
      },
      (err: unknown) => {
        flights.dropLanded(lifecycleId);
        const error = this.host.unreadable(`the lifecycle could not be read back: ${String(err)}`);
        this.#take(lifecycleId)?.forEach((f) => f.reject(error));
        log.error({ lifecycle_id: lifecycleId, err: String(err) }, 'could not hydrate a parked lifecycle whose step ended; it resumes at the next start');
      },
    );
  }
}

/**
 * The host's sweeper, every quarter of `idleMs` or `parkMs` (at most a second): unloads the actors
 * idle past `idleMs`, parks those waiting on their step past `parkMs`; it stops when none is left.
 */
export function startSweeper<E extends ParkableEntry & { lastUsed: number }>(o: {
  idleMs: number;
  parkMs: number;
  /** Least recently used first. */
  entries: Map<string, E>;
  unloadable(entry: E): boolean;
  evict(lifecycleId: string, entry: E): void;
  parking: Pick<Parking<never>, 'parkable' | 'park'> | null;
  stopped(): void;
}): NodeJS.Timeout {
  const timer = setInterval(
    () => {
      const now = Date.now();
      const idle = now - o.idleMs;
      const park = now - o.parkMs;
      const cutoff = Math.max(idle, park);
      for (const [id, entry] of o.entries) {
        // Oldest first: the first one used since both cutoffs ends the walk.
        if (entry.lastUsed > cutoff) break;
        if (entry.lastUsed <= idle && o.unloadable(entry)) o.evict(id, entry);
        else if (entry.lastUsed <= park && o.parking?.parkable(id, entry)) o.parking.park(id, entry);
      }
      if (o.entries.size === 0) {
        clearInterval(timer);
        o.stopped();
      }
    },
    Math.max(10, Math.min(o.idleMs / 4, o.parkMs / 4, 1000)),
  );
  timer.unref();
  return timer;
}
