import { createActor, type Actor, type InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import type { LifecycleEvent, LifecycleInput } from '../machines/types.ts';
import type { AuditEntry, LifecycleRow, LifecycleStore } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { AuditFrom } from './audit.ts';
import { transitionOf, type AllocateNow, type AtOnce } from './at-once.ts';
import type { Flights } from './flights.ts';
import { PARKED, Parking, startSweeper } from './parking.ts';
import { HostWrites, unavailable } from './host-writes.ts';
import { RESUME_BATCH, resumeInFlight } from './resume.ts';
import { SubscriberQueues, type Heard } from './subscriber-queue.ts';
import { Settling, UNTIL_SETTLED_MS, type Settled } from './settling.ts';
import { currentLogScope } from './log-context.ts';
import type { Ownership } from './ownership.ts';
import { persistedSnapshot, statePath, type LifecycleSnapshot } from './projection.ts';

export { UNTIL_SETTLED_MS } from './settling.ts';

/** What the host reports after every persisted transition (metrics, logs). */
export interface TransitionRecord {
  row: LifecycleRow;
  audit: AuditEntry;
  previous: LifecycleRow | null;
}

export interface ActorHostOptions {
  /** Reads (and, without `sqlite`, writes) go through the store port, whichever backend. */
  store: LifecyclePort;
  /**
   * The SQLite store itself, on SQLite: the group commit writes through it synchronously (no
   * promise in the way), and allocations made at once (`allocateNow`) share its transaction.
   */
  sqlite?: LifecycleStore;
  /**
   * Several instances (PostgreSQL): who owns which subscriber's work. `exclusive()` takes the
   * subscriber's lease first, every write is fenced with its token, and the subscriber's actors
   * are unloaded and the lease given up as soon as the work is done.
   */
  ownership?: Ownership;
  /** The lifecycle machine with its real actors provided. */
  machine: PrefixLifecycleMachine;
  log: Logger;
  /** A settled actor is stopped after this long without work; its snapshot stays in the store. */
  idleMs: number;
  /** At most this many actors in memory (`runtime.max_live_actors`): past it the least recently used settled ones are stopped. */
  maxLive?: number;
  onTransition?: (t: TransitionRecord) => void;
  /** Extra inspection observer (the Stately inspector, on demand). */
  inspect?: (ev: InspectionEvent) => void;
  /** How long a request waits for a write that another connection's lock holds back before it answers 503. */
  storeBusyMs?: number;
  /** The allocation step made synchronously on the SQLite store's connection (the embedded IPAM): `createAtOnce()` uses it. */
  allocateNow?: AllocateNow | null;
  /**
   * The steps' calls (runtime/flights.ts, the same the step actors run through): an actor whose step
   * has waited on its peer `parkMs` (or any in-flight one past the cap), with no bounded `settle()`
   * on it, is stopped and its call goes on there; its lifecycle is hydrated again when the call
   * ends, and waits until settled follow it. Not with `ownership` or `inspect`.
   */
  flights?: Flights;
  parkMs?: number;
}

interface Entry {
  actor: Actor<PrefixLifecycleMachine>;
  subscriberId: string;
  /** The newest row written for it (or queued to be, within this event-loop turn). */
  row: LifecycleRow | null;
  /** State path and context of `row` (e.g. `revoking.release`): what the next audit entry left. */
  from: AuditFrom | null;
  stopping: boolean;
  /** When it last moved or was asked for (Date.now()): `#entries` is kept in this order, oldest first. */
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

/**
 * Hosts one actor per lifecycle: hydrates on demand, persists every snapshot before the next outside
 * call can have effects, serializes work per subscriber, evicts idle actors, resumes in-flight ones.
 */
export class ActorHost {
  readonly #opts: ActorHostOptions;
  /** Least recently used first: a touch moves an entry to the end. */
  readonly #entries = new Map<string, Entry>();
  readonly #maxLive: number;
  /** Unloads actors idle past `idleMs`; runs only while actors are in memory. */
  #sweeper: NodeJS.Timeout | null = null;
  #trimScheduled = false;
  /** Revoked lifecycles: unloaded as soon as their last snapshot is on disk and nobody waits on them. */
  readonly #done = new Set<string>();
  /** One subscriber's work at a time, and with several instances its lease (runtime/subscriber-queue.ts). */
  readonly #queues: SubscriberQueues<Entry>;
  /** Hydrations under way (a store read): a second request for the same lifecycle joins it. */
  readonly #opening = new Map<string, Promise<Entry | null>>();
  /** The lifecycles in memory per subscriber: what an owned `exclusive()` unloads when it ends. */
  readonly #bySubscriber = new Map<string, Set<string>>();
  /** The group commit and why the store takes no writes now (runtime/host-writes.ts). */
  readonly #writes: HostWrites<Entry>;
  /** The waits until settled, and their end at shutdown (`release()`). */
  readonly #settling: Settling;
  /** Set by `stopAll()`: a background resume still running hydrates nothing more. */
  #stopped = false;
  /** Stops actors whose step waits on its peer and keeps their calls going; null when actors are never parked. */
  readonly #parking: Parking<Settled> | null;
  readonly #parkMs: number;

  constructor(opts: ActorHostOptions) {
    this.#opts = opts;
    this.#maxLive = opts.maxLive ?? Number.POSITIVE_INFINITY;
    const flights = opts.flights && !opts.ownership && !opts.inspect ? opts.flights : null;
    this.#parking = flights ? this.#startParking(flights) : null;
    this.#parkMs = flights ? (opts.parkMs ?? opts.idleMs) : Number.POSITIVE_INFINITY;
    this.#writes = new HostWrites<Entry>({ ...opts, evict: (id, entry) => this.#evict(id, entry) });
    this.#settling = new Settling(this.#writes, () => this.#stopped);
    this.#queues = new SubscriberQueues<Entry>({
      ownership: opts.ownership ?? null,
      lifecyclesOf: (subscriberId) => [...(this.#bySubscriber.get(subscriberId) ?? [])],
      entry: (id) => this.#entries.get(id),
      evict: (id, entry) => this.#evict(id, entry),
      settle: (id, waitMs) => this.settle(id, waitMs),
      idle: () => this.#unload(),
      ending: () => this.#stopped || this.#settling.released,
    });
  }

  /**
   * Creates a lifecycle whose allocation the IPAM makes inside the store's own transaction (the
   * embedded IPAM), without an actor: the snapshots are computed with the machine's pure transition
   * functions in the group commit of this turn, so the allocation and the `allocated` snapshot are
   * one commit. Resolves once that is on disk with the settled snapshot and its row; with null when
   * this lifecycle cannot go that way (nothing of it written: `create()` it). Rejects 503 as `settle()`
   * does when the store cannot take the write.
   */
  createAtOnce(input: LifecycleInput): Promise<{ snapshot: AtOnce['snapshot']; row: LifecycleRow } | null> {
    return this.#writes.createAtOnce(input);
  }

  /** Why the store takes no writes now, or null: `/readyz` answers 503 with it. */
  get storeProblem(): string | null {
    return this.#writes.storeProblem;
  }

  /** A write outside the group commit (the readiness probe) went through: the store is fine again. */
  storeRecovered(): void {
    this.#writes.storeRecovered();
  }

  /** Ends every wait for settling now (at shutdown, past the drain timeout): the requests answer 202. */
  release(): void {
    this.#settling.release();
    this.#parking?.endAll();
  }

  /**
   * Runs `fn` after every earlier call for the same subscriber has finished. With several instances,
   * first waits for the subscriber's lease (another instance's work ends, or its lease expires);
   * once `fn` is done, the subscriber's actors are unloaded and the lease is given up. `heard` is
   * told how it ended, from the queue's own reaction on it: a caller waiting on the outcome needs none.
   */
  exclusive<T>(subscriberId: string, fn: () => Promise<T>, heard?: Heard<T>): Promise<T> {
    return this.#queues.exclusive(subscriberId, fn, heard);
  }

  /** Starts a new lifecycle; its first snapshot is stored before allocation begins. */
  create(input: LifecycleInput): LifecycleSnapshot {
    const entry = this.#start(input.lifecycleId, input.subscriberId, { input });
    return entry.actor.getSnapshot();
  }

  /** The running actor's snapshot, hydrating it from the store if needed; null for an unknown id. */
  async snapshot(lifecycleId: string): Promise<LifecycleSnapshot | null> {
    return (await this.#open(lifecycleId))?.actor.getSnapshot() ?? null;
  }

  /** Sends an event to the lifecycle's actor. */
  async send(lifecycleId: string, event: LifecycleEvent): Promise<LifecycleSnapshot> {
    const entry = await this.#open(lifecycleId);
    if (!entry) throw new Error(`unknown lifecycle ${lifecycleId}`);
    entry.actor.send(event);
    return entry.actor.getSnapshot();
  }

  /**
   * Resolves once the lifecycle has no step in flight, or after `waitMs` with what it has then. An
   * actor stopped meanwhile (evicted, or its snapshot could not be stored) ends the wait at once,
   * settled only if it had nothing in flight: the rest resumes at its next hydration.
   */
  settle(lifecycleId: string, waitMs: number): Promise<Settled> {
    // Waiting until it settles follows the lifecycle through a park (runtime/parking.ts): the wait
    // holds only its id meanwhile (never the stopped actor), and goes on with the next actor.
    if (waitMs >= UNTIL_SETTLED_MS && this.#parking) return this.#parking.settle(lifecycleId);
    return this.#openAndSettle(lifecycleId, waitMs, false) as Promise<Settled>;
  }

  /**
   * `settle(lifecycleId, UNTIL_SETTLED_MS).then(then)` with one promise, not two: an operation that
   * answered 202 waits so, parked, for as long as its step's peer takes.
   */
  settleThen<R>(lifecycleId: string, then: (settled: Settled) => R | Promise<R>): Promise<R> {
    if (this.#parking) return this.#parking.settle(lifecycleId, then);
    return (this.#openAndSettle(lifecycleId, UNTIL_SETTLED_MS, false) as Promise<Settled>).then(then);
  }

  async #openAndSettle(lifecycleId: string, waitMs: number, follow: boolean): Promise<Settled | typeof PARKED> {
    const entry = await this.#open(lifecycleId);
    if (!entry) throw new Error(`unknown lifecycle ${lifecycleId}`);
    return this.#settling.settle(entry, waitMs, follow);
  }

  /** Resumes every lifecycle that had a step in flight (runtime/resume.ts); resolves with how many. */
  resumeInFlight(batch = RESUME_BATCH): Promise<number> {
    return resumeInFlight(
      {
        store: this.#opts.store,
        log: this.#opts.log,
        present: (id) => this.#entries.has(id),
        hydrate: (row) => void this.#hydrate(row),
        stopped: () => this.#stopped,
      },
      batch,
    );
  }

  /**
   * The lifecycle's newest row when it is in memory and on disk (nothing of it queued), else null:
   * an answer built after `settle()` need not read back what the host has just written.
   */
  storedRow(lifecycleId: string): LifecycleRow | null {
    const entry = this.#entries.get(lifecycleId);
    return entry && !entry.stopping && entry.saving === 0 && !entry.writeFailed ? entry.row : null;
  }

  /** How many actors are in memory. */
  get size(): number {
    return this.#entries.size;
  }

  /** Stops the subscriber's actors at once (its lease was lost: another instance owns its work now). */
  abandon(subscriberId: string): void {
    for (const id of [...(this.#bySubscriber.get(subscriberId) ?? [])]) {
      const entry = this.#entries.get(id);
      if (entry) this.#evict(id, entry);
    }
  }

  /** Resolves once no write of the group commit is in flight (an asynchronous store, before it closes). */
  drain(): Promise<void> {
    return this.#writes.drain();
  }

  /** Stops every actor without persisting anything further; in-flight steps resume at the next start. */
  stopAll(): void {
    this.#stopped = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    this.#writes.stop();
    for (const [id, entry] of this.#entries) this.#evict(id, entry);
    this.#parking?.stop();
  }

  /** How many lifecycles have a step under way with no actor in memory (parked). */
  get parked(): number {
    return this.#parking?.parked ?? 0;
  }

  /** The parking's view of this host (runtime/parking.ts). */
  #startParking(flights: Flights): Parking<Settled> {
    const { store, machine, log } = this.#opts;
    return new Parking<Settled>({
      flights,
      log,
      evict: (id, entry) => this.#evict(id, entry as Entry),
      openForLanding: (id) => this.#open(id, true),
      present: (id) => this.#entries.has(id) || this.#opening.has(id),
      settleOnce: (id) => this.#openAndSettle(id, UNTIL_SETTLED_MS, true),
      ended: (id) => store.get(id).then((row) => ({ snapshot: storedSnapshot(machine, id, row), settled: false })),
      stopped: () => this.#stopped,
      unreadable: unavailable,
    });
  }

  #open(lifecycleId: string, landing = false): Promise<Entry | null> {
    const existing = this.#entries.get(lifecycleId);
    if (existing) {
      this.#touch(lifecycleId, existing);
      return Promise.resolve(existing);
    }
    const opening = this.#opening.get(lifecycleId);
    if (opening) return opening;
    const read = this.#opts.store
      .get(lifecycleId)
      // Whoever hydrated it while the row was being read has the one actor.
      // A landing after stopAll() hydrates nothing: its steps would call peers after the stop.
      .then((row) => this.#entries.get(lifecycleId) ?? (row && !(landing && this.#stopped) ? this.#hydrate(row) : null))
      .finally(() => this.#opening.delete(lifecycleId));
    this.#opening.set(lifecycleId, read);
    return read;
  }

  #hydrate(row: LifecycleRow): Entry {
    return this.#start(row.id, row.subscriber_id, { snapshot: persistedSnapshot(row), row });
  }

  #start(lifecycleId: string, subscriberId: string, from: { input: LifecycleInput } | { snapshot: unknown; row: LifecycleRow }): Entry {
    const row = 'row' in from ? from.row : null;
    const stored = 'snapshot' in from ? (from.snapshot as LifecycleSnapshot) : null;
    const last = stored ? { path: statePath(stored), context: stored.context } : null;
    const entry = { subscriberId, row, from: last, stopping: false, lastUsed: Date.now(), saving: 0, writeFailed: null, waiters: 0, parked: false } as Entry;
    const inspect = (ev: InspectionEvent) => {
      if (ev.type === '@xstate.snapshot' && ev.actorRef === entry.actor) this.#persist(entry, ev.event, ev.snapshot as LifecycleSnapshot);
      this.#opts.inspect?.(ev);
    };
    entry.actor =
      'input' in from
        ? createActor(this.#opts.machine, { input: from.input, inspect })
        : // The machine's input type makes `input` required, but a restored actor takes its context from the snapshot.
          createActor(this.#opts.machine, { snapshot: from.snapshot, inspect } as unknown as { input: LifecycleInput });
    entry.actor.subscribe({
      // An actor with nothing in flight is unloaded after `idleMs` (the sweeper), or sooner past the cap.
      next: (snapshot) => {
        if (entry.stopping) return;
        this.#touch(lifecycleId, entry);
        // Revoked: only an offline CPE's late answer moves it again, and that rehydrates it.
        if (snapshot.value === 'revoked') this.#done.add(lifecycleId);
        if (!snapshot.hasTag('busy') && (this.#entries.size > this.#maxLive || snapshot.value === 'revoked')) this.#unloadSoon();
      },
      error: (err) => {
        // A snapshot the machine cannot take: keep the stored one and leave the lifecycle for an operator.
        this.#opts.log.error({ subscriber_id: subscriberId, lifecycle_id: lifecycleId, err: String(err) }, 'lifecycle actor stopped on an error');
        if (this.#entries.get(lifecycleId) === entry) this.#forget(lifecycleId, entry);
      },
    });
    this.#entries.set(lifecycleId, entry);
    const mine = this.#bySubscriber.get(subscriberId);
    if (mine) mine.add(lifecycleId);
    else this.#bySubscriber.set(subscriberId, new Set([lifecycleId]));
    entry.actor.start();
    this.#parking?.hydrated(lifecycleId);
    if (entry.actor.getSnapshot().value === 'revoked') this.#done.add(lifecycleId);
    // Past the cap, older settled actors make room (never this one: its caller is about to use it).
    if (this.#entries.size > this.#maxLive) this.#unload(lifecycleId);
    this.#sweeper ??= this.#startSweeper();
    return entry;
  }

  #persist(entry: Entry, event: { type: string }, snapshot: LifecycleSnapshot): void {
    if (entry.stopping || snapshot.status === 'error') return;
    // A restored actor re-announces the stored snapshot: nothing new to write.
    if (event.type === 'xstate.init' && entry.row) return;
    const previous = entry.row;
    const t = transitionOf(previous, entry.from, event, snapshot, entry.actor.getPersistedSnapshot(), new Date().toISOString());
    if (!t) return;
    entry.row = t.row;
    entry.from = t.from;
    this.#writes.save({ entry, row: t.row, audit: t.audit, previous, detail: t.detail, scope: currentLogScope() });
  }

  /**
   * Resolves once the group commit of this turn is on disk, with every snapshot taken before the turn
   * ends; rejects if writing it failed. A step awaits it before its first outside call.
   */
  afterCommit(): Promise<void> {
    return this.#writes.afterCommit();
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
    return !entry.stopping && entry.saving === 0 && !this.#queues.has(entry.subscriberId) && !entry.actor.getSnapshot().hasTag('busy');
  }

  /** Unloads what can go: revoked actors, then the least recently used settled ones while past the cap. */
  #unload(keep?: string): void {
    for (const id of this.#done) {
      const entry = this.#entries.get(id);
      if (!entry) this.#done.delete(id);
      else if (id !== keep && this.#unloadable(entry)) this.#evict(id, entry);
    }
    if (this.#entries.size <= this.#maxLive) return;
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxLive) break;
      if (id === keep) continue;
      if (this.#unloadable(entry)) this.#evict(id, entry);
      else if (this.#parking?.parkable(id, entry)) this.#parking.park(id, entry);
    }
  }

  /** `#unload()` after this turn (and its group commit): never from inside an actor's own observer. */
  #unloadSoon(): void {
    if (this.#trimScheduled) return;
    this.#trimScheduled = true;
    void this.#writes.afterCommit().finally(() => {
      this.#trimScheduled = false;
      this.#unload();
    });
  }

  #startSweeper(): NodeJS.Timeout {
    return startSweeper({
      idleMs: this.#opts.idleMs,
      parkMs: this.#parkMs,
      entries: this.#entries,
      unloadable: (entry) => this.#unloadable(entry),
      evict: (id, entry) => this.#evict(id, entry),
      parking: this.#parking,
      stopped: () => (this.#sweeper = null),
    });
  }

  #evict(lifecycleId: string, entry: Entry): void {
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
}

/** A stored row's snapshot, as an actor restored from it would start (not started: no step runs). */
function storedSnapshot(machine: PrefixLifecycleMachine, id: string, row: LifecycleRow | null | undefined): LifecycleSnapshot {
  if (!row) throw new Error(`lifecycle ${id} vanished`);
  return createActor(machine, { snapshot: persistedSnapshot(row) } as unknown as { input: LifecycleInput }).getSnapshot();
}
