// The actor host's writes. The snapshots of every lifecycle that moved in one turn of the event loop
// go to disk in one transaction (runtime/group-commit.ts), and so do the allocations made at once
// (`createAtOnce`: the embedded IPAM's allocation shares that transaction). A step touches the
// outside only after `afterCommit()`: its start is on disk. This owns the group commit and why the
// store takes no writes now (a lock held past `storeBusyMs`, a failed write), and tells the waits
// on it when the store stays locked.
import type { Logger } from 'pino';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import type { LifecycleInput } from '../machines/types.ts';
import { ServiceError } from '../services/errors.ts';
import { isStoreBusy } from '../store/db.ts';
import type { AuditEntry, LifecycleRow, LifecycleStore, SaveItem } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { TransitionRecord } from './actor-host.ts';
import type { AuditDetail, AuditFrom } from './audit.ts';
import type { AllocationTemplate } from './allocation-template.ts';
import { allocateAtOnce, checkedTemplate, transitionOf, type AllocateNow, type AtOnce } from './at-once.ts';
import { GroupCommit } from './group-commit.ts';
import { currentLogScope, withLogScope, type LogScope } from './log-context.ts';
import type { Ownership } from './ownership.ts';
import type { LifecycleSnapshot } from './projection.ts';

/** What the writes read and set of a host's entry. */
export interface WrittenEntry {
  actor: { getPersistedSnapshot(): unknown };
  subscriberId: string;
  /** The newest row written for it (or queued to be, within this event-loop turn). */
  row: LifecycleRow | null;
  /** State path and context of `row`: what the next audit entry left. */
  from: AuditFrom | null;
  stopping: boolean;
  /** Snapshots queued for the group commit and not yet on disk: until then the store holds an older one. */
  saving: number;
  /** Its last snapshot could not be stored: the actor was stopped, the request hears 503. */
  writeFailed: Error | null;
}

/** One persisted transition waiting for the group commit. */
type Saved<E> = SaveItem & { entry: E; previous: LifecycleRow | null; detail: AuditDetail; scope: LogScope | undefined; lost?: boolean };
/** A lifecycle created and allocated inside the group commit's transaction (`createAtOnce`): `made` is what the write made. */
type Job = { input: LifecycleInput; made: AtOnce | null; scope: LogScope | undefined };
type Queued<E> = Saved<E> | Job;
const isJob = <E>(q: Queued<E>): q is Job => 'input' in q;

/** What the writes take of the host's options (ActorHostOptions says what each is), and its eviction. */
export interface HostWritesOptions<E> {
  store: LifecyclePort;
  sqlite?: LifecycleStore | undefined;
  ownership?: Ownership | undefined;
  machine: PrefixLifecycleMachine;
  log: Logger;
  storeBusyMs?: number | undefined;
  allocateNow?: AllocateNow | null | undefined;
  onTransition?: ((t: TransitionRecord) => void) | undefined;
  /** Stops the actor without storing anything further (LiveActors' `evict`). */
  evict(lifecycleId: string, entry: E): void;
}

/** A write refused by fencing: another instance owns the subscriber now (its lease was lost). */
const leaseLost = (subscriberId: string) =>
  new ServiceError('unavailable', `another instance took over subscriber ${subscriberId} (this one lost its lease); try again`, { retryable: true, retryAfterMs: 1000 });

export class HostWrites<E extends WrittenEntry> {
  readonly #opts: HostWritesOptions<E>;
  readonly #commits: GroupCommit<Queued<E>>;
  /** Why the store does not take writes now (a lock past `storeBusyMs`, a failed write); null when it does. */
  #storeProblem: string | null = null;
  #busyTimer: NodeJS.Timeout | null = null;
  /** Requests waiting for the group commit: told at once when the store stays locked. */
  readonly #commitWaiters = new Set<() => void>();

  constructor(opts: HostWritesOptions<E>) {
    this.#opts = opts;
    const busyMs = opts.storeBusyMs ?? 1000;
    this.#commits = new GroupCommit<Queued<E>>({
      write: (batch) => this.#write(batch),
      transient: isStoreBusy,
      retryDelayMs: (attempt) => Math.min(10 * 2 ** (attempt - 1), 250),
      blocked: (err, attempt) => {
        if (attempt !== 1) return;
        opts.log.warn({ err: err.message }, 'the database is locked by another connection; retrying the write');
        this.#busyTimer = setTimeout(() => {
          if (!this.#commits.blocked) return;
          this.#storeProblem = `the database is locked by another connection (${err.message})`;
          opts.log.error({ after_ms: busyMs }, 'the database stays locked; requests answer 503 until it is free');
          for (const tell of [...this.#commitWaiters]) tell();
        }, busyMs);
        this.#busyTimer.unref();
      },
      committed: (batch) => {
        if (this.#busyTimer) clearTimeout(this.#busyTimer);
        this.#busyTimer = null;
        if (this.#storeProblem) opts.log.info('the database takes writes again');
        this.#storeProblem = null;
        for (const q of batch) if (!isJob(q)) q.entry.saving--;
        for (const q of batch) {
          if (!isJob(q) && q.lost) {
            // Fenced out: nothing of it was written, and the new owner's snapshots are the truth now.
            if (!q.entry.stopping) {
              opts.log.warn({ subscriber_id: q.entry.subscriberId, lifecycle_id: q.row.id }, 'lease lost to another instance: snapshot not written; actor stopped');
              q.entry.writeFailed = leaseLost(q.entry.subscriberId);
              opts.evict(q.row.id, q.entry);
            }
            continue;
          }
          if (!isJob(q)) {
            this.#committed(q, q.scope);
            continue;
          }
          if (!q.made) continue;
          q.made.report();
          for (const t of q.made.transitions) this.#committed(t, q.scope);
        }
      },
      failed: (batch, err) => {
        this.#storeProblem = `writes to the database fail (${err.message})`;
        for (const q of batch) if (!isJob(q)) q.entry.saving--;
        // Never run a step whose start is not on disk: stop them, and let the next hydration take the last stored snapshot.
        for (const q of batch) {
          if (isJob(q)) continue;
          const { entry, row } = q;
          if (entry.stopping) continue;
          opts.log.error({ subscriber_id: entry.subscriberId, lifecycle_id: row.id, err: String(err) }, 'could not persist a lifecycle snapshot; actor stopped');
          entry.writeFailed = err;
          opts.evict(row.id, entry);
        }
      },
    });
  }

  /** A snapshot the entry's actor reported: its transition goes into this turn's group commit. */
  persist(entry: E, event: { type: string }, snapshot: LifecycleSnapshot): void {
    if (entry.stopping || snapshot.status === 'error') return;
    // A restored actor re-announces the stored snapshot: nothing new to write.
    if (event.type === 'xstate.init' && entry.row) return;
    const previous = entry.row;
    const t = transitionOf(previous, entry.from, event, snapshot, entry.actor.getPersistedSnapshot(), new Date().toISOString());
    if (!t) return;
    entry.row = t.row;
    entry.from = t.from;
    entry.saving++;
    this.#commits.enqueue({ entry, row: t.row, audit: t.audit, previous, detail: t.detail, scope: currentLogScope() });
  }

  /** ActorHost's `createAtOnce()` (it says what it answers). */
  async createAtOnce(input: LifecycleInput): Promise<{ snapshot: AtOnce['snapshot']; row: LifecycleRow } | null> {
    if (!this.#opts.allocateNow || !this.#opts.sqlite || this.#storeProblem) return null;
    const job: Job = { input, made: null, scope: currentLogScope() };
    this.#commits.enqueue(job);
    await this.stored();
    const made = job.made as AtOnce | null;
    return made ? { snapshot: made.snapshot, row: made.transitions[1].row } : null;
  }

  /** The at-once template of the machine (runtime/allocation-template.ts), checked on the first allocation made at once; null: XState computes them. */
  #atOnceTemplate: AllocationTemplate | null | undefined;
  #allocationTemplate(): AllocationTemplate | null {
    if (this.#atOnceTemplate !== undefined) return this.#atOnceTemplate;
    const { template, mismatch } = checkedTemplate(this.#opts.machine);
    if (mismatch) this.#opts.log.warn({ mismatch }, 'the precomputed allocation differs from the machine\'s own; allocations made at once go through XState');
    return (this.#atOnceTemplate = template);
  }

  /** The group commit's write: every snapshot and job of the batch in one transaction. */
  #write(batch: readonly Queued<E>[]): void | Promise<void> {
    const { sqlite, machine, allocateNow, log, ownership } = this.#opts;
    if (!batch.some(isJob)) {
      const saves = batch as Saved<E>[];
      if (sqlite) return sqlite.saveBatch(saves);
      if (!ownership) return this.#opts.store.saveBatch(saves);
      return ownership.save(saves).then((lost) => {
        for (const q of saves) if (lost.has(q.row.subscriber_id)) q.lost = true;
      });
    }
    // Jobs are queued only with `sqlite` (`createAtOnce`): one synchronous transaction.
    const store = sqlite!;
    const template = this.#allocationTemplate();
    store.transaction(() => {
      const saves = batch.filter((q): q is Saved<E> => !isJob(q));
      // Not saveBatch(): its savepoint around every snapshot of the batch costs quadratically with the
      // journal in memory (15,000 took 3.8 s); the transaction is all or none without it.
      if (saves.length) store.writeBatch(saves);
      for (const job of batch) {
        if (!isJob(job)) continue;
        job.made = null;
        try {
          // Its own savepoint, the only one: an allocation that throws (or a write after it) leaves
          // nothing of this lifecycle. The IPAM's and the store's writes inside it take none of their own.
          job.made = store.transaction(() => {
            const made = allocateAtOnce(machine, job.input, allocateNow!, { template });
            // One write of the row, the settled one: the created snapshot is only ever seen in the audit trail.
            const [created, allocated] = made?.transitions ?? [];
            if (created && allocated) store.writeBatch([{ row: allocated.row, audit: created.audit, detail: created.detail }, { row: allocated.row, audit: allocated.audit, rowStored: true, detail: allocated.detail }]);
            return made;
          });
        } catch (err) {
          // The ordinary step makes it again, with its retries, its refusals and its log lines.
          if (isStoreBusy(err)) throw err;
          log.debug({ lifecycle_id: job.input.lifecycleId, err: String(err) }, 'allocation not made at once; running the step');
        }
      }
    });
  }

  /** A transition is on disk: its log line and its metrics. */
  #committed(t: { row: LifecycleRow; audit: AuditEntry; detail: AuditDetail; previous: LifecycleRow | null }, scope: LogScope | undefined): void {
    const { row, audit, detail, previous } = t;
    // Logged under the scope of what caused it (its request), not of whatever flushed the batch.
    withLogScope({ ...scope, lifecycle_id: row.id, subscriber_id: row.subscriber_id }, () =>
      // The root logger: the scope names the lifecycle (no child logger is kept per actor).
      this.#opts.log.info({ event: audit.type, from: audit.from_state, to: detail.state, detail }, 'lifecycle event'),
    );
    this.#opts.onTransition?.({ row, audit, previous });
  }

  /** Why the store takes no writes now, or null. */
  get storeProblem(): string | null {
    return this.#storeProblem;
  }

  /** A write outside the group commit (the readiness probe) went through: the store is fine again. */
  storeRecovered(): void {
    if (!this.#commits.blocked) this.#storeProblem = null;
  }

  /** The store takes no writes and a batch waits for its lock: a wait on the store ends now. */
  get locked(): boolean {
    return Boolean(this.#storeProblem) && this.#commits.blocked;
  }

  /** `tell` is called when the store stays locked past `storeBusyMs` (until `unlisten(tell)`). */
  listen(tell: () => void): void {
    this.#commitWaiters.add(tell);
  }

  unlisten(tell: () => void): void {
    this.#commitWaiters.delete(tell);
  }

  /** ActorHost's `afterCommit()`. */
  afterCommit(): Promise<void> {
    return this.#commits.afterCommit();
  }

  /**
   * Resolves when this turn's group commit is on disk. Rejects with 503 `unavailable` when it failed,
   * or when another connection's lock holds it back past `storeBusyMs` (the write still happens later).
   */
  stored(): Promise<void> {
    return new Promise((resolve, reject) => {
      const locked = () => {
        this.#commitWaiters.delete(locked);
        reject(unavailable(this.#storeProblem ?? 'the database is locked by another connection'));
      };
      this.#commitWaiters.add(locked);
      this.#commits.afterCommit().then(
        () => {
          this.#commitWaiters.delete(locked);
          resolve();
        },
        (err: Error) => {
          this.#commitWaiters.delete(locked);
          reject(unavailable(`the lifecycle could not be stored: ${err.message}`));
        },
      );
      if (this.#storeProblem && this.#commits.blocked) locked();
    });
  }

  /** Resolves once no write of the group commit is in flight (an asynchronous store, before it closes). */
  drain(): Promise<void> {
    return this.#commits.drain();
  }

  /** At `stopAll()`: writes what is queued now; what a lock still holds back is given up (its steps never started). */
  stop(): void {
    if (this.#busyTimer) clearTimeout(this.#busyTimer);
    this.#commits.flush();
    // Still locked elsewhere: those snapshots are given up; their steps never started, the stored ones resume.
    if (this.#commits.blocked) this.#commits.abandon(unavailable('stopped before the database was free'));
  }
}

/** The store cannot take the write now: the client should try again shortly. */
export function unavailable(message: string): ServiceError {
  return new ServiceError('unavailable', message, { retryable: true, retryAfterMs: 1000 });
}
