// The actor host: one XState actor per lifecycle, and the API the lifecycle service drives it by.
// It wires its parts, each the one owner of its state:
//   live-actors.ts       the actors in memory: hydrated on demand, unloaded when idle, revoked or past the cap
//   host-writes.ts       every snapshot into the group commit, allocations made at once, why the store refuses writes
//   settling.ts          a wait until an actor settles, and the end of every wait at shutdown
//   subscriber-queue.ts  one subscriber's work at a time, and with several instances its lease
//   parking.ts           actors stopped while their step's call goes on (flights.ts), and the waits that follow them
//   resume.ts            the lifecycles in flight at the last stop, hydrated again at start-up
import { createActor, type InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import type { LifecycleEvent, LifecycleInput } from '../machines/types.ts';
import type { AuditEntry, LifecycleRow, LifecycleStore } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { AllocateNow, AtOnce } from './at-once.ts';
import type { Flights } from './flights.ts';
import { HostWrites, unavailable } from './host-writes.ts';
import { LiveActors, type Entry } from './live-actors.ts';
import type { Ownership } from './ownership.ts';
import { PARKED, Parking } from './parking.ts';
import { persistedSnapshot, type LifecycleSnapshot } from './projection.ts';
import { RESUME_BATCH, resumeInFlight } from './resume.ts';
import { Settling, UNTIL_SETTLED_MS, type Settled } from './settling.ts';
import { SubscriberQueues, type Heard } from './subscriber-queue.ts';

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

/**
 * Hosts one actor per lifecycle: hydrates on demand, persists every snapshot before the next outside
 * call can have effects, serializes work per subscriber, evicts idle actors, resumes in-flight ones.
 */
export class ActorHost {
  readonly #opts: ActorHostOptions;
  /** The actors in memory, one per lifecycle, and when each comes and goes (runtime/live-actors.ts). */
  readonly #actors: LiveActors;
  /** One subscriber's work at a time, and with several instances its lease (runtime/subscriber-queue.ts). */
  readonly #queues: SubscriberQueues<Entry>;
  /** The group commit and why the store takes no writes now (runtime/host-writes.ts). */
  readonly #writes: HostWrites<Entry>;
  /** The waits until settled, and their end at shutdown (`release()`, runtime/settling.ts). */
  readonly #settling: Settling;
  /** Set by `stopAll()`: a background resume still running hydrates nothing more. */
  #stopped = false;
  /** Stops actors whose step waits on its peer and keeps their calls going; null when actors are never parked. */
  readonly #parking: Parking<Settled> | null;

  constructor(opts: ActorHostOptions) {
    this.#opts = opts;
    const flights = opts.flights && !opts.ownership && !opts.inspect ? opts.flights : null;
    this.#parking = flights ? this.#startParking(flights) : null;
    this.#actors = new LiveActors({
      store: opts.store,
      machine: opts.machine,
      log: opts.log,
      inspect: opts.inspect,
      persist: (entry, event, snapshot) => this.#writes.persist(entry, event, snapshot),
      stopped: () => this.#stopped,
      idleMs: opts.idleMs,
      parkMs: flights ? (opts.parkMs ?? opts.idleMs) : Number.POSITIVE_INFINITY,
      maxLive: opts.maxLive ?? Number.POSITIVE_INFINITY,
      parking: this.#parking,
      queued: (subscriberId) => this.#queues.has(subscriberId),
      afterCommit: () => this.#writes.afterCommit(),
    });
    this.#writes = new HostWrites<Entry>({ ...opts, evict: (id, entry) => this.#actors.evict(id, entry) });
    this.#settling = new Settling(this.#writes, () => this.#stopped);
    this.#queues = new SubscriberQueues<Entry>({
      ownership: opts.ownership ?? null,
      lifecyclesOf: (subscriberId) => this.#actors.lifecyclesOf(subscriberId),
      entry: (id) => this.#actors.get(id),
      evict: (id, entry) => this.#actors.evict(id, entry),
      settle: (id, waitMs) => this.settle(id, waitMs),
      idle: () => this.#actors.unload(),
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
   * `gone()` true ends a lease wait (`fn` never runs): the operation's answer refused it meanwhile.
   */
  exclusive<T>(subscriberId: string, fn: () => Promise<T>, heard?: Heard<T>, gone?: () => boolean): Promise<T> {
    return this.#queues.exclusive(subscriberId, fn, heard, gone);
  }

  /** Starts a new lifecycle; its first snapshot is stored before allocation begins. */
  create(input: LifecycleInput): LifecycleSnapshot {
    return this.#actors.create(input).actor.getSnapshot();
  }

  /** The running actor's snapshot, hydrating it from the store if needed; null for an unknown id. */
  async snapshot(lifecycleId: string): Promise<LifecycleSnapshot | null> {
    return (await this.#actors.open(lifecycleId))?.actor.getSnapshot() ?? null;
  }

  /** Sends an event to the lifecycle's actor. */
  async send(lifecycleId: string, event: LifecycleEvent): Promise<LifecycleSnapshot> {
    const entry = await this.#actors.open(lifecycleId);
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
    const entry = await this.#actors.open(lifecycleId);
    if (!entry) throw new Error(`unknown lifecycle ${lifecycleId}`);
    return this.#settling.settle(entry, waitMs, follow);
  }

  /** Resumes every lifecycle that had a step in flight (runtime/resume.ts); resolves with how many. */
  resumeInFlight(batch = RESUME_BATCH): Promise<number> {
    const { store, log } = this.#opts;
    const host = { store, log, present: (id: string) => this.#actors.has(id), hydrate: (row: LifecycleRow) => void this.#actors.hydrate(row), stopped: () => this.#stopped };
    return resumeInFlight(host, batch);
  }

  /**
   * The lifecycle's newest row when it is in memory and on disk (nothing of it queued), else null:
   * an answer built after `settle()` need not read back what the host has just written.
   */
  storedRow(lifecycleId: string): LifecycleRow | null {
    const entry = this.#actors.get(lifecycleId);
    return entry && !entry.stopping && entry.saving === 0 && !entry.writeFailed ? entry.row : null;
  }

  /** How many actors are in memory. */
  get size(): number {
    return this.#actors.size;
  }

  /** Stops the subscriber's actors at once (its lease was lost: another instance owns its work now). */
  abandon(subscriberId: string): void {
    this.#actors.evictSubscriber(subscriberId);
  }

  /** Resolves once no write of the group commit is in flight (an asynchronous store, before it closes). */
  drain(): Promise<void> {
    return this.#writes.drain();
  }

  /** Stops every actor without persisting anything further; in-flight steps resume at the next start. */
  stopAll(): void {
    this.#stopped = true;
    this.#writes.stop();
    this.#actors.stop();
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
      evict: (id, entry) => this.#actors.evict(id, entry as Entry),
      openForLanding: (id) => this.#actors.open(id, true),
      present: (id) => this.#actors.present(id),
      settleOnce: (id) => this.#openAndSettle(id, UNTIL_SETTLED_MS, true),
      ended: (id) => store.get(id).then((row) => ({ snapshot: storedSnapshot(machine, id, row), settled: false })),
      stopped: () => this.#stopped,
      unreadable: unavailable,
    });
  }

  /**
   * Resolves once the group commit of this turn is on disk, with every snapshot taken before the turn
   * ends; rejects if writing it failed. A step awaits it before its first outside call.
   */
  afterCommit(): Promise<void> {
    return this.#writes.afterCommit();
  }
}

/** A stored row's snapshot, as an actor restored from it would start (not started: no step runs). */
function storedSnapshot(machine: PrefixLifecycleMachine, id: string, row: LifecycleRow | null | undefined): LifecycleSnapshot {
  if (!row) throw new Error(`lifecycle ${id} vanished`);
  return createActor(machine, { snapshot: persistedSnapshot(row) } as unknown as { input: LifecycleInput }).getSnapshot();
}
