// The store port that more than one backend implements: the SQLite store (embedded, one process)
// and the PostgreSQL store (several instances, issue 11). PostgreSQL's client is asynchronous, so
// the port is too; the SQLite implementation stays the synchronous better-sqlite3 code of
// store/lifecycles.ts and its siblings, wrapped (store/sqlite-port.ts): a settled promise around
// the same prepared statements, nothing else in the way.
import type { createAuditRetention } from './audit-retention.ts';
import type { MetricCounts } from './counts.ts';
import type { IdempotencyStore } from './idempotency.ts';
import type { LifecycleStore } from './lifecycles.ts';
import type { createPoolUse } from './pool-use.ts';
import type { ReconciliationStore } from './reconciliation.ts';
import type { RetentionStore } from './retention.ts';

/** The same methods, each returning a promise of what the synchronous one returns. */
export type Async<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/**
 * `transaction(fn)` is SQLite's alone: it runs a synchronous callback in one better-sqlite3
 * transaction (an allocation made at once writes the IPAM row and the lifecycle together), and
 * `writeBatch` writes inside it. A PostgreSQL transaction spans awaits, so the port leaves both out.
 */
export type LifecyclePort = Async<Omit<LifecycleStore, 'transaction' | 'writeBatch'>>;
export type IdempotencyPort = Async<IdempotencyStore>;
export type RetentionPort = Async<RetentionStore>;
/** The kept figures /metrics and the leak check read (migration 006 in both dialects). */
export type CountsPort = Async<MetricCounts>;
/** Which pools lifecycles and embedded IPAM blocks use: the draining pools at start-up, their users for the router. */
export type PoolUsePort = Async<ReturnType<typeof createPoolUse>>;
/** The last reconciliation run and its differences (SQLite migration 012, PostgreSQL 005). */
export type ReconciliationPort = Async<ReconciliationStore>;
/** Pruning the audit trail of revoked lifecycles past a cut, in batches (SQLite migration 010). */
export type AuditRetentionPort = Async<ReturnType<typeof createAuditRetention>>;

export type StoreBackend = 'sqlite' | 'postgresql';

/** One opened store, whichever backend: what a composition root wires into the runtime. */
export interface StorePort {
  backend: StoreBackend;
  lifecycles: LifecyclePort;
  idempotency: IdempotencyPort;
  retention: RetentionPort;
  counts: CountsPort;
  poolUse: PoolUsePort;
  reconciliation: ReconciliationPort;
  auditRetention: AuditRetentionPort;
  /**
   * The readiness probe's own write: resolves once the store took a write that changes nothing,
   * rejects when it takes none (a read-only file, a full disk, a lock; on PostgreSQL a read-only
   * server, such as a standby the service was failed over to).
   */
  probe(): Promise<void>;
  /** Ends the connections (PostgreSQL: drains the pool). */
  close(): Promise<void>;
}

/**
 * Wraps a synchronous implementation: each call runs at once, as before, and its result (or its
 * throw) comes back as a settled promise. Methods are bound once, here, not per call.
 */
export function asyncOf<T extends object>(sync: T): Async<T> {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(sync)) {
    if (typeof fn !== 'function') continue;
    const f = fn as (...args: unknown[]) => unknown;
    out[name] = (...args) => {
      try {
        return Promise.resolve(f(...args));
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }
  return out as Async<T>;
}
