// Group commit: everything queued in one turn of the event loop goes to disk in one transaction, at
// the end of that turn. `afterCommit()` is the barrier a step waits on before it touches the outside.

/** Where a batch goes, and who hears how it went. */
export interface GroupCommitOptions<T> {
  /** Writes the whole batch in one transaction, or throws having written none of it. */
  write(batch: readonly T[]): void;
  /** The batch is on disk (called before the barrier's waiters resume). */
  committed?(batch: readonly T[]): void;
  /** The batch is not on disk (called before the barrier's waiters are rejected). */
  failed?(batch: readonly T[], err: Error): void;
  /** When the flush runs; `setImmediate` puts it after the current turn's synchronous work and microtasks. */
  schedule?(flush: () => void): void;
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

  /** Writes what is queued now, instead of at the end of the turn (at shutdown). */
  flush(): void {
    const turn = this.#next;
    this.#next = null;
    const batch = this.#queue;
    this.#queue = [];
    let failure: Error | null = null;
    try {
      if (batch.length === 0) return;
      try {
        this.#o.write(batch);
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
      }
      if (failure) this.#o.failed?.(batch, failure);
      else this.#o.committed?.(batch);
    } finally {
      // Even when a listener throws, the waiters hear how the write went.
      if (failure) turn?.reject(failure);
      else turn?.resolve();
    }
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
    this.#schedule(() => this.#next === turn && this.flush());
    return turn;
  }
}
