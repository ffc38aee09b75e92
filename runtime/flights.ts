// Steps that outlive their actor. A lifecycle whose step waits on a slow peer (a CPE the ACS takes
// minutes to reach, a NAS that does not answer) need not keep its XState actors in memory meanwhile:
// its snapshot is on disk, and the only thing still running is the step's call. The host "parks"
// such a lifecycle: it stops the actor and keeps the call going here, keyed by the lifecycle, the
// invocation and its input. When the call ends, the host hydrates the lifecycle again; XState starts
// the stored invocation once more (as at every restore), and the step finds its outcome here instead
// of calling the peer a second time. A parked lifecycle costs its call's promises, not two actors.
//
// The promise handed to an actor is its own (`Joined`), never the call's: XState keeps its actor
// reachable from whatever promise it waits on, and a parked actor must be collectable.

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Joined {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Where a call's outcome goes: the call hands it straight to its flight (no promise of its own to wait on). */
export interface Landing<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** One call under way (or ended while parked): it is its own landing. */
class Flight implements Landing<unknown> {
  readonly controller = new AbortController();
  /** The actor waiting for it; null while parked (nobody waits: the host hydrates on landing). */
  joined: Joined | null = null;
  parked = false;
  /** Ended while parked: what the next actor to join it gets at once. */
  landed: Outcome | null = null;

  constructor(
    readonly flights: Flights,
    readonly lifecycleId: string,
    readonly key: string,
  ) {}

  resolve(value: unknown): void {
    this.flights.land(this, { ok: true, value });
  }

  reject(error: unknown): void {
    this.flights.land(this, { ok: false, error });
  }
}

export class Flights {
  readonly #byLifecycle = new Map<string, Flight[]>();
  /** Told when a parked lifecycle's call ends: the host hydrates it to take the outcome. */
  onLanded: (lifecycleId: string) => void = () => undefined;

  /**
   * Runs `start` for the actor whose abort signal is `actorSignal`, or joins the call already under
   * way (or ended while parked) for the same lifecycle and key. The actor's stop aborts the call,
   * unless the host parked the lifecycle first.
   */
  run<T>(lifecycleId: string, key: string, actorSignal: AbortSignal, start: (signal: AbortSignal, land: Landing<T>) => void): Promise<T> {
    const list = this.#byLifecycle.get(lifecycleId);
    let flight = list?.find((f) => f.key === key);
    if (flight?.landed) {
      this.#remove(lifecycleId, flight);
      const { landed } = flight;
      return (landed.ok ? Promise.resolve(landed.value) : Promise.reject(landed.error)) as Promise<T>;
    }
    const fresh = !flight;
    if (!flight) {
      flight = new Flight(this, lifecycleId, key);
      if (list) list.push(flight);
      else this.#byLifecycle.set(lifecycleId, [flight]);
    }
    const f = flight;
    f.parked = false;
    const answer = new Promise<T>((resolve, reject) => {
      f.joined = { resolve: resolve as (v: unknown) => void, reject };
    });
    // Joined before it starts: a call that lands at once (a skipped step) is answered, not taken for parked.
    if (fresh) {
      try {
        start(f.controller.signal, f as Landing<T>);
      } catch (err) {
        f.reject(err);
      }
    }
    onAbort(actorSignal, () => {
      // Parked: the call goes on without its actor. Otherwise the machine left the step (or the
      // host stopped the actor for good): the call is given up, as the step's own signal says.
      if (f.parked || !this.#has(lifecycleId, f)) return;
      this.#remove(lifecycleId, f);
      f.controller.abort();
    });
    return answer;
  }

  /** Detaches the lifecycle's calls from its actor, which the host stops next; false when it has none. */
  park(lifecycleId: string): boolean {
    const list = this.#byLifecycle.get(lifecycleId);
    if (!list?.some((f) => !f.landed)) return false;
    for (const f of list) {
      f.parked = true;
      f.joined = null;
    }
    return true;
  }

  /** Whether the lifecycle has a call under way. */
  holds(lifecycleId: string): boolean {
    return this.#byLifecycle.get(lifecycleId)?.some((f) => !f.landed) ?? false;
  }

  /** Drops outcomes that landed for the lifecycle and that no actor took (its snapshot moved on); how many. */
  dropLanded(lifecycleId: string): number {
    const list = this.#byLifecycle.get(lifecycleId);
    let dropped = 0;
    for (const f of [...(list ?? [])]) {
      if (!f.landed) continue;
      this.#remove(lifecycleId, f);
      dropped++;
    }
    return dropped;
  }

  /** How many lifecycles have a call under way with no actor in memory. */
  get parked(): number {
    let n = 0;
    for (const list of this.#byLifecycle.values()) if (list.some((f) => f.parked && !f.landed)) n++;
    return n;
  }

  /** At shutdown: every call is given up; the stored snapshots start them again at the next start. */
  abortAll(): void {
    for (const list of this.#byLifecycle.values()) for (const f of list) f.controller.abort(new Error('stopped'));
    this.#byLifecycle.clear();
  }

  /** A call ended (its `Flight` says so): its actor hears it, or, parked, it is kept and the host told. */
  land(f: Flight, outcome: Outcome): void {
    const { lifecycleId } = f;
    if (!this.#has(lifecycleId, f)) return;
    if (f.joined) {
      this.#remove(lifecycleId, f);
      if (outcome.ok) f.joined.resolve(outcome.value);
      else f.joined.reject(outcome.error);
      return;
    }
    // Parked: kept for the actor the host hydrates now.
    f.landed = outcome;
    this.onLanded(lifecycleId);
  }

  #has(lifecycleId: string, f: Flight): boolean {
    return this.#byLifecycle.get(lifecycleId)?.includes(f) ?? false;
  }

  #remove(lifecycleId: string, f: Flight): void {
    const list = this.#byLifecycle.get(lifecycleId);
    if (!list) return;
    const i = list.indexOf(f);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byLifecycle.delete(lifecycleId);
  }
}

/**
 * Calls `fn` when `signal` aborts. Apart from `run()`, so that no closure the call's promises keep
 * holds the actor's signal: its abort reason's stack trace reaches the actor.
 */
function onAbort(signal: AbortSignal, fn: () => void): void {
  signal.addEventListener('abort', fn, { once: true });
}
