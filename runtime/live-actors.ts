// The actor host's actors in memory, one per lifecycle: how each comes and goes. An actor is
// created for a new lifecycle or hydrated from the stored row when a request (a landing, the
// start-up resume) needs it; a second request joins a hydration under way. A settled actor is
// unloaded after `idleMs` (the sweeper), a revoked one as soon as its last snapshot is on disk, and
// past `maxLive` the least recently used settled ones first; one whose step waits on its peer is
// parked instead (runtime/parking.ts). Its snapshot stays in the store for the next hydration.
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import type { LifecycleInput } from '../machines/types.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { AuditFrom } from './audit.ts';
import { startSweeper, type Parking } from './parking.ts';
import { persistedSnapshot, statePath, type LifecycleSnapshot } from './projection.ts';

/** One lifecycle's actor in memory. */
export interface Entry {
  actor: Actor<PrefixLifecycleMachine>;
  subscriberId: string;
  /** The newest row written for it (or queued to be, within this event-loop turn). */
  row: LifecycleRow | null;
  /** State path and context of `row` (e.g. `revoking.release`): what the next audit entry left. */
  from: AuditFrom | null;
  stopping: boolean;
  /** When it last moved or was asked for (Date.now()): the entries are kept in this order, oldest first. */
  lastUsed: number;
  /** Snapshots queued for the group commit and not yet on disk: until then the store holds an older one. */
  saving: number;
  /** Its last snapshot could not be stored: the actor was stopped, the request hears 503. */
  writeFailed: Error | null;
  /** Bounded `settle()` calls waiting on it: it is never parked under them. */
  waiters: number;
  /** Stopped by a park (runtime/parking.ts). */
  parked: boolean;
}

export interface LiveActorsOptions {
  /** Where a lifecycle not in memory is read from (ActorHostOptions' `store`). */
  store: LifecyclePort;
  /** The lifecycle machine with its real actors provided. */
  machine: PrefixLifecycleMachine;
  log: Logger;
  /** Extra inspection observer (the Stately inspector, on demand). */
  inspect?: ((ev: InspectionEvent) => void) | undefined;
  /** Every snapshot an actor reports (runtime/host-writes.ts `persist`). */
  persist(entry: Entry, event: { type: string }, snapshot: LifecycleSnapshot): void;
  /** Set by `stopAll()`: a landing hydrates nothing more. */
  stopped(): boolean;
  /** A settled actor is stopped after this long without work. */
  idleMs: number;
  /** An actor whose step waits on its peer this long is parked (infinite when none is). */
  parkMs: number;
  /** At most this many actors in memory: past it the least recently used settled ones go. */
  maxLive: number;
  parking: Pick<Parking<unknown>, 'parkable' | 'park' | 'hydrated'> | null;
  /** Whether an operation of the subscriber runs or waits (runtime/subscriber-queue.ts): its actors stay. */
  queued(subscriberId: string): boolean;
  /** This turn's group commit (runtime/host-writes.ts). */
  afterCommit(): Promise<void>;
}

export class LiveActors {
  readonly #o: LiveActorsOptions;
  /** Least recently used first: a touch moves an entry to the end. */
  readonly #entries = new Map<string, Entry>();
  /** The lifecycles in memory per subscriber: what an owned `exclusive()` unloads when it ends. */
  readonly #bySubscriber = new Map<string, Set<string>>();
  /** Revoked lifecycles: unloaded as soon as their last snapshot is on disk and nobody waits on them. */
  readonly #done = new Set<string>();
  /** Unloads actors idle past `idleMs`; runs only while actors are in memory. */
  #sweeper: NodeJS.Timeout | null = null;
  #trimScheduled = false;
  /** Hydrations under way (a store read): a second request for the same lifecycle joins it. */
  readonly #opening = new Map<string, Promise<Entry | null>>();

  constructor(o: LiveActorsOptions) {
    this.#o = o;
  }

  /** How many actors are in memory. */
  get size(): number {
    return this.#entries.size;
  }

  get(lifecycleId: string): Entry | undefined {
    return this.#entries.get(lifecycleId);
  }

  has(lifecycleId: string): boolean {
    return this.#entries.has(lifecycleId);
  }

  /** The ids of the subscriber's lifecycles in memory (a copy). */
  lifecyclesOf(subscriberId: string): string[] {
    return [...(this.#bySubscriber.get(subscriberId) ?? [])];
  }

  /** Whether an actor for it is in memory or being hydrated. */
  present(lifecycleId: string): boolean {
    return this.#entries.has(lifecycleId) || this.#opening.has(lifecycleId);
  }

  /** The lifecycle's actor, hydrated from the store if need be; null for an unknown id (and for a landing after `stopAll()`). */
  open(lifecycleId: string, landing = false): Promise<Entry | null> {
    const existing = this.#entries.get(lifecycleId);
    if (existing) {
      this.#touch(lifecycleId, existing);
      return Promise.resolve(existing);
    }
    const opening = this.#opening.get(lifecycleId);
    if (opening) return opening;
    const read = this.#o.store
      .get(lifecycleId)
      // Whoever hydrated it while the row was being read has the one actor.
      // A landing after stopAll() hydrates nothing: its steps would call peers after the stop.
      .then((row) => this.#entries.get(lifecycleId) ?? (row && !(landing && this.#o.stopped()) ? this.hydrate(row) : null))
      .finally(() => this.#opening.delete(lifecycleId));
    this.#opening.set(lifecycleId, read);
    return read;
  }

  /** Starts the lifecycle's actor from its stored row. */
  hydrate(row: LifecycleRow): Entry {
    return this.#start(row.id, row.subscriber_id, { snapshot: persistedSnapshot(row), row });
  }

  /** Starts a new lifecycle's actor. */
  create(input: LifecycleInput): Entry {
    return this.#start(input.lifecycleId, input.subscriberId, { input });
  }

  #start(lifecycleId: string, subscriberId: string, from: { input: LifecycleInput } | { snapshot: unknown; row: LifecycleRow }): Entry {
    const row = 'row' in from ? from.row : null;
    const stored = 'snapshot' in from ? (from.snapshot as LifecycleSnapshot) : null;
    const last = stored ? { path: statePath(stored), context: stored.context } : null;
    const entry = { subscriberId, row, from: last, stopping: false, lastUsed: Date.now(), saving: 0, writeFailed: null, waiters: 0, parked: false } as Entry;
    const inspect = (ev: InspectionEvent) => {
      if (ev.type === '@xstate.snapshot' && ev.actorRef === entry.actor) this.#o.persist(entry, ev.event, ev.snapshot as LifecycleSnapshot);
      this.#o.inspect?.(ev);
    };
    entry.actor =
      'input' in from
        ? createActor(this.#o.machine, { input: from.input, inspect })
        : // The machine's input type makes `input` required, but a restored actor takes its context from the snapshot.
          createActor(this.#o.machine, { snapshot: from.snapshot, inspect } as unknown as { input: LifecycleInput });
    entry.actor.subscribe({
      // An actor with nothing in flight is unloaded after `idleMs` (the sweeper), or sooner past the cap.
      next: (snapshot) => {
        if (entry.stopping) return;
        this.#touch(lifecycleId, entry);
        // Revoked: only an offline CPE's late answer moves it again, and that rehydrates it.
        if (snapshot.value === 'revoked') this.#done.add(lifecycleId);
        if (!snapshot.hasTag('busy') && (this.#entries.size > this.#o.maxLive || snapshot.value === 'revoked')) this.#unloadSoon();
      },
      error: (err) => {
        // A snapshot the machine cannot take: keep the stored one and leave the lifecycle for an operator.
        this.#o.log.error({ subscriber_id: subscriberId, lifecycle_id: lifecycleId, err: String(err) }, 'lifecycle actor stopped on an error');
        if (this.#entries.get(lifecycleId) === entry) this.#forget(lifecycleId, entry);
      },
    });
    this.#entries.set(lifecycleId, entry);
    const mine = this.#bySubscriber.get(subscriberId);
    if (mine) mine.add(lifecycleId);
    else this.#bySubscriber.set(subscriberId, new Set([lifecycleId]));
    entry.actor.start();
    this.#o.parking?.hydrated(lifecycleId);
    if (entry.actor.getSnapshot().value === 'revoked') this.#done.add(lifecycleId);
    // Past the cap, older settled actors make room (never this one: its caller is about to use it).
    if (this.#entries.size > this.#o.maxLive) this.unload(lifecycleId);
    this.#sweeper ??= this.#startSweeper();
    return entry;
  }

  /** Marks the entry used now: it moves to the end of the LRU order. */
  #touch(lifecycleId: string, entry: Entry): void {
    entry.lastUsed = Date.now();
    this.#entries.delete(lifecycleId);
    this.#entries.set(lifecycleId, entry);
  }

  /**
   * Whether the actor can be stopped now without losing anything: no step in flight, no operation of
   * its subscriber waiting on it, and its last snapshot on disk (else a rehydration would read an older one).
   */
  #unloadable(entry: Entry): boolean {
    return !entry.stopping && entry.saving === 0 && !this.#o.queued(entry.subscriberId) && !entry.actor.getSnapshot().hasTag('busy');
  }

  /** Unloads what can go: revoked actors, then the least recently used settled ones while past the cap. */
  unload(keep?: string): void {
    for (const id of this.#done) {
      const entry = this.#entries.get(id);
      if (!entry) this.#done.delete(id);
      else if (id !== keep && this.#unloadable(entry)) this.evict(id, entry);
    }
    if (this.#entries.size <= this.#o.maxLive) return;
    const { parking } = this.#o;
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#o.maxLive) break;
      if (id === keep) continue;
      if (this.#unloadable(entry)) this.evict(id, entry);
      else if (parking?.parkable(id, entry)) parking.park(id, entry);
    }
  }

  /** `unload()` after this turn (and its group commit): never from inside an actor's own observer. */
  #unloadSoon(): void {
    if (this.#trimScheduled) return;
    this.#trimScheduled = true;
    const trim = () => {
      this.#trimScheduled = false;
      this.unload();
    };
    // Both ways: `.finally()` would hand a failed commit's rejection on to nobody, and Node ends the process on it.
    void this.#o.afterCommit().then(trim, trim);
  }

  #startSweeper(): NodeJS.Timeout {
    return startSweeper({
      idleMs: this.#o.idleMs,
      parkMs: this.#o.parkMs,
      entries: this.#entries,
      unloadable: (entry) => this.#unloadable(entry),
      evict: (id, entry) => this.evict(id, entry),
      parking: this.#o.parking,
      stopped: () => (this.#sweeper = null),
    });
  }

  /** Stops the actor; nothing it reports from now on is stored. */
  evict(lifecycleId: string, entry: Entry): void {
    entry.stopping = true; // set before stop(): a snapshot taken after stop() must never be stored
    entry.actor.stop();
    if (this.#entries.get(lifecycleId) === entry) this.#forget(lifecycleId, entry);
    this.#done.delete(lifecycleId);
  }

  #forget(lifecycleId: string, entry: Entry): void {
    this.#entries.delete(lifecycleId);
    const mine = this.#bySubscriber.get(entry.subscriberId);
    mine?.delete(lifecycleId);
    if (mine?.size === 0) this.#bySubscriber.delete(entry.subscriberId);
  }

  /** Stops every actor of the subscriber, busy or not. */
  evictSubscriber(subscriberId: string): void {
    for (const id of this.lifecyclesOf(subscriberId)) {
      const entry = this.#entries.get(id);
      if (entry) this.evict(id, entry);
    }
  }

  /** At `stopAll()`: the sweeper ends and every actor is stopped. */
  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    for (const [id, entry] of this.#entries) this.evict(id, entry);
  }
}
