// The writes that end a request's hold on its Idempotency-Key: its final answer, or forgetting the
// key after a 5xx. One the store refuses (PostgreSQL down at that moment) is tried again until it
// lands: a key left pending by a live instance that no longer runs it is followed by every other
// instance's replay, which waits for an answer that never comes (task hang7: a keyed allocate that
// answered 503 as the postmaster was SIGKILLed, then could not forget its key).
import type { Logger } from 'pino';
import type { Acceptance } from '../store/idempotency.ts';
import type { IdempotencyPort } from '../store/port.ts';

/**
 * The write that ends `owner`'s hold on `key` once its request answered `status` (`body`, as JSON):
 * that answer below 500. After a 5xx the key is forgotten, so that a retry runs it afresh; with
 * several instances (`owner`), unless the operation was accepted: then it is given up with where
 * that was (`release`), and the instance a retry reaches runs it again from there, so that an
 * event already on disk is not sent twice (an allocate answered 503 as the database went away
 * still answers its 201, not a second run's 200). On one node a key is forgotten as before.
 */
export function endingWrite(store: IdempotencyPort, key: string, owner: string | undefined, status: number, body: string | undefined, accepted: Acceptance | null): () => Promise<void> {
  if (status < 500 && body !== undefined) return () => store.finish(key, status, body, owner);
  if (accepted && owner) return () => store.release(key, accepted, owner);
  return () => store.forget(key, owner);
}

/** A write still due for one key. */
interface Due {
  write: () => Promise<unknown>;
  attempt: number;
  /** When it first failed: it is given up `giveUpMs` later (the key has been pruned by then). */
  since: number;
  timer: NodeJS.Timeout | null;
  /** The attempt in flight, if one is. */
  running: Promise<void> | null;
  log: Logger | undefined;
}

export interface KeyWritesOptions {
  /** How long a write is tried again: the key's time to live (`api.idempotency_ttl_s`), past which it is pruned anyway. */
  giveUpMs: number;
  /** The wait before attempt `n` (2, 3, …); 250 ms doubling up to 1 s by default (one query a second per key while the store is down). */
  retryMs?: (attempt: number) => number;
}

const defaultRetryMs = (attempt: number) => Math.min(250 * 2 ** (attempt - 2), 1000);

export class KeyWrites {
  readonly #due = new Map<string, Due>();
  readonly #opts: KeyWritesOptions;

  constructor(opts: KeyWritesOptions) {
    this.#opts = opts;
  }

  /** How many keys have a write still due. */
  get size(): number {
    return this.#due.size;
  }

  /** Runs `write` for `key` now; if the store refuses it, keeps it and tries again later. Never rejects. */
  async write(key: string, write: () => Promise<unknown>, log: Logger | undefined): Promise<void> {
    this.#cancel(key);
    const due: Due = { write, attempt: 1, since: Date.now(), timer: null, running: null, log };
    this.#due.set(key, due);
    await this.#attempt(key, due).catch(() => undefined);
  }

  /**
   * The key's write still due, tried now: a request for the key on this instance starts once it
   * has landed, so that it reads the key as it was left. Rejects when the store refuses it again.
   */
  async flush(key: string): Promise<void> {
    const due = this.#due.get(key);
    if (!due) return;
    if (due.running) return due.running;
    if (due.timer) clearTimeout(due.timer);
    due.timer = null;
    return this.#attempt(key, due);
  }

  #attempt(key: string, due: Due): Promise<void> {
    const run = (async () => {
      try {
        await due.write();
        if (this.#due.get(key) === due) this.#due.delete(key);
        if (due.attempt > 1) due.log?.info({ idempotency_key: key, attempts: due.attempt }, 'the Idempotency-Key\'s outcome is stored now');
      } catch (err) {
        if (due.attempt === 1) due.log?.warn({ err: String(err), idempotency_key: key }, 'could not store the outcome of a keyed request; trying again until the store takes it');
        due.attempt++;
        if (Date.now() - due.since >= this.#opts.giveUpMs) {
          due.log?.error({ err: String(err), idempotency_key: key }, 'gave up storing the outcome of a keyed request; the key has expired');
          if (this.#due.get(key) === due) this.#due.delete(key);
        } else if (this.#due.get(key) === due) {
          due.timer = setTimeout(() => {
            due.timer = null;
            void this.#attempt(key, due).catch(() => undefined);
          }, (this.#opts.retryMs ?? defaultRetryMs)(due.attempt));
          due.timer.unref();
        }
        throw err;
      } finally {
        due.running = null;
      }
    })();
    due.running = run;
    return run;
  }

  /** A newer write for the key replaces the one still due (its timer stops; an attempt in flight ends as it does). */
  #cancel(key: string): void {
    const old = this.#due.get(key);
    if (old?.timer) clearTimeout(old.timer);
    this.#due.delete(key);
  }
}
