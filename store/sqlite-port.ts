// The SQLite implementation of the store port: the better-sqlite3 stores as they are (their SQL
// stays in store/lifecycles.ts, store/idempotency.ts, …), each call wrapped in a settled promise.
import { createAuditRetention } from './audit-retention.ts';
import { createMetricCounts } from './counts.ts';
import { probeWrite, type Db } from './db.ts';
import { createIdempotencyStore } from './idempotency.ts';
import { createLifecycleStore } from './lifecycles.ts';
import { createPoolUse } from './pool-use.ts';
import { asyncOf, type StorePort } from './port.ts';
import { createReconciliationStore } from './reconciliation.ts';
import { createRetentionStore } from './retention.ts';

/** The port over an open database; `close` is the caller's (compose.ts owns the file and its lock). */
export function sqliteStorePort(db: Db, close: () => void = () => undefined): StorePort {
  return {
    backend: 'sqlite',
    lifecycles: asyncOf(createLifecycleStore(db)),
    idempotency: asyncOf(createIdempotencyStore(db)),
    retention: asyncOf(createRetentionStore(db)),
    counts: asyncOf(createMetricCounts(db)),
    poolUse: asyncOf(createPoolUse(db)),
    reconciliation: asyncOf(createReconciliationStore(db)),
    auditRetention: asyncOf(createAuditRetention(db)),
    probe: async () => probeWrite(db),
    close: async () => close(),
  };
}
