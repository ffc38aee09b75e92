// Group commit: everything queued in one turn of the event loop goes to disk in one transaction, at
// the end of that turn. `afterCommit()` is the barrier a step waits on before it touches the outside.
// A write refused because another connection holds the lock is not a failure: the batch stays queued
// and is tried again after a timer, so the event loop is never held by SQLite's busy wait, and the
// steps waiting on `afterCommit()` simply wait longer. A write may be asynchronous (PostgreSQL): one
// is in flight at a time, and what is queued meanwhile is the next batch, written when it ends.

/** Where a batch goes, and who hears how it went. */
export interface GroupCommitOptions<T> {
  /** Writes the whole batch in one transaction, or throws (rejects) having written none of it. */
  write(batch: readonly T[]): void | Promise<void>;
  /** The batch is on disk (called before the barrier's waiters resume). */
  committed?(batch: readonly T[]): void;
  /** The batch is not on disk (called before the barrier's waiters are rejected). */
  failed?(batch: readonly T[], err: Error): void;
  /** When the flush runs; `setImmediate` puts it after the current turn's synchronous work and microtasks. */
  schedule?(flush: () => void): void;
  /** True for an error worth retrying as it is (a lock held elsewhere): the batch waits, nobody is rejected. */
  transient?(err: Error): boolean;
  /** The wait before retry `attempt` (1, 2, …) of a batch a transient error held back. */
  retryDelayMs?(attempt: number): number;
  /** A transient error held the batch back (called on every attempt). */
  blocked?(err: Error, attempt: number): void;
}

interface Turn {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

/** Batches items per event-loop turn into one write; see `afterCommit()`. */
export class GroupCommit<T> {
  readonly #o: GroupCommitOptions<T>;
  readonly #schedule: (flush: () => void) => void;
  #queue: T[] = [];
  /** The flush that has been scheduled and not yet run: what `enqueue` and `afterCommit` join. */
  #next: Turn | null = null;
  /** Turns whose batch a transient error held back: settled by the flush that writes it. */
  #held: Turn[] = [];
  #retry: { timer: NodeJS.Timeout; attempt: number } | null = null;
  #attempt = 0;
  /** An asynchronous write in flight: the next flush waits for it. */
  #writing: Promise<void> | null = null;

  constructor(opts: GroupCommitOptions<T>) {
    this.#o = opts;
    this.#schedule = opts.schedule ?? ((flush) => setImmediate(flush));
  }

  /** Queues an item for the flush at the end of this turn. */
  enqueue(item: T): void {
    this.#queue.push(item);
    this.#join();
  }

  /**
   * Resolves once the next flush has written successfully; rejects with its error if it failed.
   * That flush runs at the end of the current turn, so whatever is enqueued before then (however
   * the caller and the enqueuer are ordered within the turn) is part of it.
   */
  afterCommit(): Promise<void> {
    return this.#join().promise;
  }

  /** Items waiting for the next flush. */
  get pending(): number {
    return this.#queue.length;
  }

  /** True while a batch waits for a lock held elsewhere. */
  get blocked(): boolean {
    return this.#retry !== null;
  }

  /** Writes what is queued now, instead of at the end of the turn (at shutdown); after the write in flight, if one is. */
  flush(): void {
    if (this.#writing) return;
    if (this.#retry) clearTimeout(this.#retry.timer);
    this.#retry = null;
    const turns = [...this.#held, ...(this.#next ? [this.#next] : [])];
    this.#held = [];
    this.#next = null;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return this.#settle(batch, turns, null);
    let written: void | Promise<void>;
    try {
      written = this.#o.write(batch);
    } catch (err) {
      return this.#settle(batch, turns, asError(err));
    }
    if (!(written instanceof Promise)) return this.#settle(batch, turns, null);
    this.#writing = written.then(
      () => this.#settle(batch, turns, null),
      (err: unknown) => this.#settle(batch, turns, asError(err)),
    );
    void this.#writing.finally(() => {
      this.#writing = null;
      // What was queued while it ran is the next batch, written now (its own turn's flush found this one in flight).
      if (this.#next && !this.#retry) this.flush();
    });
  }

  /** Resolves once no write is in flight (at shutdown, before the connections close). */
  async drain(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Tells how a batch went: a transient failure holds it back for a retry; otherwise its waiters hear. */
  #settle(batch: T[], turns: Turn[], failure: Error | null): void {
    try {
      if (batch.length === 0) return;
      if (failure && this.#o.transient?.(failure)) {
        // Put back in front of anything queued meanwhile, so the order on disk stays the order of events.
        this.#queue = [...batch, ...this.#queue];
        this.#held = turns;
        const attempt = ++this.#attempt;
        const delay = this.#o.retryDelayMs?.(attempt) ?? Math.min(10 * 2 ** (attempt - 1), 1000);
        this.#retry = { timer: setTimeout(() => this.flush(), delay), attempt };
        this.#o.blocked?.(failure, attempt);
        return;
      }
      this.#attempt = 0;
      if (failure) this.#o.failed?.(batch, failure);
      else this.#o.committed?.(batch);
    } finally {
      // Even when a listener throws, the waiters hear how the write went; held ones wait for the retry.
      if (this.#held !== turns) for (const turn of turns) failure ? turn.reject(failure) : turn.resolve();
    }
  }

  /** Gives up a batch still held back (at shutdown): its waiters are rejected, nothing more is written. */
  abandon(err: Error): void {
    if (this.#retry) clearTimeout(this.#retry.timer);
    this.#retry = null;
    const turns = [...this.#held, ...(this.#next ? [this.#next] : [])];
    this.#held = [];
    this.#next = null;
    this.#queue = [];
    for (const turn of turns) turn.reject(err);
  }

  #join(): Turn {
    if (this.#next) return this.#next;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be waiting on this turn (only enqueues joined it): its failure is reported through `failed`.
    promise.catch(() => undefined);
    const turn: Turn = { promise, resolve, reject };
    this.#next = turn;
    // A flush run early (`flush()` at shutdown) has settled this turn; its own callback then has nothing to do.
    // While a batch is held back, the retry timer writes this turn too.
    this.#schedule(() => this.#next === turn && !this.#retry && this.flush());
    return turn;
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
